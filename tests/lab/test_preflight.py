"""`mailstack preflight` on the converged lab: the provisioned stack passes every bulk-sender
rule, with the sample really sent through mx1 to mx2 and its results read back; with DNS
broken the ways admins break it (no DMARC, a DKIM key pasted unsplit, no PTR), a domain
without a DKIM key, and a sample without List-Unsubscribe-Post, each blocker is named."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from docker import DockerClient

from harness.cli import cli
from harness.config import Paths
from harness.errors import MailstackError
from harness.lab.require import require_lab
from harness.lab.zones import lab_zones, next_serial, publish_lab_zones, serve_zones
from harness.preflight.rules import RULES
from harness.provision import PlaybookResult
from harness.verify.targets import load_targets
from tests.lab.conftest import MAIN_LAB
from tests.unit.test_preflight_domain import break_zones


def _preflight(*args: str) -> tuple[int, dict[str, Any]]:
    """Exit code and JSON of the command; a blocker ends it with MailstackError (exit 1)."""
    result = CliRunner().invoke(cli, ["preflight", "--lab", MAIN_LAB, *args, "--json"])
    if result.exception is not None and not isinstance(result.exception, MailstackError):
        raise result.exception
    return result.exit_code, json.loads(result.stdout)


def _sender(main_lab: dict[str, Any]) -> str:
    """A From address at the first host's first domain, read from the inventory."""
    mx1 = load_targets(str(main_lab["state"]["inventory"]))[0]
    return f"news@{mx1.domains[0]}"


def _status(data: dict[str, Any]) -> dict[str, str]:
    return {f["rule"]: f["status"] for f in data["findings"]}


def test_preflight_passes_on_the_provisioned_lab(
    converged: PlaybookResult, main_lab: dict[str, Any], tmp_path: Path
) -> None:
    junit = tmp_path / "preflight.xml"
    code, data = _preflight("--from", _sender(main_lab), "--junit", str(junit))
    assert code == 0, [f for f in data["findings"] if f["status"] != "pass"]
    assert data["blockers"] == 0
    status = _status(data)
    assert set(status) == set(RULES) - {"template.variables"}  # no campaign given
    assert set(status.values()) == {"pass"}, status
    assert data["receiver"]  # the sample really went to a peer's mailbox
    suite = ET.parse(junit).getroot()  # noqa: S314 -- the file this test had written
    assert suite.get("failures") == "0"
    assert int(suite.get("tests") or 0) == len(status)


@pytest.fixture
def broken_dns(
    converged: PlaybookResult, main_lab: dict[str, Any], engine: DockerClient, lab_paths: Paths
) -> Iterator[None]:
    """The lab DNS serving the broken zones for the test; the inventory's zones after it."""
    state = require_lab(MAIN_LAB, or_inventory=False)
    mx1 = load_targets(str(state.inventory))[0]
    serial = next_serial(state)
    edit = break_zones(mx1.domains[0], mx1.lab_ip)
    zones = [(origin, edit(origin, text)) for origin, text in lab_zones(state, serial)]
    try:
        serve_zones(engine, state, zones, serial, lab_paths.lab_group_vars)
        yield
    finally:
        publish_lab_zones(MAIN_LAB)


def test_preflight_names_each_blocker_of_a_broken_setup(
    broken_dns: None, main_lab: dict[str, Any], tmp_path: Path
) -> None:
    sender = _sender(main_lab)
    domain = sender.rsplit("@", 1)[1]
    sample = tmp_path / "no-one-click.eml"
    sample.write_bytes(
        f"From: <{sender}>\r\nTo: <reader@{domain}>\r\nSubject: News\r\n"
        "Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <sample-1@{domain}>\r\n"
        f"List-Unsubscribe: <https://{domain}/u/1>\r\n\r\n"
        f"Hello.\r\nUnsubscribe: https://{domain}/u/1\r\n".encode()
    )
    code, data = _preflight("--from", sender, "--sample", str(sample))
    assert code == 1
    blockers = {f["rule"]: f for f in data["findings"] if f["status"] == "fail"}
    for rule in ("dmarc.record", "dkim.key", "dns.txt-strings", "rdns.fcrdns"):
        assert rule in blockers, (rule, _status(data))
        assert blockers[rule]["fix"]
        assert blockers[rule]["source"].startswith("https://")
    assert "unsubscribe.one-click" in blockers
    assert "cut at 255" in blockers["dns.txt-strings"]["evidence"]
    assert "no PTR" in blockers["rdns.fcrdns"]["evidence"]
    # What did not break still passes: SPF is served as the inventory makes it.
    assert _status(data)["spf.record"] == "pass"


def test_preflight_names_a_domain_without_a_dkim_key(
    converged: PlaybookResult, main_lab: dict[str, Any]
) -> None:
    """A hosted domain the inventory gives no DKIM key: blocked by the key check, and the
    sample that went through the stack arrives unsigned."""
    targets = load_targets(str(main_lab["state"]["inventory"]))
    unsigned = next(
        d for t in targets for d in t.domains if not t.dkim_active.get(d)
    )  # catchall.example.test in the shipped lab inventory
    code, data = _preflight("--from", f"news@{unsigned}")
    assert code == 1
    status = _status(data)
    assert status["dkim.key"] == "fail"
    assert status["dkim.pass"] == "fail"
    assert status["unsubscribe.signed"] == "fail"
