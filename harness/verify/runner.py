"""Runs the shipped suite with pytest and turns its results into a table, JSON and JUnit XML."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.ui import console, err_console, step
from harness.verify.targets import Target, load_targets

__all__ = ["CheckResult", "VerifyReport", "run_verify"]


@dataclass
class CheckResult:
    check: str
    host: str
    outcome: str
    seconds: float
    message: str = ""


@dataclass
class VerifyReport:
    inventory: str
    seconds: float = 0.0
    results: list[CheckResult] = field(default_factory=list)
    exit_code: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.count("failed") == 0 and bool(self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "inventory": self.inventory,
            "seconds": round(self.seconds, 2),
            "passed": self.count("passed"),
            "failed": self.count("failed"),
            "skipped": self.count("skipped"),
            "ok": self.ok,
            "results": [asdict(r) for r in self.results],
        }


def _check_and_host(item: pytest.Item) -> tuple[str, str]:
    """A check's name without the host parameter, and the host: ('test_x[smtp]', 'mx1')."""
    callspec = getattr(item, "callspec", None)
    name = getattr(item, "originalname", item.name)
    if callspec is None:
        return name, ""
    target = callspec.params.get("target")
    host = str(getattr(target, "name", ""))
    if "peer" in callspec.params:  # a check between two hosts: name the other one
        peer = callspec.params["peer"]
        return f"{name}[->{getattr(peer, 'name', 'none')}]", host
    rest = [part for part in str(callspec.id).split("-") if part != host] if host else []
    return (f"{name}[{'-'.join(rest)}]" if rest else name), host


class ResolvedTargets:
    """Hands the targets the runner already read to the suite (see suite/conftest.py)."""

    def __init__(self, targets: list[Target]) -> None:
        self.mailstack_targets = targets


class _Collector:
    """A pytest plugin that records each check and drives a progress bar."""

    def __init__(self, report: VerifyReport, progress: Progress) -> None:
        self.report = report
        self.progress = progress
        self.task = progress.add_task("verify", total=None)
        self.names: dict[str, tuple[str, str]] = {}

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.names = {item.nodeid: _check_and_host(item) for item in session.items}
        self.progress.update(self.task, total=len(session.items))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            check, host = self.names.get(report.nodeid, (report.nodeid, ""))
            message = ""
            if report.outcome == "failed":
                message = str(report.longrepr.reprcrash.message)  # type: ignore[union-attr]
            elif report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                message = str(report.longrepr[2])
            self.report.results.append(
                CheckResult(check, host, report.outcome, round(report.duration, 3), message)
            )
            self.progress.update(self.task, advance=1, description=check[:40])


def run_verify(
    inventory: str,
    *,
    limit: str | None = None,
    junit_xml: Path | None = None,
    select: str | None = None,
) -> VerifyReport:
    suite = resources.files("harness.verify") / "suite"
    suite_dir = Path(str(suite))
    args = [
        str(suite_dir),
        "-c",
        str(suite_dir / "pytest.ini"),
        "--rootdir",
        str(suite_dir),
        "--inventory",
        inventory,
        "-p",
        "no:terminal",
    ]
    if limit:
        args += ["--limit", limit]
    if junit_xml:
        args += ["--junitxml", str(junit_xml)]
    if select:
        args += ["-k", select]
    report = VerifyReport(inventory=inventory)
    started = time.monotonic()
    # Read the hosts before pytest starts: a bad inventory is then one InventoryError line, not
    # a pytest internal error, and the suite gets the targets without reading them again.
    with step(f"read the mail hosts of {inventory}") as s:
        targets = load_targets(inventory, limit=limit)
        s.note = ", ".join(t.name for t in targets)
    with Progress(
        TextColumn("verify"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        plugins = [_Collector(report, progress), ResolvedTargets(targets)]
        report.exit_code = int(pytest.main(args, plugins=plugins))
    report.seconds = time.monotonic() - started
    return report


def print_report(report: VerifyReport) -> None:
    table = Table(title=f"mailstack verify — {report.inventory}")
    for column in ("check", "host", "result", "s", "detail"):
        table.add_column(column, overflow="fold")
    style = {"passed": "green", "failed": "red", "skipped": "yellow"}
    for r in sorted(report.results, key=lambda r: (r.host, r.check)):
        table.add_row(
            escape(r.check),
            escape(r.host),
            f"[{style.get(r.outcome, '')}]{r.outcome}[/]",
            f"{r.seconds:.2f}",
            escape(r.message[:120]),
        )
    console.print(table)
    console.print(
        f"{report.count('passed')} passed, {report.count('failed')} failed, "
        f"{report.count('skipped')} skipped in {report.seconds:.1f} s"
    )


def write_json(report: VerifyReport, path: Path) -> None:
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
