"""`mailstack bench ...` and `mailstack report`."""

from __future__ import annotations

import datetime as dt
import json
import time
from contextlib import nullcontext
from pathlib import Path

import click
from rich.table import Table

from harness.bench.baseline import PostfixTools
from harness.bench.campaign import Campaign, RateShape, load_recipients, schedule
from harness.bench.compare import compare, parse_percent
from harness.bench.report import write_report
from harness.bench.result import load_result, save_result
from harness.bench.scenario import run_scenario
from harness.bench.spec import BenchSpec, SizeDistribution, parse_target
from harness.bench.standard import StandardSize, run_standard
from harness.bench.targets import lab_target
from harness.config import paths
from harness.errors import BenchError
from harness.lab.inventory import resolve_inventory
from harness.lab.names import validate_lab_name
from harness.lab.state import LabState
from harness.remote import inventory_host
from harness.ui import console, step
from harness.verify.targets import load_targets

__all__ = ["bench", "report"]


@click.group()
def bench() -> None:
    """Bulk-send throughput, latency and delivery."""


@bench.command("run")
@click.argument("url", required=False)
@click.option("-i", "--inventory", help="Inventory of the mail host (for --host, delivery).")
@click.option("--lab", "lab_name", help="Use this lab's generated inventory.")
@click.option("--host", help="Mail host of the inventory to load (default: the first).")
@click.option(
    "--service",
    type=click.Choice(["smtp", "submission", "submissions"]),
    default="smtp",
    show_default=True,
    help="Port to load, with --host.",
)
@click.option("--to", "recipients", multiple=True, help="Recipient (repeatable).")
@click.option(
    "--to-domain",
    "domains",
    multiple=True,
    help="Recipients bench0000..bench0099 at this domain (repeatable).",
)
@click.option("--from", "sender", default="bench@client.test", show_default=True)
@click.option("-n", "--messages", default=1000, show_default=True, help="Messages in all.")
@click.option("-c", "--sessions", default=4, show_default=True, help="Concurrent connections.")
@click.option("--rate", type=float, help="Open loop: arrivals per second (default: closed loop).")
@click.option(
    "--size", default="2k", show_default=True, help="Size or weighted sizes: 1k:70,10k:30"
)
@click.option("--rcpts", default=1, show_default=True, help="Recipients per message.")
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
@click.option(
    "--engine",
    type=click.Choice(["pipelined", "aiosmtplib"]),
    default="pipelined",
    show_default=True,
)
@click.option("--no-pipelining", is_flag=True, help="Never pipeline, even when offered.")
@click.option("--baseline", type=click.Choice(["smtp-source"]), help="Also run smtp-source.")
@click.option("--no-delivery", is_flag=True, help="Skip queue and Maildir tracking.")
@click.option("--out", type=click.Path(path_type=Path), help="Write the JSON result here.")
def run_cmd(
    url: str | None,
    inventory: str | None,
    lab_name: str | None,
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
    engine: str,
    no_pipelining: bool,
    baseline: str | None,
    no_delivery: bool,
    out: Path | None,
) -> None:
    """Load URL (smtp://, smtps://, submission://) or a host of an inventory / lab."""
    tracked = None
    recipients += tuple(f"bench{n:04d}@{d}" for d in domains for n in range(100))
    if url:
        target = parse_target(url)
    else:
        inv = resolve_inventory(lab_name or "default", inventory)
        hosts = [t.name for t in load_targets(inv)]
        target, found = lab_target(inv, host or hosts[0], service)
        recipients = recipients or (found.accounts.mailbox,)
        if not no_delivery:
            tracked = inventory_host(found.name, inv)
    spec = BenchSpec(
        target=target,
        sender=sender,
        recipients=tuple(recipients),
        messages=messages,
        sessions=sessions,
        rate=rate,
        sizes=SizeDistribution.parse(size),
        recipients_per_message=rcpts,
        workers=workers,
        pipelining=not no_pipelining,
    )
    tools = PostfixTools(paths().state / "tools") if baseline else None
    data = run_scenario("run", spec, engine=engine, host=tracked, baseline=tools)
    _print_run(data)
    if out:
        save_result(data, out)
        console.print(f"result: {out}")
    if not data["outcomes"]["balanced"]:
        raise click.exceptions.Exit(1)


