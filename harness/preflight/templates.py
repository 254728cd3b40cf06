"""The campaign's templates against its recipients: every variable a template names is a
column of the CSV (or ``token``), and every row renders."""

from __future__ import annotations

from jinja2 import TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from harness.bench.campaign import Campaign
from harness.errors import BenchError
from harness.preflight.rules import Finding, finding

__all__ = ["check_templates", "render_sample"]

_SHOWN_ROWS = 5


def _unknown(campaign: Campaign) -> dict[str, list[str]]:
    """Template -> the variables it names that no row provides."""
    env = SandboxedEnvironment()
    columns = {"token"} | {k for row in campaign.rows for k, _v in row}
    templates = {
        "subject": campaign.subject,
        "body": campaign.body,
        "unsubscribe_url": campaign.unsubscribe_url,
        "unsubscribe_mailto": campaign.unsubscribe_mailto,
    }
    unknown: dict[str, list[str]] = {}
    for name, source in templates.items():
        try:
            names = meta.find_undeclared_variables(env.parse(source))
        except TemplateError as exc:
            unknown[name] = [f"(does not parse: {exc})"]
            continue
        missing = sorted(names - columns)
        if missing:
            unknown[name] = missing
    return unknown


def check_templates(campaign: Campaign) -> Finding:
    """Unknown variables first (named with the template that uses them), then a render of
    every row (a filter can still fail on a row's value)."""
    unknown = _unknown(campaign)
    if unknown:
        shown = "; ".join(f"{t}: {', '.join(v)}" for t, v in unknown.items())
        return finding("template.variables", False, f"not a recipient column: {shown}")
    failed = []
    for index in range(len(campaign)):
        try:
            campaign.render(index, "preflight", 0.0)
        except BenchError as exc:
            failed.append(exc.message)
            if len(failed) >= _SHOWN_ROWS:
                break
    if failed:
        return finding("template.variables", False, "; ".join(failed))
    return finding(
        "template.variables",
        True,
        f"{len(campaign)} rows render; columns: " + ", ".join(k for k, _v in campaign.rows[0]),
    )


def render_sample(campaign: Campaign) -> bytes:
    """The first recipient's message as it would be submitted (no SMTP dot-stuffing or end
    marker), or BenchError when it does not render."""
    raw = campaign.render(0, "preflight-sample", 0.0)
    raw = raw.removesuffix(b".\r\n")
    return raw.replace(b"\r\n..", b"\r\n.")
