"""``mailstack bench ...``: run, campaign, standard, compare, report.

The heavy parts (the generator, plots, the SSH-backed delivery tracking) are imported inside
the commands, so ``mailstack lab ...`` and ``--help`` never load them.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from harness.bench.baseline import PostfixTools
from harness.bench.campaign_cli import campaign_cmd
from harness.bench.cli_common import (
    delivery_host,
    finish,
    mailbox_host,
    min_accepted_option,
    save,
    target_options,
)
from harness.bench.outbound_ab import outbound_ab_cmd
from harness.bench.server_side import attach_server_series, prometheus_for
from harness.bench.spec import BenchSpec, SizeDistribution
from harness.bench.targets import resolve_target
from harness.config import paths
from harness.errors import BenchError, BenchFailedError
from harness.lab.require import require_lab
from harness.options import json_option, lab_option, out_option, print_json
from harness.ui import console, step

if TYPE_CHECKING:
    from harness.bench.generators import RemoteGenerators

__all__ = ["bench", "report_cmd"]

BENCH_TOPOLOGY = "harness/lab/bench-topology.yml"


@click.group()
def bench() -> None:
    """Bulk-send throughput, latency and delivery."""


bench.add_command(campaign_cmd)
bench.add_command(outbound_ab_cmd)


@bench.command("run")
@click.argument(
    "url",
    required=False,
    help="smtp://, smtps:// or submission:// URL; without it, --service on --host of -i/--lab.",
)
@target_options("smtp")
@click.option("--to", "recipients", multiple=True, help="Recipient (repeatable).")
@click.option(
    "--to-domain",
    "domains",
    multiple=True,
    help="Recipients bench0000..bench0099 at this domain (repeatable).",
)
@click.option("--from", "sender", default="bench@client.test", show_default=True, help="Sender.")
@click.option("-n", "--messages", default=1000, show_default=True, help="Messages in all.")
@click.option("-c", "--sessions", default=4, show_default=True, help="Concurrent connections.")
@click.option("--rate", type=float, help="Open loop: arrivals per second (default: closed loop).")
@click.option(
    "--size", default="2k", show_default=True, help="Size or weighted sizes: 1k:70,10k:30"
)
@click.option("--rcpts", default=1, show_default=True, help="Recipients per message.")
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
@click.option(
    "--generators",
    type=int,
    default=0,
    help="Spread the run over this many hosts of the inventory's group 'generators' (installed "
    "there by playbooks/generators.yml), started together; their counts and HDR histograms "
    "merged into one result (0: generate here).",
)
@click.option(
    "--engine",
    type=click.Choice(["pipelined", "aiosmtplib"]),
    default="pipelined",
    show_default=True,
    help="SMTP client: the pipelining fast path or aiosmtplib.",
)
@click.option("--no-pipelining", is_flag=True, help="Never pipeline, even when offered.")
@click.option("--baseline", type=click.Choice(["smtp-source"]), help="Also run smtp-source.")
@click.option("--no-delivery", is_flag=True, help="Skip queue and Maildir tracking.")
@click.option(
    "--prometheus",
    metavar="URL",
    help="Read the servers' series for the run window from this Prometheus (default: the "
    "inventory's host in group 'monitoring', if any; 'none': no server series).",
)
@min_accepted_option
@json_option
@out_option("Write the JSON result here.")
def run_cmd(
    url: str | None,
    inventory: str | None,
    lab_name: str,
    host: str | None,
    service: str,
    recipients: tuple[str, ...],
    domains: tuple[str, ...],
    sender: str,
    messages: int,
    sessions: int,
    rate: float | None,
    size: str,
    rcpts: int,
    workers: int,
    generators: int,
    engine: str,
    no_pipelining: bool,
    baseline: str | None,
    no_delivery: bool,
    prometheus: str | None,
    min_accepted: float | None,
    as_json: bool,
    out: Path | None,
) -> None:
    """Load URL, or a service of a host of an inventory (-i) or lab (--lab)."""
    from harness.bench.scenario import run_scenario  # noqa: PLC0415 -- the generator

    target = resolve_target(url, inventory=inventory, lab_name=lab_name, host=host, service=service)
    recipients += tuple(f"bench{n:04d}@{d}" for d in domains for n in range(100))
    if target.host is not None and not recipients:
        recipients = (target.host.accounts.mailbox,)
    spec = BenchSpec(
        target=target.url,
        sender=sender,
        recipients=recipients,
        messages=messages,
        sessions=sessions,
        rate=rate,
        sizes=SizeDistribution.parse(size),
        recipients_per_message=rcpts,
        workers=workers,
        pipelining=not no_pipelining,
    )
    tracked = None if no_delivery else delivery_host(target)
    server = prometheus_for(prometheus, target.inventory)
    if server is not None:
        server.scrape_interval()  # answers now, not only after the run
    remote = _generators(generators, target.inventory, spec, baseline) if generators else None
    data = run_scenario(
        "run",
        spec,
        engine=engine,
        host=tracked,
        maildir_root=target.host.mail_root if target.host is not None else None,
        baseline=PostfixTools(paths().tools) if baseline else None,
        container=None if tracked is None else target.container,
        runner=None if remote is None else remote.run,
        mailbox_host=None if tracked is None else mailbox_host(target),
    )
    if remote is not None:
        from harness.bench.generators import merge  # noqa: PLC0415

        data["generators"] = remote.to_json(merge(remote.parts))  # type: ignore[typeddict-unknown-key]
    if server is not None:
        attach_server_series(data, server)
    if out:
        save(data, out, report=False)
    finish("bench run", data, min_accepted, as_json)


def _generators(
    count: int, inventory: str | None, spec: BenchSpec, baseline: str | None
) -> RemoteGenerators:
    """The generator hosts, the bench's generator installed on them (playbooks/generators.yml)."""
    from harness.bench.generators import RemoteGenerators  # noqa: PLC0415
    from harness.bench.remote import encode_spec  # noqa: PLC0415
    from harness.provision import run_site  # noqa: PLC0415

    if inventory is None:
        raise BenchError(
            "--generators needs an inventory with a group 'generators' (-i, or --lab)",
            hint="a URL alone names no generator hosts",
        )
    if baseline:
        raise BenchError("--generators with --baseline: the baseline runs on this machine only")
    encode_spec(spec)  # a campaign cannot travel: say so before anything is installed
    remote = RemoteGenerators.of(inventory, count)
    with step(f"install the generator on {', '.join(remote.hosts)}"):
        done = run_site(
            paths().project,
            inventory,
            playbook_name="generators.yml",
            limit=",".join(remote.hosts),
        )
        if not done.success:
            raise BenchError(
                f"playbooks/generators.yml failed on {', '.join(remote.hosts)}",
                hint=f"ansible-playbook -i {inventory} playbooks/generators.yml shows why:\n"
                + done.output[-1500:],
            )
    return remote


