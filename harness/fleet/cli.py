"""``mailstack fleet run``: load through every MX of a fleet lab while it is updated host by
host or loses an MX; every accepted message accounted for. The run is imported in the
command."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from harness.errors import FleetError
from harness.fleet.run import SCENARIOS, FleetRun
from harness.options import json_option, lab_option, out_option, print_json
from harness.ui import console, err_console

__all__ = ["fleet"]

_DEFAULT = FleetRun(scenario="rolling")


@click.group()
def fleet() -> None:
    """Scenarios on a fleet lab (--topology harness/lab/fleet-topology.yml)."""


@fleet.command("run")
@lab_option()
@click.option(
    "--scenario",
    "scenarios",
    type=click.Choice(SCENARIOS),
    multiple=True,
    help="rolling: playbooks/rolling.yml under load; mx-down: one MX killed, then started "
    "again. Repeat for several (default: both).",
)
@click.option(
    "--rate", type=float, default=_DEFAULT.rate, show_default=True, help="Messages a second."
)
@click.option(
    "--seconds", type=float, default=_DEFAULT.seconds, show_default=True, help="Length of the load."
)
@click.option(
    "--fault-at",
    type=float,
    default=_DEFAULT.fault_at,
    show_default=True,
    help="Seconds into the load the event starts (the baseline is what came before).",
)
@click.option(
    "--down-for",
    type=float,
    default=_DEFAULT.down_for,
    show_default=True,
    help="mx-down: seconds the MX stays down.",
)
@click.option(
    "--sessions", type=int, default=_DEFAULT.sessions, show_default=True, help="Client sessions."
)
@click.option("--limit", default="", help="rolling: only these hosts (Ansible pattern).")
@click.option("--host", default="", help="mx-down: the MX to stop (default: the first).")
@out_option(
    "Result JSON; the HTML and Markdown reports go beside it.", Path("bench-results/fleet.json")
)
@json_option
def run_cmd(
    lab_name: str,
    scenarios: tuple[str, ...],
    rate: float,
    seconds: float,
    fault_at: float,
    down_for: float,
    sessions: int,
    limit: str,
    host: str,
    out: Path,
    as_json: bool,
) -> None:
    """Send to the domain through every MX at --rate for --seconds while each --scenario's
    event happens at --fault-at; report accepted/s before and during it (the dip), the
    recovery time, latency and where the mail went.

    Fails (exit 6) when an accepted message is not on the backend, one was never accepted or
    arrived twice, or the event failed (the rolling update stopped at a host).
    """
    from harness.bench.fingerprint import local_fingerprint  # noqa: PLC0415
    from harness.bench.show import rich_table  # noqa: PLC0415
    from harness.fleet.report import fleet_table, write_fleet_report  # noqa: PLC0415

    runs = [
        FleetRun(
            scenario=name,
            rate=rate,
            seconds=seconds,
            fault_at=fault_at,
            down_for=down_for,
            sessions=sessions,
            limit=limit,
            host=host,
        )
        for name in scenarios or SCENARIOS
    ]
    for r in runs:
        r.check()
    data: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": local_fingerprint(),
        "lab": lab_name,
        "results": [_run_with_progress(lab_name, r) for r in runs],
    }
    data["ok"] = all(r["ok"] for r in data["results"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    page = write_fleet_report(data, out)
    if as_json:
        print_json(data)
    else:
        console.print(rich_table(fleet_table(data["results"])))
    err_console.print(f"result: {out}; report: {page}")
    if not data["ok"]:
        broken = [r["scenario"] for r in data["results"] if not r["ok"]]
        raise FleetError(
            f"the fleet did not hold in: {', '.join(broken)}",
            hint=f"missing tokens and the event's output are in {out}",
        )


def _run_with_progress(lab_name: str, run: FleetRun) -> dict[str, Any]:
    """One scenario under the bench's progress bar; its steps as lines above it."""
    from harness.bench.scenario import send_progress  # noqa: PLC0415 -- the bench's own bar
    from harness.chaos.sender import attempt_counter  # noqa: PLC0415
    from harness.fleet.run import run_fleet  # noqa: PLC0415

    total = max(1, round(run.rate * run.seconds))
    with send_progress(f"{run.scenario} at {run.rate:g} msg/s", total) as update:
        return run_fleet(
            lab_name,
            run,
            on_phase=lambda text: err_console.print(f"{run.scenario}: {text}"),
            on_attempt=attempt_counter(update),
        )
