"""``mailstack fuzz``: hostile SMTP and IMAP input against a lab host, then the host's health.
The fuzzer and the host checks are imported inside the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from harness.errors import FuzzError
from harness.options import json_option, lab_option, out_option, print_json
from harness.ui import console, err_console

__all__ = ["fuzz_cmd"]

_SERVICES = ("smtp", "submission", "submissions", "imap", "imaps")


@click.command("fuzz")
@lab_option()
@click.option("--host", "host", default=None, help="Mail host to fuzz (default: the first).")
@click.option(
    "--service",
    "services",
    multiple=True,
    type=click.Choice(_SERVICES),
    help="Service to fuzz (repeatable; default: smtp, submission and imap).",
)
@click.option(
    "--cases", type=int, default=300, show_default=True, help="Cases per service at most."
)
@click.option(
    "--seconds", type=float, default=60.0, show_default=True, help="Time per service at most."
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the case plans.")
@out_option("Result JSON.", Path("bench-results/fuzz.json"))
@json_option
def fuzz_cmd(
    lab_name: str,
    host: str | None,
    services: tuple[str, ...],
    cases: int,
    seconds: float,
    seed: int,
    out: Path,
    as_json: bool,
) -> None:
    """Fuzz a lab host's SMTP and IMAP services with mutated, hostile input.

    Then: no daemon crashed or panicked (its journal), every service still answers, no message
    a client did not complete reached a mailbox, and the daemons' memory stayed bounded. Exits
    6 with the findings when any of these fails.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn  # noqa: PLC0415

    from harness.fuzz.lab import LabFuzz  # noqa: PLC0415
    from harness.lab.require import require_lab  # noqa: PLC0415
    from harness.verify.targets import load_targets  # noqa: PLC0415

    if cases < 1 or seconds <= 0:
        raise FuzzError(f"--cases {cases} / --seconds {seconds}: both must be above 0")
    state = require_lab(lab_name, or_inventory=False)
    targets = {t.name: t for t in load_targets(str(state.inventory))}
    name = host or next(iter(targets), "")
    if name not in targets:
        raise FuzzError(
            f"--host {name}: not a mail host of lab {lab_name!r}",
            hint=f"one of: {', '.join(targets)}",
        )
    lab_host = state.host(name)
    assert lab_host is not None  # noqa: S101 -- load_targets lists the lab's own hosts
    picked = services or ("smtp", "submission", "imap")
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        console=err_console, transient=True,
    ) as bar:  # fmt: skip
        tasks = {s: bar.add_task(f"fuzz {s}", total=cases) for s in picked}

        def tick(service: str, done: int, total: int) -> None:
            bar.update(tasks[service], completed=done, total=total)

        data = LabFuzz(targets[name], lab_host.container).run(
            picked, cases=cases, seconds=seconds, seed=seed, progress=tick
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    if as_json:
        print_json(data)
    else:
        console.print(_table(data))
    err_console.print(f"result: {out}")
    if not data["ok"]:
        first = data["findings"][0]
        raise FuzzError(
            f"{len(data['findings'])} finding(s) on {name}, first: {first['kind']}: "
            f"{first['detail'][:200]}",
            hint=f"all in {out}",
        )


def _table(data: dict[str, Any]) -> Table:
    table = Table(title=f"Fuzz of {data['host']} (seed {data['seed']})")
    for header in ("service", "cases", "seconds", "sent", "completed", "alive checks", "ends"):
        table.add_column(header, justify="left" if header in ("service", "ends") else "right")
    for service, run in data["runs"].items():
        ends = ", ".join(f"{k} {v}" for k, v in run["end_counts"].items())
        table.add_row(
            service,
            str(run["cases_run"]),
            f"{run['seconds']:.1f}",
            str(run["sent"]),
            str(run["completed"]),
            f"{run['alive_checks'] - run['alive_failures']}/{run['alive_checks']}",
            ends,
        )
    growth = ", ".join(f"{k} {v:+} MiB" for k, v in data["largest_process_growth_mib"].items())
    table.caption = f"largest process per daemon: {growth}; findings: {len(data['findings'])}"
    return table
