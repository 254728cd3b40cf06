"""``mailstack lab ...``: build images, bring labs up and down, show them, open a shell."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from harness.config import paths
from harness.errors import LabError
from harness.lab.distros import DISTROS, get_distro
from harness.lab.engine import ensure_engine
from harness.lab.images import ImageBuilder
from harness.lab.lab import Lab
from harness.lab.packages import role_packages
from harness.lab.require import require_lab
from harness.lab.topology import default_topology, load_topology
from harness.options import json_option, lab_option, print_json
from harness.ui import console, step

__all__ = ["lab", "print_status"]


@click.group()
def lab() -> None:
    """The hermetic container lab."""


@lab.command()
@click.option(
    "--distro",
    "distros",
    multiple=True,
    type=click.Choice(list(DISTROS)),
    help="Distro to build (repeatable); default: all.",
)
@json_option
def build(distros: tuple[str, ...], as_json: bool) -> None:
    """Build the lab images (debootstrap, then the roles' packages baked in)."""
    client = ensure_engine(paths().engine_log)
    builder = ImageBuilder(client, paths().build)
    results = {}
    for name in distros or tuple(DISTROS):
        distro = get_distro(name)
        with step(f"image {name}") as s:
            report = builder.ensure(distro, role_packages(paths().roles, distro))
            s.note = f"{report.tag} ({', '.join(f'{k} {v}' for k, v in report.layers.items())})"
        size = client.images.get(report.tag).attrs.get("Size", 0)
        results[name] = {
            "tag": report.tag,
            "layers": report.layers,
            "seconds": {k: round(v, 1) for k, v in report.seconds.items()},
            "size_mb": round(size / 1e6, 1),
        }
    if as_json:
        print_json(results)


@lab.command()
@lab_option(old_name=True)
@click.option(
    "--topology",
    "topology_path",
    type=click.Path(path_type=Path),
    help="Topology YAML (default: mx1 serving example.test, mx2 serving peer.test).",
)
@json_option
def up(lab_name: str, topology_path: Path | None, as_json: bool) -> None:
    """Bring a lab up (a no-op when it already runs)."""
    topology = load_topology(topology_path) if topology_path else default_topology()
    the_lab = Lab(ensure_engine(paths().engine_log), paths(), lab_name)
    report = the_lab.up(topology)
    if as_json:
        print_json(
            {
                "already_up": report.already_up,
                "seconds": round(report.seconds, 1),
                **the_lab.status(),
            }
        )
        return
    if report.already_up:
        console.print(f"lab {lab_name!r} is already up")
    else:
        console.print(f"lab {lab_name!r} up in {report.seconds:.1f} s")
    print_status(the_lab.status())


@lab.command()
@lab_option(old_name=True)
@json_option
def down(lab_name: str, as_json: bool) -> None:
    """Take a lab down: containers, network, firewall rule and state folder."""
    report = Lab(ensure_engine(paths().engine_log), paths(), lab_name).down()
    if as_json:
        print_json(report.__dict__)
        return
    console.print(
        f"lab {lab_name!r} down in {report.seconds:.1f} s: {report.containers} container(s), "
        f"{report.networks} network(s), {report.rules} firewall rule(s) removed"
    )


@lab.command()
@lab_option(old_name=True)
@json_option
def status(lab_name: str, as_json: bool) -> None:
    """Show a lab: hosts, published ports, DNS, inventory path."""
    data = Lab(ensure_engine(paths().engine_log), paths(), lab_name).status()
    if as_json:
        print_json(data)
    else:
        print_status(data)


def print_status(data: dict[str, Any]) -> None:
    """A lab's status (``Lab.status()``) as a table and a few lines."""
    state = data.get("state")
    if state is None:
        leftover = ", ".join(data["containers"]) or "none"
        console.print(f"lab {data['name']!r} is not up (leftover containers: {leftover})")
        return
    table = Table(title=f"lab {data['name']} — {'up' if data['up'] else 'NOT fully up'}")
    for column in ("host", "distro", "container", "address", "published on 127.0.0.1"):
        table.add_column(column)
    for host in state["hosts"]:
        ports = ", ".join(f"{c}→{h}" for c, h in sorted(host["ports"].items()))
        table.add_row(
            host["fqdn"],
            host["distro"],
            data["containers"].get(host["container"], "missing"),
            host["ip"],
            ports,
        )
    console.print(table)
    console.print(f"network   {state['network']} {state['subnet']} (bridge {state['bridge']})")
    rule = "in place" if data["egress_rule"] else "MISSING"
    console.print(f"egress    DOCKER-USER drop rule {rule}")
    console.print(f"dns       {state['dns']['ip']} (udp/tcp 127.0.0.1:{state['dns']['port']})")
    console.print(f"inventory {state['inventory']}")


@lab.command(context_settings={"ignore_unknown_options": True})
@lab_option(old_name=True)
@click.argument("host", help="Host of the lab (its short name, e.g. mx1).")
@click.argument(
    "command",
    nargs=-1,
    type=click.UNPROCESSED,
    help="Command to run there (default: a login shell); put -- before it if it has options.",
)
def ssh(lab_name: str, host: str, command: tuple[str, ...]) -> None:
    """Open a shell on HOST (or run COMMAND there) over the lab's SSH key."""
    state = require_lab(lab_name, or_inventory=False)
    target = state.host(host)
    if target is None:
        known = ", ".join(h.name for h in state.hosts)
        raise LabError(f"lab {lab_name!r} has no host {host!r}", hint=f"hosts: {known}")
    args = [
        "ssh",
        "-i",
        str(state.private_key),
        "-p",
        str(target.ssh_port),
        "-o",
        f"UserKnownHostsFile={state.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
        "root@127.0.0.1",
        *command,
    ]
    sys.stdout.flush()
    os.execvp("ssh", args)  # noqa: S606 -- become the ssh client, as `ssh` itself would