def _print_run(data: dict[str, object]) -> None:
    console.print_json(
        json.dumps(
            {
                k: v
                for k, v in data.items()
                if k not in ("latency_cdf_ms", "timeline", "environment")
            },
            default=str,
        )
    )


@bench.command("compare")
@click.argument("base", type=click.Path(path_type=Path, exists=True))
@click.argument("new", type=click.Path(path_type=Path, exists=True))
@click.option("--max-regression", default="10%", show_default=True)
def compare_cmd(base: Path, new: Path, max_regression: str) -> None:
    """Exit non-zero when NEW is worse than BASE by more than --max-regression."""
    rows = compare(load_result(base), load_result(new), parse_percent(max_regression))
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
    if any(r.regressed for r in rows):
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("result", type=click.Path(path_type=Path, exists=True))
@click.option("--out-dir", type=click.Path(path_type=Path), help="Default: beside RESULT.")
def report(result: Path, out_dir: Path | None) -> None:
    """Write a Markdown summary and an HTML page with plots for a bench RESULT.json."""
    written = write_report(load_result(result), out_dir or result.parent, result.stem)
    for kind, path in written.items():
        console.print(f"{kind}: {path}")


@bench.command("standard")
@click.option(
    "--lab",
    "lab_name",
    default="bench",
    show_default=True,
    help="A lab up with the bench topology and converged.",
)
@click.option("--quick", is_flag=True, help="Small counts (for make demo and tests).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("bench-results/standard.json"),
    show_default=True,
)
def standard_cmd(lab_name: str, quick: bool, out: Path) -> None:
    """The standard set with same-run baselines; writes JSON, Markdown and HTML."""
    state = LabState.load(paths().lab(validate_lab_name(lab_name)))
    if state is None:
        raise BenchError(
            f"lab {lab_name!r} is not up",
            hint=f"mailstack lab up --name {lab_name} --topology harness/lab/bench-topology.yml",
        )
    size = StandardSize.quick() if quick else StandardSize()
    data = run_standard(state, PostfixTools(paths().state / "tools"), size)
    save_result(data, out)
    written = write_report(data, out.parent, out.stem)
    print_ratios(data)
    console.print(f"result: {out}; report: {written['html']}")
    if not all(r["outcomes"]["balanced"] for r in data["runs"].values()):
        raise click.exceptions.Exit(1)


def print_ratios(data: dict[str, object]) -> None:
    table = Table(title="mailstack bench — ratios measured in the same run")
    for col in ("ratio", "value", "goal"):
        table.add_column(col)
    ratios = data.get("ratios")
    if isinstance(ratios, dict):
        for name, r in ratios.items():
            table.add_row(name, "-" if r["value"] is None else f"{r['value']:.3f}", r["goal"])
    console.print(table)
    runs = data.get("runs")
    if isinstance(runs, dict):
        table = Table(title="runs")
        for col in (
            "run",
            "accepted/s",
            "accepted",
            "failed",
            "p99 ms",
            "delivered",
            "delivered/s",
            "ttm p99 ms",
        ):
            table.add_column(col)
        for name, run in runs.items():
            out, dlv = run["outcomes"], run.get("delivery") or {}
            table.add_row(
                name,
                f"{run['accept_rate']:.1f}",
                str(out["accepted"]),
                str(out["attempted"] - out["accepted"]),
                f"{run['latency_ms'].get('message', {}).get('p99', 0):.1f}",
                str(dlv.get("delivered", "-")),
                str(dlv.get("drained_rate", "-")),
                str((dlv.get("ttm_ms") or {}).get("p99", "-")),
            )
        console.print(table)


