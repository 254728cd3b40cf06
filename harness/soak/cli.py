"""``mailstack soak``: a long steady load at a share of the measured peak, reported per window.
The load, the lab and the report are imported inside the command."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from harness.errors import SoakError
from harness.options import json_option, lab_option, out_option, print_json
from harness.soak.plan import SOAK_SERVICES, SoakPlan
from harness.ui import console, err_console

if TYPE_CHECKING:
    from harness.soak.peak import Peak
    from harness.soak.target import SoakTarget

__all__ = ["soak_cmd"]

_DEFAULT = SoakPlan()
_F = TypeVar("_F", bound=Callable[..., Any])


def _plan_option(
    flag: str, field: str, text: str, kind: type | click.ParamType[Any] = float
) -> Callable[[_F], _F]:
    """An option whose default is the plan's (one source for both)."""
    return click.option(
        flag, field, type=kind, default=getattr(_DEFAULT, field), show_default=True, help=text
    )


@click.command("soak")
@lab_option()
@click.option("--host", "host", default=None, help="Mail host under load (default: the first).")
@_plan_option(
    "--service",
    "service",
    "submission: 587 with STARTTLS and AUTH, as the host's users; smtp: 25, as another "
    "domain's server.",
    click.Choice(SOAK_SERVICES),
)
@_plan_option("--minutes", "minutes", "Length of the load, in minutes.")
@_plan_option("--window", "window", "Seconds per report window (at most the run's length).")
@_plan_option("--fraction", "fraction", "Share of the measured peak to send at, in (0, 1].")
@click.option(
    "--rate",
    type=float,
    default=None,
    help="Messages a second to send at; skips measuring the peak (and --fraction).",
)
@_plan_option("--sessions", "sessions", "Client connections, for the peak and the load.", int)
@_plan_option("--peak-seconds", "peak_seconds", "Length of the burst that measures the peak.")
@_plan_option(
    "--sample-every",
    "sample_every",
    "Seconds between samples of the daemons' memory (the queue: every second).",
)
@_plan_option(
    "--rss-limit",
    "rss_limit_mib",
    "MiB a daemon's largest process may grow from the first window to the last.",
)
@_plan_option(
    "--empty-every",
    "empty_every",
    "Seconds between reading and emptying the recipients' mailboxes, as their users would "
    "(0: never; they grow all run, and each delivery costs more).",
)
@out_option(
    "Result JSON; the HTML and Markdown reports go beside it.", Path("bench-results/soak.json")
)
@json_option
def soak_cmd(
    lab_name: str,
    host: str | None,
    service: str,
    minutes: float,
    window: float,
    fraction: float,
    rate: float | None,
    sessions: int,
    peak_seconds: float,
    sample_every: float,
    rss_limit_mib: float,
    empty_every: float,
    out: Path,
    as_json: bool,
) -> None:
    """Send at a share of the measured peak for --minutes and report each --window: messages
    accepted, latency and time to mailbox (p50, p99), failures and retries, the deepest queue
    and the daemons' memory.

    Fails (exit 6) when an accepted message is missing, a message was never accepted, the
    stack fell behind the rate, the queue did not drain, or a daemon's memory grew past
    --rss-limit. Writes the JSON to
    --out, and an HTML and a Markdown report beside it.
    """
    from harness.bench.fingerprint import local_fingerprint  # noqa: PLC0415
    from harness.bench.show import rich_table  # noqa: PLC0415
    from harness.soak.peak import measure_peak  # noqa: PLC0415
    from harness.soak.report import verdict_table, windows_table, write_soak_report  # noqa: PLC0415
    from harness.soak.target import SoakTarget  # noqa: PLC0415

    plan = SoakPlan(
        minutes=minutes,
        window=window,
        fraction=fraction,
        rate=rate,
        service=service,
        sessions=sessions,
        peak_seconds=peak_seconds,
        sample_every=sample_every,
        rss_limit_mib=rss_limit_mib,
        empty_every=empty_every,
    )
    plan.check()
    target = SoakTarget.of(lab_name, host, service)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    peak = None
    if rate is None:
        peak = measure_peak(target, peak_seconds, sessions)
        rate = fraction * peak.rate
        err_console.print(
            f"peak: {peak.accept_rate:.1f} msg/s accepted, {peak.rate:.1f} msg/s accepted and "
            f"delivered; the soak sends {rate:.1f} msg/s"
        )
    data = {
        "started": started,
        "machine": local_fingerprint(),
        **_run_with_progress(target, plan, rate, peak),
    }
    page = write_soak_report(data, out)
    if as_json:
        print_json(data)
    else:
        console.print(rich_table(windows_table(data)))
        console.print(rich_table(verdict_table(data)))
    err_console.print(f"result: {out}; report: {page}")
    if not data["ok"]:
        raise SoakError(
            f"the soak did not hold: {'; '.join(data['failed'])}",
            hint=f"missing tokens and what was still queued are in {out}",
        )


def _run_with_progress(
    target: SoakTarget, plan: SoakPlan, rate: float, peak: Peak | None
) -> dict[str, Any]:
    """The run under the bench's progress bar (attempts, 250s, failures, the mean rate); its
    later steps as lines above it."""
    from harness.bench.scenario import send_progress  # noqa: PLC0415 -- the bench's own bar
    from harness.chaos.sender import attempt_counter  # noqa: PLC0415
    from harness.soak.run import run_soak  # noqa: PLC0415

    total = target.send_plan(rate, plan.seconds, plan.sessions).messages
    with send_progress(f"soak at {rate:.1f} msg/s", total) as update:
        return run_soak(
            target,
            plan,
            rate,
            peak,
            on_attempt=attempt_counter(update),
            on_phase=lambda text: err_console.print(f"soak: {text}"),
        )
