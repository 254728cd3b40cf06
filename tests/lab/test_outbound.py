"""Outbound delivery to a provider-like receiver: the bulk delivery profile converges on
Debian 12 and 13 (idempotent, `postfix check` clean), and a campaign of a few hundred messages
sent through the stack to a throttling receiver is delivered in full, every message accounted
for by its token."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker import DockerClient

from harness.config import Paths
from harness.lab.require import require_lab
from harness.provision import PlaybookResult
from harness.receiver.catalogue import shipped_profile
from tests.lab.conftest import BIN, MAIN_LAB, RECEIVER, role_settings

#: The bulk profile as an admin would set it for a receiver that takes 3 connections per IP,
#: with retries soon enough for a test (the shipped defaults are Postfix's 300 s).
BULK = {
    "postfix_bulk_enabled": True,
    "postfix_bulk_senders": ["bounces@example.test"],
    "postfix_bulk_destination_concurrency_limit": 3,
    "postfix_bulk_queue_run_delay": "5s",
    "postfix_bulk_minimal_backoff_time": "5s",
    "postfix_bulk_maximal_backoff_time": "10s",
}
MESSAGES = 100


@pytest.fixture(scope="module")
def bulk_profile(
    converged: PlaybookResult,
    main_lab: dict[str, Any],
    lab_paths: Paths,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PlaybookResult]:
    """The bulk profile on every mail host for this module; the inventory's settings after."""
    inventory = str(main_lab["state"]["inventory"])
    folder = tmp_path_factory.mktemp("bulk")
    with role_settings(lab_paths, inventory, "postfix", BULK, folder) as applied:
        yield applied.first
        second = applied.again()
        assert second.success, second.output[-3000:]
        assert second.changed == 0, second.changed_tasks


def test_bulk_profile_applies_on_debian_12_and_13_and_postfix_check_is_clean(
    bulk_profile: PlaybookResult, engine: DockerClient
) -> None:
    assert bulk_profile.success, bulk_profile.output[-3000:]
    state = require_lab(MAIN_LAB, or_inventory=False)
    for host in (h for h in state.hosts if "mail" in h.groups):
        container = engine.containers.get(host.container)
        check = container.exec_run(["postfix", "check"])
        assert check.exit_code == 0, (host.name, check.output)
        master = container.exec_run(["postconf", "-M", "bulk/unix"]).output.decode()
        assert "syslog_name=postfix/bulk" in master, host.name
        rate = container.exec_run(["postconf", "-h", "bulk_destination_concurrency_limit"])
        assert rate.output.decode().strip() == str(
            BULK["postfix_bulk_destination_concurrency_limit"]
        )


def test_a_campaign_to_a_throttling_receiver_is_delivered_in_full(
    bulk_profile: PlaybookResult, main_lab: dict[str, Any], tmp_path: Path
) -> None:
    state = require_lab(MAIN_LAB, or_inventory=False)
    receiver = state.host(RECEIVER)
    assert receiver is not None
    domain = receiver.mx_for[0]
    # The receiver throttles harder than the stack sends: deferrals are certain.
    profile = shipped_profile(receiver.receiver).as_dict()
    profile["connections"] = {**profile["connections"], "max_per_ip": 3, "max_messages": 40}
    # A burst of a quarter of the campaign: each retry round gets a quarter through (measured:
    # with a burst of 10 and retries up to 30 s apart the run took 100 to 165 s).
    profile["rate"] = {**profile["rate"], "per_second": 10, "burst": 25}
    profile["slow"] = {"probability": 0.0, "delay_seconds": 0}
    (tmp_path / "profile.yml").write_text(yaml.safe_dump(profile))
    rows = ["email,name", *(f"reader{i}@{domain},R{i}" for i in range(MESSAGES))]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "body.j2").write_text("Dear {{ name }},\n\nUnsubscribe: https://x.test/u\n")
    out = tmp_path / "outbound.json"
    done = subprocess.run(
        [
            *(str(BIN / "mailstack"), "bench", "campaign", "--lab", MAIN_LAB, "--outbound"),
            *("--recipients", str(tmp_path / "r.csv"), "--subject", "News {{ name }}"),
            *("--body", str(tmp_path / "body.j2"), "--shape", "100", "-c", "4"),
            *("--receiver-profile", f"{RECEIVER}={tmp_path / 'profile.yml'}"),
            *("--drain-timeout", "300", "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["outcomes"]["accepted"] == MESSAGES
    totals = data["outbound"]["totals"]
    row = data["outbound"]["destinations"][domain]
    assert (row["accepted"], row["delivered"]) == (MESSAGES, MESSAGES)
    assert (totals["missing"], totals["bounced"], totals["queued"]) == (0, 0, 0)
    assert totals["duplicates"] == 0
    assert sum(row["deferred_receivers"].values()) > 0  # it did throttle
    assert data["outbound"]["drained_s"] is not None
    assert out.with_suffix(".outbound.png").is_file()