def _start_time(text: str | None) -> float | None:
    """'+30s', '+5m' or an ISO 8601 time ('2026-12-01T09:00:00+00:00'), as epoch seconds."""
    if not text:
        return None
    now = time.time()
    if text.startswith("+"):
        units = {"s": 1, "m": 60, "h": 3600}
        try:
            at = now + float(text[1:-1]) * units[text[-1]]
        except (KeyError, ValueError):
            raise BenchError(f"--start-at {text!r}", hint="+30s, +5m, +1h or an ISO time") from None
    else:
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise BenchError(f"--start-at {text!r} is not a time", hint="e.g. +30s") from None
        if when.tzinfo is None:
            raise BenchError(f"--start-at {text!r} has no time zone", hint="add +00:00")
        at = when.timestamp()
    if at < now - 1 or at > now + 86400:
        raise BenchError(f"--start-at {text!r} must be within the next 24 hours")
    return at


@bench.command("campaign")
@click.option(
    "--recipients",
    "csv_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV with a header row and an 'email' column; other columns feed templates.",
)
@click.option("--subject", required=True, help="Jinja2 template of the subject.")
@click.option(
    "--body",
    "body_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Jinja2 template file of the text body.",
)
@click.option("-i", "--inventory", help="Inventory of the mail host.")
@click.option("--lab", "lab_name", default="default", show_default=True)
@click.option("--host", help="Mail host to submit to (default: the first).")
@click.option("--sink", is_flag=True, help="Send to a local smtp-sink instead of a mail host.")
@click.option("--from", "from_address", default="news@example.test", show_default=True)
@click.option(
    "--return-domain",
    default="example.test",
    show_default=True,
    help="VERP return paths: bounces+<rcpt local>=<rcpt domain>@THIS.",
)
@click.option(
    "--unsubscribe-url",
    default="https://unsubscribe.example.test/u/{{ token }}",
    show_default=True,
    help="Template of the one-click (RFC 8058) URL.",
)
@click.option(
    "--unsubscribe-mailto",
    default="unsubscribe+{{ token }}@example.test",
    show_default=True,
    help="Template of the mailto: unsubscribe address.",
)
@click.option(
    "--shape", default="10", show_default=True, help="Send rate: 50 (steady msg/s) or ramp:5:50."
)
@click.option("--start-at", help="When to start: +30s, +5m or an ISO time.")
@click.option("-c", "--sessions", default=4, show_default=True)
@click.option("--out", type=click.Path(path_type=Path))
def campaign_cmd(
    csv_path: Path,
    subject: str,
    body_path: Path,
    inventory: str | None,
    lab_name: str,
    host: str | None,
    sink: bool,
    from_address: str,
    return_domain: str,
    unsubscribe_url: str,
    unsubscribe_mailto: str,
    shape: str,
    start_at: str | None,
    sessions: int,
    out: Path | None,
) -> None:
    """Rehearse a campaign: personalised messages, submitted with AUTH at a rate shape."""
    rows = load_recipients(csv_path)
    try:
        body = body_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"cannot read --body {body_path}: {exc.strerror}") from None
    campaign = Campaign.build(
        rows, subject, body, from_address, return_domain, unsubscribe_url, unsubscribe_mailto
    )
    offsets = schedule(len(campaign), RateShape.parse(shape))
    at = _start_time(start_at)
    tools = PostfixTools(paths().state / "tools")
    with tools.smtp_sink() if sink else nullcontext(0) as sink_port:
        tracked = None
        if sink:
            target = parse_target(f"smtp://127.0.0.1:{sink_port}")
        else:
            inv = resolve_inventory(lab_name, inventory)
            name = host or load_targets(inv)[0].name
            target, _ = lab_target(inv, name, "submission")
            tracked = inventory_host(name, inv)
        spec = BenchSpec(
            target=target,
            sender=from_address,
            recipients=(campaign.recipient(0),),
            messages=len(campaign),
            sessions=sessions,
            campaign=campaign,
            schedule=offsets,
        )
        if at is not None:
            with step(
                f"waiting for the start at {dt.datetime.fromtimestamp(at, dt.UTC):%H:%M:%S} UTC"
            ):
                time.sleep(max(0.0, at - time.time()))
        data = run_scenario("campaign", spec, host=tracked)
    data["campaign"] = {"recipients": len(campaign), "shape": shape, "start_at": at}
    _print_run(data)
    if out:
        save_result(data, out)
        write_report(data, out.parent, out.stem)
        console.print(f"result: {out}")
    if not data["outcomes"]["balanced"]:
        raise click.exceptions.Exit(1)
