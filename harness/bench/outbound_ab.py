"""``mailstack bench outbound-ab``: the same campaign, in the same run, against the same
throttling receivers, once with the postfix role's default delivery settings and once with its
bulk delivery profile; per profile the time until everything was delivered, the deferrals and
the bounces, and every message accounted for."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import click
import yaml

from harness.bench.campaign import Campaign, RateShape, schedule
from harness.bench.cli_common import save
from harness.bench.model import BenchRun
from harness.bench.outbound import OutboundLab, run_outbound
from harness.config import paths
from harness.errors import BenchFailedError, MailstackError
from harness.options import json_option, lab_option, print_json
from harness.provision import run_site
from harness.ui import console, step

__all__ = ["outbound_ab_cmd"]

#: The bulk profile the comparison applies (a file an admin can copy into group_vars).
BULK_VARS = "outbound-bulk.yml"
_BODY = (
    "Dear {{ name }},\n\nthe news of the month.\n\n"
    "Unsubscribe: https://example.test/u/{{ token }}\n"
)


def _campaign(lab: OutboundLab, messages: int, sender: str) -> Campaign:
    """``messages`` recipients spread evenly over the receivers' domains."""
    domains = sorted(lab.domains)
    rows = [
        {"email": f"reader{i}@{domains[i % len(domains)]}", "name": f"R{i}"}
        for i in range(messages)
    ]
    domain = sender.rsplit("@", 1)[1]
    return Campaign.build(
        rows,
        "News for {{ name }}",
        _BODY,
        sender,
        domain,
        f"https://{domain}/u/{{{{ token }}}}",
        f"unsubscribe+{{{{ token }}}}@{domain}",
    )


def _converge(lab: OutboundLab, inventory: str, extra: Path | None) -> None:
    result = run_site(
        paths().project,
        inventory,
        tags="role::postfix",
        limit=lab.stack.name,
        extra_vars=[f"@{extra}"] if extra else [],
    )
    if not result.success:
        raise MailstackError(f"converge of {lab.stack.name} failed", hint=result.output[-400:])


def _summary(data: BenchRun) -> dict[str, Any]:
    totals = data["outbound"]["totals"]
    return {
        "accepted": data["outcomes"]["accepted"],
        "delivered": totals["delivered"],
        "bounced": totals["bounced"],
        "queued": totals["queued"],
        "missing": totals["missing"],
        "deferred_stack": sum(totals["deferred_stack"].values()),
        "deferred_receivers": sum(totals["deferred_receivers"].values()),
        "last_delivery_s": totals["last_delivery_s"],
        "drained_s": data["outbound"]["drained_s"],
    }


@click.command("outbound-ab")
@lab_option("Lab with the stack and provider-like receivers (harness/lab/outbound-topology.yml).")
@click.option("--host", help="The stack host that sends (default: the lab's first mail host).")
@click.option("--messages", default=200, show_default=True, help="Campaign size.")
@click.option("--shape", default="50", show_default=True, help="Submission rate (msg/s).")
@click.option(
    "--from", "sender", default="news@example.test", show_default=True, help="The sender."
)
@click.option(
    "--bulk-vars",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help=f"Variables of the bulk side (default: the shipped harness/bench/{BULK_VARS}).",
)
@click.option("--drain-timeout", default=3600.0, show_default=True, help="Per side, seconds.")
@click.option(
    "--sides",
    "sides_wanted",
    type=click.Choice(["both", "default", "bulk"]),
    default="both",
    show_default=True,
    help="Run both sides, or one (to repeat it, or when the other was run before).",
)
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("bench-results"),
    show_default=True,
    help="Where outbound-ab.json and each side's result and plot go.",
)
@json_option
def outbound_ab_cmd(
    lab_name: str,
    host: str | None,
    messages: int,
    shape: str,
    sender: str,
    bulk_vars: Path | None,
    drain_timeout: float,
    sides_wanted: str,
    out_dir: Path,
    as_json: bool,
) -> None:
    """Default delivery vs the bulk profile, same campaign, same throttling receivers.

    The stack is converged with the inventory's settings, the campaign sent and drained;
    then converged with the bulk profile and the same campaign sent again; then converged
    back. Exit 1 when a side loses a message.
    """
    from harness.bench.outbound_view import plot_deliveries  # noqa: PLC0415 -- matplotlib

    lab = OutboundLab.of(lab_name, host)
    inventory = lab.inventory
    extra = bulk_vars or Path(str(resources.files("harness.bench").joinpath(BULK_VARS)))
    campaign = _campaign(lab, messages, sender)
    offsets = schedule(len(campaign), RateShape.parse(shape))
    out_dir.mkdir(parents=True, exist_ok=True)
    sides: dict[str, dict[str, Any]] = {}
    try:
        for side, vars_file in (("default", None), ("bulk", extra)):
            if sides_wanted not in ("both", side):
                continue
            with step(f"{side}: converge {lab.stack.name}"):
                _converge(lab, inventory, vars_file)
            started = time.monotonic()
            data = run_outbound(
                lab,
                campaign,
                offsets,
                sessions=4,
                drain_timeout=drain_timeout,
                profiles={},
                shape=shape,
            )
            if left := len(lab.queue().splitlines()):
                # Not delivered within --drain-timeout (counted as queued): the next side
                # must start on an empty queue.
                lab.drop_queue()
            data["outbound"]["dropped_after_timeout"] = left
            save(data, out_dir / f"outbound-{side}.json", report=False)
            plot_deliveries(data["outbound"], out_dir / f"outbound-{side}.png")
            sides[side] = {**_summary(data), "wall_s": round(time.monotonic() - started, 1)}
    finally:
        with step(f"converge {lab.stack.name} back to the inventory's settings"):
            _converge(lab, inventory, None)
    result = {
        "messages": messages,
        "bulk_vars": yaml.safe_load(extra.read_text()),
        "sides": sides,
        "bulk_vs_default": {
            key: _ratio(sides["bulk"][key], sides["default"][key])
            for key in ("drained_s", "last_delivery_s", "deferred_stack", "deferred_receivers")
        }
        if len(sides) == 2
        else None,
    }
    summary = "outbound-ab" + ("" if sides_wanted == "both" else f"-{sides_wanted}")
    (out_dir / f"{summary}.json").write_text(json.dumps(result, indent=2) + "\n")
    if as_json:
        print_json(result)
    else:
        console.print(yaml.safe_dump(result, sort_keys=False))
    lost = [s for s, v in sides.items() if v["missing"]]
    if lost:
        raise BenchFailedError(f"outbound-ab: messages missing on the {', '.join(lost)} side")


def _ratio(new: float | None, old: float | None) -> float | None:
    if new is None or not old:
        return None
    return round(new / old, 3)
