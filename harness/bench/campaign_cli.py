"""``mailstack bench campaign``: a campaign rehearsal, submitted like a campaign tool would."""

from __future__ import annotations

import datetime as dt
import time
from contextlib import nullcontext
from pathlib import Path

import click

from harness.bench.baseline import PostfixTools
from harness.bench.campaign import Campaign, RateShape, load_recipients, schedule
from harness.bench.cli_common import (
    delivery_host,
    finish,
    min_accepted_option,
    save,
    target_options,
)
from harness.bench.spec import BenchSpec
from harness.bench.starttime import start_time
from harness.bench.targets import resolve_target
from harness.config import paths
from harness.errors import BenchError
from harness.options import json_option, out_option
from harness.ui import err_console, step

__all__ = ["campaign_cmd"]


@click.command("campaign")
@click.argument(
    "url",
    required=False,
    help="submission:// or smtps:// URL with credentials; without it, --host of -i/--lab.",
)
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
@target_options("submission")
@click.option("--sink", is_flag=True, help="Send to a local smtp-sink instead of a mail host.")
@click.option(
    "--from", "from_address", default="news@example.test", show_default=True, help="Sender."
)
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
@click.option("-c", "--sessions", default=4, show_default=True, help="Concurrent connections.")
@click.option(
    "--outbound",
    is_flag=True,
    help="The recipients are at the lab's provider-like receivers: wait until the stack has "
    "delivered or bounced everything, and account for every message per destination.",
)
@click.option(
    "--drain-timeout",
    default=1800.0,
    show_default=True,
    help="--outbound: seconds to wait for the stack's queue to empty after the send.",
)
@click.option(
    "--receiver-profile",
    "receiver_profile",
    multiple=True,
    metavar="HOST=NAME|FILE",
    help="--outbound: run receiver HOST with a shipped profile or one from a YAML file.",
)
@min_accepted_option
@json_option
@out_option("Write the JSON result here, and its report beside it.")
def campaign_cmd(
    url: str | None,
    csv_path: Path,
    subject: str,
    body_path: Path,
    inventory: str | None,
    lab_name: str,
    host: str | None,
    service: str,
    sink: bool,
    from_address: str,
    return_domain: str,
    unsubscribe_url: str,
    unsubscribe_mailto: str,
    shape: str,
    start_at: str | None,
    sessions: int,
    outbound: bool,
    drain_timeout: float,
    receiver_profile: tuple[str, ...],
    min_accepted: float | None,
    as_json: bool,
    out: Path | None,
) -> None:
    """Rehearse a campaign: personalised messages, submitted with AUTH at a rate shape."""
    from harness.bench.scenario import run_scenario  # noqa: PLC0415 -- the generator

    rows = load_recipients(csv_path)
    try:
        body = body_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"cannot read --body {body_path}: {exc.strerror}") from None
    campaign = Campaign.build(
        rows, subject, body, from_address, return_domain, unsubscribe_url, unsubscribe_mailto
    )
    offsets = schedule(len(campaign), RateShape.parse(shape))
    at = start_time(start_at)
    if outbound:
        if sink or url or inventory:
            raise BenchError("--outbound runs in a lab: drop --sink, the URL and -i")
        from harness.bench.outbound import (  # noqa: PLC0415 -- docker, the generator
            OutboundLab,
            receiver_profiles,
            run_outbound,
        )

        lab = OutboundLab.of(lab_name, host)
        data = run_outbound(
            lab,
            campaign,
            offsets,
            sessions=sessions,
            drain_timeout=drain_timeout,
            profiles=receiver_profiles(receiver_profile),
            at=at,
            shape=shape,
        )
        if out:
            from harness.bench.outbound_view import plot_deliveries  # noqa: PLC0415

            save(data, out, report=True)
            plot = plot_deliveries(data["outbound"], out.with_suffix(".outbound.png"))
            err_console.print(f"deliveries over time: {plot}")
        finish("bench campaign --outbound", data, min_accepted, as_json)
        return
    with PostfixTools(paths().tools).smtp_sink() if sink else nullcontext(0) as sink_port:
        target = resolve_target(
            f"smtp://127.0.0.1:{sink_port}" if sink else url,
            inventory=inventory,
            lab_name=lab_name,
            host=host,
            service=service,
        )
        spec = BenchSpec.for_campaign(target.url, campaign, offsets, sessions)
        if at is not None:
            with step(
                f"waiting for the start at {dt.datetime.fromtimestamp(at, dt.UTC):%H:%M:%S} UTC"
            ):
                time.sleep(max(0.0, at - time.time()))
        data = run_scenario(
            "campaign",
            spec,
            host=delivery_host(target),
            maildir_root=target.host.mail_root if target.host is not None else None,
            container=target.container,
        )
    data["campaign"] = {"recipients": len(campaign), "shape": shape, "start_at": at}
    if out:
        save(data, out, report=True)
    finish("bench campaign", data, min_accepted, as_json)