@bench.command("standard")
@lab_option(f"Lab up with the bench topology ({BENCH_TOPOLOGY}) and converged.")
@click.option("--quick", is_flag=True, help="Small counts (for make demo and tests).")
@min_accepted_option
@json_option
@out_option(
    "Write the JSON result here, and its report beside it.",
    default=Path("bench-results/standard.json"),
)
def standard_cmd(
    lab_name: str, quick: bool, min_accepted: float | None, as_json: bool, out: Path
) -> None:
    """The standard set with same-run baselines; writes JSON, Markdown and HTML."""
    from harness.bench.standard import StandardSize, run_standard  # noqa: PLC0415

    state = require_lab(lab_name, topology=BENCH_TOPOLOGY, or_inventory=False)
    size = StandardSize.quick() if quick else StandardSize()
    data = run_standard(state, PostfixTools(paths().tools), size)
    save(data, out, report=True)
    finish("bench standard", data, min_accepted, as_json)


@bench.command("compare")
@click.argument("base", type=click.Path(path_type=Path, exists=True), help="Earlier result.")
@click.argument("new", type=click.Path(path_type=Path, exists=True), help="Later result.")
@click.option(
    "--max-regression",
    default="10%",
    show_default=True,
    help="Largest loss allowed in accept rate or message p99.",
)
@json_option
def compare_cmd(base: Path, new: Path, max_regression: str, as_json: bool) -> None:
    """Exit 1 when NEW is worse than BASE by more than --max-regression."""
    from harness.bench.compare import compare, parse_percent  # noqa: PLC0415
    from harness.bench.result import load_result  # noqa: PLC0415

    rows = compare(load_result(base), load_result(new), parse_percent(max_regression))
    if as_json:
        print_json([asdict(r) for r in rows])
    else:
        table = Table(title=f"{base} -> {new}")
        for col in ("run", "metric", "base", "new", "change", "verdict"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r.run,
                r.metric,
                f"{r.base:,.2f}",
                f"{r.new:,.2f}",
                f"{r.change:+.1%}",
                "[red]REGRESSED[/]" if r.regressed else "ok",
            )
        console.print(table)
    regressed = [f"{r.run} {r.metric} {r.change:+.1%}" for r in rows if r.regressed]
    if regressed:
        raise BenchFailedError(
            f"{new} regressed against {base} beyond {max_regression}: {', '.join(regressed)}"
        )


@bench.command("report")
@click.argument(
    "result", type=click.Path(path_type=Path, exists=True), help="A bench result (JSON)."
)
@click.option("--out-dir", type=click.Path(path_type=Path), help="Default: beside RESULT.")
def report_cmd(result: Path, out_dir: Path | None) -> None:
    """Write a Markdown summary and an HTML page with plots for a bench RESULT.json."""
    from harness.bench.report import write_report  # noqa: PLC0415 -- matplotlib
    from harness.bench.result import load_result  # noqa: PLC0415

    written = write_report(load_result(result), out_dir or result.parent, result.stem)
    for kind, path in written.items():
        console.print(f"{kind}: {path}")
