"""The verify report as people and machines read it."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from harness.verify import runner
from harness.verify.runner import CheckResult, VerifyReport, print_report, write_json


def _report() -> VerifyReport:
    report = VerifyReport(inventory="inv.yml", seconds=1.5)
    report.results = [
        CheckResult("test_service_active_and_enabled[postfix]", "mx1", "passed", 0.1),
        CheckResult("test_port_listening[25]", "mx1", "failed", 0.2, "assert [1] == []"),
        CheckResult("test_no_open_relay_ipv6", "mx1", "skipped", 0.0, "no IPv6"),
    ]
    return report


def test_table_keeps_bracketed_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich would read "[postfix]" as markup and drop it: names must be escaped
    recorder = Console(record=True, width=200)
    monkeypatch.setattr(runner, "console", recorder)
    print_report(_report())
    text = recorder.export_text()
    assert "test_service_active_and_enabled[postfix]" in text
    assert "assert [1] == []" in text
    assert "1 passed, 1 failed, 1 skipped" in text


def test_json_summary_counts_and_fails(tmp_path: Path) -> None:
    report = _report()
    write_json(report, tmp_path / "out.json")
    data = report.to_json()
    assert (data["passed"], data["failed"], data["skipped"]) == (1, 1, 1)
    assert data["ok"] is False
    assert (tmp_path / "out.json").read_text().startswith("{")
