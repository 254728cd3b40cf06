"""``mailstack preflight``: before a campaign, every bulk-sender rule for the sending domain,
its mail hosts and a sample message; a table for people, JSON and JUnit for CI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.errors import MailstackError, PreflightError
from harness.lab.inventory import resolve_inventory
from harness.options import (
    inventory_option,
    json_option,
    lab_option,
    print_json,
    resolver_option,
)
from harness.ui import console, step

if TYPE_CHECKING:
    from harness.preflight.sample import Seed

__all__ = ["preflight"]

SEED_PASSWORD_ENV = "MAILSTACK_SEED_PASSWORD"  # noqa: S105 -- the variable's name


def _seed(address: str | None, imap: str | None, user: str | None, authserv: str) -> Seed | None:
    """The admin's receiving mailbox, or None (a lab then uses a peer host's mailbox)."""
    if not address:
        if imap:
            raise PreflightError("--seed-imap needs --seed ADDRESS", hint="name the mailbox too")
        return None
    from harness.preflight.sample import Seed  # noqa: PLC0415
    from harness.verify.targets import STANDARD_PORTS, Target  # noqa: PLC0415

    if not imap:
        raise PreflightError(
            f"--seed {address} needs --seed-imap HOST[:PORT] to read the sample back"
        )
    password = os.environ.get(SEED_PASSWORD_ENV, "")
    if not password:
        raise PreflightError(
            f"--seed {address}: the mailbox's password is not in ${SEED_PASSWORD_ENV}",
            hint=f"export {SEED_PASSWORD_ENV}=... (never on the command line)",
        )
    host, _, port = imap.partition(":")
    if port and not port.isdigit():
        raise PreflightError(f"--seed-imap {imap!r}: the port is not a number")
    server = Target(
        name=host,
        inventory="",
        address=host,
        tls_name=host,
        ports={"imaps": int(port or STANDARD_PORTS["imaps"])},
        size_limit=0,
        ca_file="",
        domains=(),
    )
    return Seed(address, server, user or address, password, authserv_id=authserv)


@click.command("preflight")
@inventory_option
@lab_option("Lab whose generated inventory (and DNS) to use when no -i is given.")
@click.option("--from", "from_address", required=True, help="The campaign's From address.")
@click.option(
    "--sample",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A message of the campaign as a .eml file (default: a built-in well-formed one).",
)
@click.option(
    "--campaign",
    "campaign_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A campaign directory (campaign.yml, body, recipients CSV): its templates are "
    "checked against the recipients and its first message is the sample.",
)
@click.option("--seed", help="Send the sample to this mailbox (default in a lab: a peer's).")
@click.option("--seed-imap", metavar="HOST[:PORT]", help="Its IMAPS server (default port 993).")
@click.option("--seed-user", help="Its IMAP login (default: the --seed address).")
@click.option(
    "--seed-authserv-id",
    default="",
    help="Read the Authentication-Results of this receiver (default: the topmost one).",
)
@resolver_option("Ask this resolver (default: the lab's DNS, else /etc/resolv.conf's).")
@click.option(
    "--junit",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the findings as JUnit XML here (one test case per rule).",
)
@json_option
def preflight(
    inventory: str | None,
    lab_name: str,
    from_address: str,
    sample: Path | None,
    campaign_dir: Path | None,
    seed: str | None,
    seed_imap: str | None,
    seed_user: str | None,
    seed_authserv_id: str,
    resolver: tuple[str, int] | None,
    junit: Path | None,
    as_json: bool,
) -> None:
    """Check a campaign against the big receivers' bulk-sender rules before sending it.

    The From domain's SPF, DKIM key and DMARC record; forward-confirmed reverse DNS, HELO name
    and STARTTLS of each host sending for it; the sample's form, one-click unsubscribe, size and
    From/Reply-To; the campaign's template variables. Then the sample goes through the stack
    to a receiving mailbox (a lab peer, or --seed) and its SPF, DKIM, DMARC and TLS results are
    read back. Each finding names its rule, evidence, fix and public source. Exit 1 when any
    blocker fails. The password of --seed comes from $MAILSTACK_SEED_PASSWORD.
    """
    from harness.bench.campaign_dir import load_campaign_dir  # noqa: PLC0415
    from harness.preflight.report import junit_xml, table  # noqa: PLC0415
    from harness.preflight.run import run_preflight  # noqa: PLC0415 -- dnspython, ansible

    if sample and campaign_dir:
        raise PreflightError("give --sample or --campaign, not both")
    seed_box = _seed(seed, seed_imap, seed_user, seed_authserv_id)
    campaign = load_campaign_dir(campaign_dir) if campaign_dir else None
    raw = sample.read_bytes() if sample else None
    with step(f"preflight {from_address}") as s:
        report = run_preflight(
            resolve_inventory(lab_name, inventory),
            from_address,
            sample=raw,
            campaign=campaign,
            seed=seed_box,
            resolver=resolver,
            sample_name=str(sample or campaign_dir or ""),
        )
        s.note = f"{len(report.blockers)} blocker(s)"
    if junit:
        junit.write_text(junit_xml(report), encoding="utf-8")
    if as_json:
        print_json(report.to_json())
    else:
        console.print(table(report))
    if report.blockers:
        names = ", ".join(f.rule.id for f in report.blockers)
        raise MailstackError(f"preflight: {len(report.blockers)} blocker(s): {names}")
