"""Hostile input against the provisioned main lab's Debian 13 host: the fuzzer's mutated SMTP
(25, 587) and IMAP (143) sessions, bounded in cases and time. Afterwards no daemon crashed or
panicked, every service still answers, nothing a client did not complete was delivered, every
message it did complete was, and the daemons' memory stayed bounded (`mailstack fuzz`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.lab.conftest import MAIN_LAB, run_cli

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SERVICES = ("smtp", "submission", "imap")
CASES, SECONDS = 150, 25


@pytest.fixture(scope="module")
def fuzzed(converged: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.json"
    args = ["fuzz", "--lab", MAIN_LAB, "--host", "mx2", "--seed", "7", "--out", str(out)]
    for service in SERVICES:
        args += ["--service", service]
    args += ["--cases", str(CASES), "--seconds", str(SECONDS)]
    data: dict[str, Any] = run_cli(*args)  # exit 0: no finding
    return data


def test_the_host_survives_hostile_sessions_with_no_finding(fuzzed):
    assert fuzzed["ok"], fuzzed["findings"]
    assert fuzzed["findings"] == []
    assert set(fuzzed["runs"]) == set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_was_really_exercised_and_stayed_alive(fuzzed, service):
    run = fuzzed["runs"][service]
    assert run["cases_run"] >= 30, run["end_counts"]
    assert run["alive_checks"] >= 2
    assert run["alive_failures"] == 0
    # The grammar reached deep states: the server answered with more than one kind of reply.
    assert len(run["reply_codes"]) >= 3, run["reply_codes"]


def test_complete_transactions_were_delivered(fuzzed):
    # Some cases are whole, valid transactions: their messages must be in the mailbox (a loss
    # would be a finding), so the fuzzer reached DATA's end on both SMTP ports.
    assert fuzzed["runs"]["smtp"]["completed"] > 0
    assert fuzzed["runs"]["submission"]["completed"] > 0
    assert fuzzed["delivered_fuzz_messages"] >= (
        fuzzed["runs"]["smtp"]["completed"] + fuzzed["runs"]["submission"]["completed"]
    )
