"""``mailstack dkim``: a domain's DKIM keys rotated step by step, as code.

    publish   a new key, future: made on the hosts, published in DNS, not signing yet
    activate  once DNS serves it and a TTL has passed: it signs; the old key expires
    revoke    later (days, once mail signed with it was read): the expired key revoked
    rotate    all three in a row, holding the old key published for --hold seconds

Each edits the inventory file(s) that list the domain's ``rspamd_dkim_keys`` (comments kept;
commit them), then converges the rspamd role. On a lab (no -i) the lab's DNS serves the
result at once; for a real domain the admin publishes the records `mailstack dns zone`
prints, and activate waits until the resolver serves them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from harness.lab.inventory import LOOPBACK, resolve_inventory
from harness.options import inventory_option, json_option, lab_option, print_json
from harness.ui import console

if TYPE_CHECKING:
    from harness.dkim.rotate import Rotation, StepReport

__all__ = ["dkim"]


@click.group()
def dkim() -> None:
    """Rotate a domain's DKIM keys: publish, activate, revoke (or rotate: all three)."""


def _steps(f: Callable[..., list[StepReport]]) -> Callable[..., None]:
    """The command from ``f(rotation, **its own options)``: adds -i/--lab, --domain,
    --keys-file, --resolver and --json, makes the Rotation, shows what ``f`` returns."""

    @wraps(f)
    def command(
        *,
        inventory: str | None,
        lab_name: str,
        domain: str,
        keys_files: tuple[Path, ...],
        resolver: str | None,
        as_json: bool,
        **own: object,
    ) -> None:
        rotation = _rotation(inventory, lab_name, domain, keys_files, resolver)
        _show(f(rotation, **own), rotation, as_json)

    options = [
        inventory_option,
        lab_option("Lab whose inventory and DNS to use when no -i is given."),
        click.option("--domain", required=True, metavar="DOMAIN", help="The domain to rotate."),
        click.option(
            "--keys-file",
            "keys_files",
            multiple=True,
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="A file listing the domain's rspamd_dkim_keys (repeat for several; default: "
            "the one under the inventory's group_vars/host_vars that lists them).",
        ),
        click.option(
            "--resolver",
            metavar="IP[:PORT]",
            help="Ask this resolver whether DNS serves a key (default: the lab's DNS without "
            "-i, else /etc/resolv.conf's).",
        ),
        json_option,
    ]
    decorated: Callable[..., None] = command
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def _rotation(
    inventory: str | None,
    lab_name: str,
    domain: str,
    keys_files: tuple[Path, ...],
    resolver: str | None,
) -> Rotation:
    from harness.converge import converge_site  # noqa: PLC0415
    from harness.dkim.keysfile import find_keys_files  # noqa: PLC0415
    from harness.dkim.rotate import Rotation  # noqa: PLC0415
    from harness.dns.query import parse_address, system_resolver  # noqa: PLC0415
    from harness.lab.require import require_lab  # noqa: PLC0415
    from harness.lab.zones import publish_lab_zones  # noqa: PLC0415

    path = resolve_inventory(lab_name, inventory)
    domain = domain.strip().rstrip(".").lower()
    if resolver:
        try:
            server = parse_address(resolver)
        except ValueError as exc:
            raise click.BadParameter(f"{resolver!r} is not IP[:PORT] ({exc})") from None
    elif inventory is None:
        server = (LOOPBACK, require_lab(lab_name).dns.port)
    else:
        server = system_resolver()
    return Rotation(
        inventory=path,
        domain=domain,
        files=find_keys_files(path, domain, keys_files),
        resolver=server,
        converge=lambda: converge_site(path, tags="role::rspamd"),
        publish_dns=(lambda: publish_lab_zones(lab_name)) if inventory is None else None,
    )


def _show(reports: list[StepReport], rotation: Rotation, as_json: bool) -> None:
    if as_json:
        print_json({"steps": [r.to_json() for r in reports], "keys": rotation.domain_keys()})
        return
    for r in reports:
        done = "; ".join(c.describe() for c in r.changes) or "nothing to change"
        console.print(f"[bold]{r.step}[/] {r.domain}: {done} ({r.seconds:.0f} s)")
        if r.note:
            console.print(f"  {r.note}")
    table = Table(title=f"DKIM keys of {rotation.domain} — {rotation.files[0].path}")
    for column in ("selector", "algorithm", "state"):
        table.add_column(column)
    for key in rotation.domain_keys():
        table.add_row(key["selector"], key.get("algorithm", "rsa"), key["state"])
    console.print(table)


_SELECTOR = click.option("--selector", help="Name of the new key (default: s<YYYYMM>-<algorithm>).")


@dkim.command()
@_SELECTOR
@_steps
def publish(rotation: Rotation, selector: str | None) -> list[StepReport]:
    """Step 1: a new future key — made on the hosts, published in DNS, not signing."""
    return [rotation.publish(selector)]


@dkim.command()
@_steps
def activate(rotation: Rotation) -> list[StepReport]:
    """Step 2: once DNS serves the future key and a TTL has passed, it signs; the key it
    replaces expires (still published)."""
    return [rotation.activate()]


@dkim.command()
@click.option("--selector", help="Only this expired key (default: every expired key).")
@_steps
def revoke(rotation: Rotation, selector: str | None) -> list[StepReport]:
    """Step 3: expired keys revoked — published with an empty p=, private halves removed."""
    return [rotation.revoke(selector)]


@dkim.command()
@_SELECTOR
@click.option(
    "--hold",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="How long the old key stays published after the new one signs (default: one TTL; "
    "for a real domain run revoke separately, days later).",
)
@_steps
def rotate(rotation: Rotation, selector: str | None, hold: float | None) -> list[StepReport]:
    """publish, activate, hold, revoke: a whole rotation in one run."""
    from harness.ui import step  # noqa: PLC0415

    reports = [rotation.publish(selector), rotation.activate()]
    wait = rotation.ttl() if hold is None else hold
    with step(f"hold the old key published for {wait:.0f} s"):
        rotation.sleep(wait)
    reports.append(rotation.revoke())
    return reports
