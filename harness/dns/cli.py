"""``mailstack dns zone`` and ``mailstack dns check``.

The zone and check modules (dnspython, cryptography) are imported inside the commands, so
``mailstack --help`` does not load them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.table import Table

from harness.errors import DnsError, MailstackError
from harness.lab.inventory import LOOPBACK, resolve_inventory
from harness.options import (
    inventory_option,
    json_option,
    lab_option,
    print_json,
    resolver_option,
)
from harness.ui import console, step

if TYPE_CHECKING:
    from harness.dns.check import Finding
    from harness.dns.zone import Zone

__all__ = ["dns"]

_WITHOUT_I = "Lab whose generated inventory (and DNS server) to use when no -i is given."


@click.group()
def dns() -> None:
    """The DNS records of the mail domains: zone files, and a check of what DNS serves."""


def _zones(inventory: str, limit: str | None, *, reverse: bool) -> list[Zone]:
    from harness.dns.zone import build_zones, utc_serial  # noqa: PLC0415
    from harness.hosts import resolve_hosts  # noqa: PLC0415 -- ansible-playbook behind it

    with step("Resolve the mail hosts' settings"):
        hosts = resolve_hosts(inventory, limit)
    return build_zones(hosts, serial=utc_serial(), reverse=reverse, source=inventory)


def _echo_notes(zones: list[Zone]) -> None:
    for note in dict.fromkeys(n for zone in zones for n in zone.notes):
        click.echo(f"note: {note}", err=True)


def _select(zones: list[Zone], domain: str) -> list[Zone]:
    wanted = domain.strip().rstrip(".").lower() + "."
    chosen = [z for z in zones if z.origin == wanted or wanted in z.domains]
    if not chosen:
        hosted = ", ".join(d.rstrip(".") for z in zones for d in (z.domains or [z.origin]))
        raise DnsError(f"--domain {domain} is not hosted here; the zones hold: {hosted}")
    return chosen


@dns.command()
@inventory_option
@lab_option(_WITHOUT_I)
@click.option("--limit", help="Only these hosts (Ansible pattern).")
@click.option("--domain", metavar="DOMAIN", help="Only the zone that holds this domain.")
@click.option("--reverse", is_flag=True, help="Also the in-addr.arpa zones (one per /24).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Write DIR/<origin>.zone per zone instead of printing them.",
)
@json_option
def zone(
    inventory: str | None,
    lab_name: str,
    limit: str | None,
    domain: str | None,
    reverse: bool,
    out: Path | None,
    as_json: bool,
) -> None:
    """Write the zone files of the mail domains.

    MX, A/AAAA, SPF (domains and HELO names), DMARC, DKIM, MTA-STS and TLS-RPT records, made
    from the resolved settings of the hosts of group mail; notes on what must be published
    elsewhere (PTRs, host names outside the zones) go to stderr.
    """
    zones = _zones(resolve_inventory(lab_name, inventory), limit, reverse=reverse)
    if domain:
        zones = _select(zones, domain)
    _echo_notes(zones)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        for z in zones:
            (out / z.filename).write_text(z.text())
            click.echo(f"wrote {out / z.filename}", err=True)
    if as_json:
        print_json([z.to_json() for z in zones])
    elif not out:
        click.echo("\n".join(z.text() for z in zones), nl=False)


@dns.command()
@inventory_option
@lab_option(_WITHOUT_I)
@resolver_option("Ask this resolver (default: the lab's DNS without -i, else /etc/resolv.conf's).")
@json_option
def check(
    inventory: str | None, lab_name: str, resolver: tuple[str, int] | None, as_json: bool
) -> None:
    """Compare what DNS serves with the inventory's zones.

    Every record is asked for, then the rules receivers apply: one SPF record of at most 10
    lookups, a DMARC record that parses, DKIM RSA keys of 2048 bits or more, and
    forward-confirmed reverse DNS. Exit 1 when any finding is an error.
    """
    from harness.dns.check import check_dns  # noqa: PLC0415
    from harness.dns.query import system_resolver  # noqa: PLC0415
    from harness.lab.require import require_lab  # noqa: PLC0415

    if resolver is None:
        resolver = (LOOPBACK, require_lab(lab_name).dns.port) if not inventory else None
    server = resolver or system_resolver()
    # The lab's DNS serves the reverse zones too; a real address's PTR is its owner's.
    zones = _zones(resolve_inventory(lab_name, inventory), None, reverse=not inventory)
    findings = check_dns(zones, server)
    errors = sum(1 for f in findings if f.severity == "error")
    if as_json:
        print_json(
            {"resolver": f"{server[0]}:{server[1]}", "findings": [f.to_json() for f in findings]}
        )
    else:
        _print_findings(findings, f"{server[0]}:{server[1]}")
    if errors:
        raise MailstackError(
            f"dns check: {errors} error(s), {len(findings) - errors} warning(s) "
            f"from {server[0]}:{server[1]}"
        )


@dns.command()
@lab_option("Lab whose DNS server serves the zones.")
def publish(lab_name: str) -> None:
    """Serve in a lab the zones its inventory makes now (after the inventory or a DKIM key
    changed): what `mailstack dns zone` prints is what the lab then answers."""
    from harness.lab.zones import publish_lab_zones  # noqa: PLC0415 -- ansible, docker

    with step(f"publish the zones of lab {lab_name!r}") as s:
        origins = publish_lab_zones(lab_name)
        s.note = ", ".join(o.rstrip(".") for o in origins) or "no zones"


def _print_findings(findings: list[Finding], server: str) -> None:
    if not findings:
        console.print(f"{server} serves every record as made from the inventory")
        return
    table = Table(title=f"mailstack dns check — {server}")
    for column in ("severity", "record", "problem", "expected", "served"):
        table.add_column(column, overflow="fold")
    for f in findings:
        colour = "red" if f.severity == "error" else "yellow"
        table.add_row(
            f"[{colour}]{f.severity}[/]",
            escape(f"{f.name} {f.rtype}"),
            escape(f.message),
            escape(f.expected),
            escape(f.served),
        )
    console.print(table)
