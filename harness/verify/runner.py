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
from harness.verify.tlsaudit import AuditedPort, audit_table, audit_targets, ports_to_audit

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
    #: the TLS audit's ports (None: not asked for)
    tls_audit: list[AuditedPort] | None = None

    @property
    def audit_failed(self) -> list[AuditedPort]:
        return [a for a in self.tls_audit or [] if not a.ok]

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        passed = self.exit_code == 0 and self.count("failed") == 0 and bool(self.results)
        return passed and not self.audit_failed

    def to_json(self) -> dict[str, Any]:
        return {
            "inventory": self.inventory,
            "seconds": round(self.seconds, 2),
            "passed": self.count("passed"),
            "failed": self.count("failed"),
            "skipped": self.count("skipped"),
            "ok": self.ok,
            "results": [asdict(r) for r in self.results],
            **(
                {"tls_audit": [a.to_json() for a in self.tls_audit]}
                if self.tls_audit is not None
                else {}
            ),
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
    tls_audit: bool = False,
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
    with _progress("verify") as progress:
        plugins = [_Collector(report, progress), ResolvedTargets(targets)]
        report.exit_code = int(pytest.main(args, plugins=plugins))
    if tls_audit:
        report.tls_audit = _audit(targets)
    report.seconds = time.monotonic() - started
    return report


def _progress(label: str) -> Progress:
    """A bar of checks done (the current one named), on stderr, gone when done."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


def _audit(targets: list[Target]) -> list[AuditedPort]:
    with _progress("TLS audit (testssl.sh)") as progress:
        task = progress.add_task("", total=len(ports_to_audit(targets)))

        def done(audited: AuditedPort) -> None:
            progress.update(task, advance=1, description=f"{audited.host} {audited.service}")

        return audit_targets(targets, on_done=done)


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
    if report.tls_audit is not None:
        console.print(audit_table(report.tls_audit))


def write_json(report: VerifyReport, path: Path) -> None:
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
