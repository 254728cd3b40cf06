"""The soak, short, on the provisioned main lab: 45 s of steady load on 587 in windows of
15 s at a fixed rate (measuring the peak would double the time), with the host's queue and
its daemons' memory sampled meanwhile. Every message that got a 250 must reach the mailbox.
The recipients' mailboxes are read and emptied every 30 s meanwhile, every copy remembered.
`make soak` runs the same for thirty minutes at 70 % of the measured peak."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab.conftest import MAIN_LAB, run_cli

pytestmark = [pytest.mark.lab, pytest.mark.slow]

RATE, MINUTES, WINDOW = 15.0, 0.75, 15.0


@pytest.fixture(scope="module")
def soak_run(converged: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("soak") / "soak.json"
    args = ["soak", "--lab", MAIN_LAB, "--host", "mx1", "--rate", str(RATE)]
    args += ["--minutes", str(MINUTES), "--window", str(WINDOW), "--sample-every", "2"]
    data: dict[str, Any] = run_cli(*args, "--out", str(out))  # exit 0: the soak held
    assert out.with_suffix(".html").stat().st_size > 10_000
    return data


def test_every_accepted_message_is_in_the_mailbox(soak_run):
    messages = round(RATE * MINUTES * 60)
    assert soak_run["ok"], soak_run["failed"]
    assert soak_run["clients"]["accepted"] == messages
    assert soak_run["server"]["missing"] == 0, soak_run["server"]["missing_tokens"]
    assert soak_run["server"]["delivered"] == messages
    assert soak_run["server"]["drained"]


def test_each_window_reports_its_latency_and_time_to_mailbox(soak_run):
    windows = soak_run["windows"]
    assert [w["start_s"] for w in windows] == [0, 15, 30]
    # The last window runs on while the last messages get their 250 (within the allowance).
    assert 45 <= windows[-1]["end_s"] <= 45 + soak_run["clients"]["late_allowed_s"]
    for w in windows:
        assert w["accepted"] > 0, w
        assert w["latency_ms"]["p99"] >= w["latency_ms"]["p50"] > 0, w
        assert w["ttm_ms"]["p99"] >= w["ttm_ms"]["p50"] >= 0, w


def test_daemon_memory_and_queue_depth_are_sampled_through_the_run(soak_run):
    for w in soak_run["windows"]:
        assert w["rss_mib"]["postfix"] > 0, w
        assert w["rss_mib"]["dovecot"] > 0, w
        assert w["queue_max"] is not None, w
    # Every 2 s over 45 s, and the queue every second: several samples a window.
    assert len(soak_run["rss"]["mib"]) >= 15
    assert len(soak_run["queue"]) >= 30
    assert set(soak_run["rss"]["growth_mib"]) >= {"postfix", "dovecot"}
