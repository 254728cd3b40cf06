"""The ``mailstack`` command line."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
from docker import DockerClient
from rich.table import Table

from harness import __version__
from harness.bench.baseline import PostfixTools
from harness.bench.cli import bench, print_ratios, report
from harness.bench.report import write_report
from harness.bench.result import save_result
from harness.bench.standard import StandardSize, run_standard
from harness.config import paths
from harness.errors import MailstackError
from harness.lab.distros import DISTROS, get_distro
from harness.lab.engine import cgroup_version, ensure_engine
from harness.lab.images import ImageBuilder
from harness.lab.inventory import resolve_inventory
from harness.lab.lab import Lab
from harness.lab.packages import role_packages
from harness.lab.topology import Topology, default_topology, load_topology
from harness.provision import PlaybookResult, run_site
from harness.roledocs import stale_role_readmes, write_role_readmes
from harness.ui import console, err_console, step
from harness.verify.runner import print_report, run_verify, write_json

__all__ = ["cli", "main"]

DEFAULT_LAB = "default"
_name_option = click.option(
    "--name", "-n", default=DEFAULT_LAB, show_default=True, help="Lab name (several may run)."
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def _engine() -> DockerClient:
    return ensure_engine(paths().engine_log)


def _topology(path: Path | None) -> Topology:
    return load_topology(path) if path else default_topology()


def _print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group()
@click.version_option(__version__, prog_name="mailstack")
def cli() -> None:
    """Provision, verify and benchmark Linux mail servers."""


@cli.command()
@_json_option
def engine(as_json: bool) -> None:
    """Make sure a Docker engine runs (install docker.io and start dockerd when needed)."""
    with step("Docker engine"):
        client = _engine()
        version = client.version()
    info = {
        "version": version.get("Version"),
        "api": version.get("ApiVersion"),
        "cgroup_version": cgroup_version(),
        "log": str(paths().engine_log),
    }
    if as_json:
        _print_json(info)
    else:
        console.print(
            f"engine {info['version']} (API {info['api']}), cgroup v{info['cgroup_version']}"
        )


@cli.group()
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
@_json_option
def build(distros: tuple[str, ...], as_json: bool) -> None:
    """Build the lab images (debootstrap, then the roles' packages baked in)."""
    client = _engine()
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
        _print_json(results)


@lab.command()
@_name_option
@click.option(
    "--topology",
    "topology_path",
    type=click.Path(path_type=Path),
    help="Topology YAML (default: one Debian 12 host mx1 serving example.test).",
)
@_json_option
def up(name: str, topology_path: Path | None, as_json: bool) -> None:
    """Bring a lab up (a no-op when it already runs)."""
    topology = _topology(topology_path)
    the_lab = Lab(_engine(), paths(), name)
    report = the_lab.up(topology)
    if as_json:
        _print_json(
            {
                "already_up": report.already_up,
                "seconds": round(report.seconds, 1),
                **the_lab.status(),
            }
        )
        return
    if report.already_up:
        console.print(f"lab {name!r} is already up")
    else:
        console.print(f"lab {name!r} up in {report.seconds:.1f} s")
    _print_status(the_lab.status())


@lab.command()
@_name_option
@_json_option
def down(name: str, as_json: bool) -> None:
    """Take a lab down: containers, network, firewall rule and state folder."""
    report = Lab(_engine(), paths(), name).down()
    if as_json:
        _print_json(report.__dict__)
        return
    console.print(
        f"lab {name!r} down in {report.seconds:.1f} s: {report.containers} container(s), "
        f"{report.networks} network(s), {report.rules} firewall rule(s) removed"
    )


@lab.command()
@_name_option
@_json_option
def status(name: str, as_json: bool) -> None:
    """Show a lab: hosts, published ports, DNS, inventory path."""
    data = Lab(_engine(), paths(), name).status()
    if as_json:
        _print_json(data)
    else:
        _print_status(data)


def _print_status(data: dict[str, Any]) -> None:
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
@_name_option
@click.argument("host")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh(name: str, host: str, command: tuple[str, ...]) -> None:
    """Open a shell on HOST (or run COMMAND there) over the lab's SSH key."""
    the_lab = Lab(_engine(), paths(), name)
    state = the_lab.state()
    if state is None:
        raise MailstackError(f"lab {name!r} is not up", hint=f"mailstack lab up --name {name}")
    target = state.host(host)
    if target is None:
        known = ", ".join(h.name for h in state.hosts)
        raise MailstackError(f"lab {name!r} has no host {host!r}", hint=f"hosts: {known}")
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


@cli.command("roles-doc")
@click.option("--check", is_flag=True, help="Only report READMEs that are out of date.")
def roles_doc(check: bool) -> None:
    """Regenerate roles/*/README.md from each role's meta/argument_specs.yml."""
    roles_dir = paths().roles
    if check:
        stale = stale_role_readmes(roles_dir)
        if stale:
            raise MailstackError(
                f"out of date: {', '.join(map(str, stale))}", hint="run mailstack roles-doc"
            )
        return
    for path in write_role_readmes(roles_dir):
        console.print(f"wrote {path}")


_inventory_option = click.option(
    "-i", "--inventory", help="Ansible inventory (default: the lab's generated one)."
)
_lab_option = click.option(
    "--lab", "lab_name", default=DEFAULT_LAB, show_default=True, help="Lab to use without -i."
)


def _converge(
    inventory: str, *, check: bool = False, diff: bool = False, tags: str | None = None
) -> PlaybookResult:
    mode = " (check mode)" if check else ""
    with step(f"converge {inventory}{mode}") as s:
        result = run_site(paths().project, inventory, check=check, diff=diff, tags=tags)
        s.note = f"ok={result.ok} changed={result.changed} failed={result.failed}"
    if not result.success:
        tail = "\n".join(result.output.strip().splitlines()[-25:])
        err_console.print(tail, markup=False, highlight=False)
        raise MailstackError(
            f"playbooks/site.yml failed on {inventory}",
            hint=f"run ansible-playbook -i {inventory} playbooks/site.yml to see all",
        )
    return result


@cli.command()
@_inventory_option
@_lab_option
@click.option("--check", is_flag=True, help="Dry run: report what would change.")
@click.option("--diff", is_flag=True, help="Show the changes to files.")
@click.option("--tags", help="Only these role tags (e.g. role::postfix).")
@_json_option
def converge(
    inventory: str | None, lab_name: str, check: bool, diff: bool, tags: str | None, as_json: bool
) -> None:
    """Apply playbooks/site.yml to an inventory (the lab's by default)."""
    result = _converge(resolve_inventory(lab_name, inventory), check=check, diff=diff, tags=tags)
    if as_json:
        data = {k: v for k, v in result.__dict__.items() if k != "output"}
        _print_json(data)
        return
    if diff and result.output:
        console.print(result.output, markup=False, highlight=False)
    for task in result.changed_tasks:
        console.print(f"  changed: {task}")


@cli.command()
@_inventory_option
@_lab_option
@click.option("--limit", help="Only these hosts (Ansible pattern).")
@click.option("-k", "select", help="Only checks matching this pytest -k expression.")
@click.option("--junit-xml", type=click.Path(path_type=Path), help="Write JUnit XML here.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write a JSON summary.")
def verify(
    inventory: str | None,
    lab_name: str,
    limit: str | None,
    select: str | None,
    junit_xml: Path | None,
    json_path: Path | None,
) -> None:
    """Check delivery and security of the mail hosts in an inventory."""
    report = run_verify(
        resolve_inventory(lab_name, inventory), limit=limit, junit_xml=junit_xml, select=select
    )
    print_report(report)
    if json_path:
        write_json(report, json_path)
    if not report.ok:
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--keep", is_flag=True, help="Leave the lab running afterwards.")
@_name_option
def demo(keep: bool, name: str) -> None:
    """The main job: lab up, converge, verify, a short bench, summary, lab down."""
    client = _engine()
    the_lab = Lab(client, paths(), name)
    timings: dict[str, float] = {}
    report = the_lab.up(default_topology())
    timings["lab up"] = report.seconds
    _print_status(the_lab.status())
    inventory = str(report.state.inventory)
    first = _converge(inventory)
    timings["converge"] = first.seconds
    again = _converge(inventory)
    timings["converge again"] = again.seconds
    checked = run_verify(inventory)
    timings["verify"] = checked.seconds
    print_report(checked)
    started = time.monotonic()
    bench_data = run_standard(
        report.state, PostfixTools(paths().state / "tools"), StandardSize.quick()
    )
    timings["bench"] = time.monotonic() - started
    bench_out = Path("bench-results/demo.json")
    save_result(bench_data, bench_out)
    bench_report = write_report(bench_data, bench_out.parent, bench_out.stem)
    print_ratios(bench_data)
    summary = Table(title="mailstack demo")
    summary.add_column("step")
    summary.add_column("seconds", justify="right")
    summary.add_column("result")
    summary.add_row(
        "lab up", f"{timings['lab up']:.1f}", "already up" if report.already_up else "up"
    )
    summary.add_row("converge", f"{timings['converge']:.1f}", f"changed={first.changed}")
    summary.add_row(
        "converge again",
        f"{timings['converge again']:.1f}",
        "idempotent" if again.changed == 0 else f"CHANGED {again.changed}: {again.changed_tasks}",
    )
    summary.add_row(
        "verify",
        f"{timings['verify']:.1f}",
        f"{checked.count('passed')} passed, {checked.count('failed')} failed",
    )
    summary.add_row(
        "bench (short)",
        f"{timings['bench']:.1f}",
        f"{bench_data['accept_rate']:.0f} msg/s on 587; report {bench_report['html']}",
    )
    console.print(summary)
    if keep or report.already_up:
        # A lab the demo found running is the user's: it stays as it was.
        console.print(f"kept: take it down with `mailstack lab down --name {name}`")
    else:
        with step(f"lab {name!r} down"):
            the_lab.down()
    if not checked.ok or again.changed:
        raise click.exceptions.Exit(1)


cli.add_command(bench)
cli.add_command(report)


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except MailstackError as exc:
        err_console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
