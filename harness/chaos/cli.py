"""``mailstack chaos list`` and ``mailstack chaos run``: faults under load in a lab, every
message accounted for. The load, the faults and the report are imported inside ``run``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from harness.chaos.scenarios import SCENARIOS, Scenario, pick_scenarios
from harness.errors import ChaosError
from harness.options import json_option, lab_option, out_option, print_json
from harness.ui import console, err_console

if TYPE_CHECKING:
    from harness.chaos.run import ChaosLab, Load

__all__ = ["chaos"]


@click.group()
def chaos() -> None:
    """Faults under load: nothing a 250 was given for may be lost."""


@chaos.command("list")
def list_cmd() -> None:
    """The scenarios, their fault and where the load goes."""
    table = Table(title="Chaos scenarios")
    for header in ("scenario", "fault", "load"):
        table.add_column(header)
    for s in SCENARIOS.values():
        where = f"{s.service}, to the peer" if s.to_peer else f"{s.service}, to the host"
        table.add_row(s.name, s.about, where + (", DKIM checked" if s.signed else ""))
    console.print(table)


@chaos.command("run")
@lab_option()
@click.option("--host", "host", default=None, help="Mail host under load (default: the first).")
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    help="Scenario name (repeatable; 'all' or none: every one). See `mailstack chaos list`.",
)
@click.option("--rate", type=float, default=20.0, show_default=True, help="Messages a second.")
@click.option(
    "--seconds", type=float, default=40.0, show_default=True, help="Load length per scenario."
)
@click.option(
    "--fault-at", type=float, default=10.0, show_default=True, help="Seconds into the load."
)
@click.option(
    "--fault-for",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds until the fault is ended (a kill ends itself).",
)
@click.option("--sessions", type=int, default=4, show_default=True, help="Client connections.")
@click.option(
    "--give-up-after",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds a client keeps retrying one message before it gives up (the run fails).",
)
@out_option(
    "Result JSON; the HTML and Markdown reports go beside it.",
    Path("bench-results/chaos.json"),
)
@json_option
def run_cmd(
    lab_name: str,
    host: str | None,
    scenarios: tuple[str, ...],
    rate: float,
    seconds: float,
    fault_at: float,
    fault_for: float,
    sessions: int,
    give_up_after: float,
    out: Path,
    as_json: bool,
) -> None:
    """Run each scenario in turn: load, fault, heal, then account for every token.

    Fails (exit 6) when any scenario lost a message, delivered one unsigned, or did not
    recover. Writes the JSON to --out, and an HTML and a Markdown report beside it.
    """
    from harness.bench.fingerprint import local_fingerprint  # noqa: PLC0415
    from harness.bench.show import rich_table  # noqa: PLC0415
    from harness.chaos.report import chaos_table, write_chaos_report  # noqa: PLC0415
    from harness.chaos.run import ChaosLab, Load  # noqa: PLC0415

    load = Load(rate, seconds, fault_at, fault_for, sessions, give_up_after)
    load.check()
    picked = pick_scenarios(scenarios)
    lab = ChaosLab.of(lab_name)
    target = lab.host(host)
    data: dict[str, Any] = {
        "kind": "chaos",
        "lab": lab_name,
        "host": target.name,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": local_fingerprint(),
        "load": {
            "rate": rate,
            "seconds": seconds,
            "fault_at": fault_at,
            "fault_for": fault_for,
            "sessions": sessions,
            "give_up_after": give_up_after,
        },
        "results": [],
    }
    for scenario in picked:
        data["results"].append(_run_one(lab, scenario, load, target.name))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    page = write_chaos_report(data, out.parent, out.stem)
    if as_json:
        print_json(data)
    else:
        console.print(rich_table(chaos_table(data["results"])))
    err_console.print(f"result: {out}; report: {page}")
    failed = [r["scenario"] for r in data["results"] if not r["ok"]]
    if failed:
        raise ChaosError(
            f"{len(failed)} scenario(s) did not hold: {', '.join(failed)}",
            hint=f"missing and unsigned tokens are listed in {out}",
        )


def _run_one(lab: ChaosLab, scenario: Scenario, load: Load, host: str) -> dict[str, Any]:
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from harness.chaos.run import run_scenario  # noqa: PLC0415

    total = max(1, round(load.rate * load.seconds))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[phase]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(scenario.name, total=total, phase="load")

        def attempt(outcome: str) -> None:
            if outcome == "accepted":
                bar.advance(task)

        result = run_scenario(
            lab,
            scenario,
            load,
            host_name=host,
            on_attempt=attempt,
            on_phase=lambda text: bar.update(task, phase=text),
        )
    verdict = "[green]held[/]" if result["ok"] else "[red]failed[/]"
    server = result["server"]
    err_console.print(
        f"{scenario.name}: {verdict} — {result['clients']['accepted']} accepted, "
        f"{server['delivered']} delivered, {server['duplicates']} duplicate(s), "
        f"{server['missing']} missing"
    )
    return result
