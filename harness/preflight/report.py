"""A preflight report for people (a rich table) and for CI (JUnit XML: one test case per
finding; a failed blocker is a failure, a failed warning passes with its evidence as output,
a rule that could not be checked is skipped)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rich.markup import escape
from rich.table import Table

from harness.preflight.rules import Severity, Status
from harness.preflight.run import PreflightReport

__all__ = ["junit_xml", "table"]

_STYLE = {
    Status.PASS: "green",
    Status.NOT_APPLICABLE: "dim",
    Status.NOT_CHECKED: "yellow",
}


def table(report: PreflightReport) -> Table:
    out = Table(
        title=f"preflight {report.from_address} (sample: {report.sample}, receiver: "
        f"{report.receiver}, DNS {report.resolver})",
        title_justify="left",
    )
    for column in ("rule", "severity", "result", "evidence", "fix"):
        out.add_column(column, overflow="fold")
    for f in report.findings:
        style = _STYLE.get(f.status) or ("red" if f.blocks else "yellow")
        out.add_row(
            f.rule.id,
            f.rule.severity.value,
            f"[{style}]{f.status.value}[/]",
            escape(f.evidence),
            escape(f.rule.fix) if f.status is Status.FAIL else "",
        )
    return out


def junit_xml(report: PreflightReport) -> str:
    suite = ET.Element(
        "testsuite",
        name=f"mailstack preflight {report.from_address}",
        tests=str(len(report.findings)),
        failures=str(len(report.blockers)),
        skipped=str(sum(1 for f in report.findings if f.status is Status.NOT_CHECKED)),
        time=f"{report.seconds:.2f}",
    )
    for f in report.findings:
        case = ET.SubElement(
            suite, "testcase", classname=f"preflight.{f.rule.id.split('.')[0]}", name=f.rule.id
        )
        if f.blocks:
            failure = ET.SubElement(case, "failure", message=f.evidence, type="blocker")
            failure.text = f"{f.rule.title}\nfix: {f.rule.fix}\nsource: {f.rule.source}"
        elif f.status is Status.NOT_CHECKED:
            ET.SubElement(case, "skipped", message=f.evidence)
        elif f.status is Status.FAIL and f.rule.severity is Severity.WARNING:
            out = ET.SubElement(case, "system-out")
            out.text = f"warning: {f.evidence}\nfix: {f.rule.fix}\nsource: {f.rule.source}"
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
