"""The ``mailstack`` command line: the top-level commands, and ``main`` (errors as one line).

``lab`` and ``bench`` live in harness/lab/cli.py and harness/bench/cli.py. Heavy modules (the
pytest runner, plots, the bench generator) are imported inside the commands that use them, so
``mailstack lab status`` and ``--help`` start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.table import Table

from harness import __version__
from harness.bench.cli import bench, report_cmd
from harness.chaos.cli import chaos
from harness.config import paths
from harness.converge import converge_site, reconverge_timed
from harness.dkim.cli import dkim
from harness.dns.cli import dns
from harness.errors import MailstackError
from harness.fleet.cli import fleet
from harness.fuzz.cli import fuzz_cmd
from harness.lab.cli import lab, print_status
from harness.lab.engine import cgroup_version, ensure_engine
from harness.lab.inventory import resolve_inventory
from harness.options import (
    inventory_option,
    json_option,
    lab_option,
    out_option,
    print_json,
    warn_deprecated,
)
from harness.preflight.cli import preflight
from harness.roledocs import stale_role_readmes, write_role_readmes
from harness.soak.cli import soak_cmd
from harness.ui import console, err_console, step

if TYPE_CHECKING:
    from harness.demo import DemoResult

__all__ = ["cli", "main"]

_WITHOUT_I = "Lab whose generated inventory to use when no -i is given."


@click.group()
@click.version_option(__version__, prog_name="mailstack")
def cli() -> None:
    """Provision, verify and benchmark Linux mail servers."""


cli.add_command(lab)
cli.add_command(bench)
cli.add_command(dns)
cli.add_command(dkim)
cli.add_command(preflight)
cli.add_command(chaos)
cli.add_command(fuzz_cmd)
cli.add_command(soak_cmd)
cli.add_command(fleet)


@cli.command()
@json_option
def engine(as_json: bool) -> None:
    """Make sure a Docker engine runs (install docker.io and start dockerd when needed)."""
    with step("Docker engine"):
        version = ensure_engine(paths().engine_log).version()
    info = {
        "version": version.get("Version"),
        "api": version.get("ApiVersion"),
        "cgroup_version": cgroup_version(),
        "log": str(paths().engine_log),
    }
    if as_json:
        print_json(info)
    else:
        console.print(
            f"engine {info['version']} (API {info['api']}), cgroup v{info['cgroup_version']}"
        )


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


@cli.command()
@inventory_option
@lab_option(_WITHOUT_I)
@click.option("--check", is_flag=True, help="Dry run: report what would change.")
@click.option("--diff", is_flag=True, help="Show the changes to files.")
@click.option("--tags", help="Only these role tags (e.g. role::postfix).")
@click.option("--limit", help="Only these hosts (Ansible pattern).")
@click.option(
    "--timed-reruns",
    type=click.IntRange(min=1),
    help="Then re-apply N more times and report each run's seconds and the median "
    "(exit 1 when a re-run changed anything).",
)
@json_option
def converge(
    inventory: str | None,
    lab_name: str,
    check: bool,
    diff: bool,
    tags: str | None,
    limit: str | None,
    timed_reruns: int | None,
    as_json: bool,
) -> None:
    """Apply playbooks/site.yml to an inventory (the lab's by default). On a lab, its DNS then
    serves the zones the inventory makes (DKIM keys the converge made included)."""
    if timed_reruns is not None and (check or diff or tags):
        raise MailstackError(
            "--timed-reruns times whole re-applies",
            hint="leave out --check, --diff and --tags",
        )
    result = converge_site(
        resolve_inventory(lab_name, inventory), check=check, diff=diff, tags=tags, limit=limit
    )
    if inventory is None and not check:
        from harness.lab.zones import publish_lab_zones  # noqa: PLC0415 -- ansible, docker

        with step(f"publish the zones of lab {lab_name!r}") as s:
            s.note = ", ".join(o.rstrip(".") for o in publish_lab_zones(lab_name))
    reruns = None
    if timed_reruns is not None:
        reruns = reconverge_timed(resolve_inventory(lab_name, inventory), timed_reruns, limit)
    if as_json:
        data = {k: v for k, v in result.__dict__.items() if k != "output"}
        if reruns is not None:
            data["reruns"] = reruns.to_json()
        print_json(data)
    elif reruns is not None:
        console.print(
            f"re-runs: {', '.join(f'{s:.1f}' for s in reruns.seconds)} s; "
            f"median {reruns.median:.1f} s; changed {reruns.changed}"
        )
    if reruns is not None and not reruns.idempotent:
        raise MailstackError(
            f"a re-run changed something (changed per run: {reruns.changed})",
            hint="a converged host should need no change: run with --diff to see which",
        )
    if as_json or reruns is not None:
        return
    if diff and result.output:
        console.print(result.output, markup=False, highlight=False)
    for task in result.changed_tasks:
        console.print(f"  changed: {task}")


_JSON_TO_STDOUT = "-"


@cli.command()
@inventory_option
@lab_option(_WITHOUT_I)
@click.option("--limit", help="Only these hosts (Ansible pattern).")
@click.option("-k", "select", help="Only checks matching this pytest -k expression.")
@click.option("--junit-xml", type=click.Path(path_type=Path), help="Write JUnit XML here.")
@click.option(
    "--json",
    "json_arg",
    is_flag=False,
    flag_value=_JSON_TO_STDOUT,
    default=None,
    metavar="",
    help="Print the JSON summary on stdout instead of the table (--json FILE: deprecated, "
    "use --out FILE).",
)
@click.option(
    "--tls-audit",
    is_flag=True,
    help="Also audit every TLS port (25, 587, 465, 993) with testssl.sh: a HIGH or CRITICAL "
    "finding fails verify (installs Debian's testssl.sh when missing; about a minute).",
)
@out_option("Write the JSON summary here.")
def verify(
    inventory: str | None,
    lab_name: str,
    limit: str | None,
    select: str | None,
    junit_xml: Path | None,
    json_arg: str | None,
    tls_audit: bool,
    out: Path | None,
) -> None:
    """Check delivery and security of the mail hosts in an inventory."""
    from harness.verify.runner import print_report, run_verify, write_json  # noqa: PLC0415

    if json_arg not in (None, _JSON_TO_STDOUT):
        warn_deprecated("--json FILE", "--out FILE")
        out = out or Path(str(json_arg))
    report = run_verify(
        resolve_inventory(lab_name, inventory),
        limit=limit,
        junit_xml=junit_xml,
        select=select,
        tls_audit=tls_audit,
    )
    if json_arg == _JSON_TO_STDOUT:
        print_json(report.to_json())
    else:
        print_report(report)
    if out:
        write_json(report, out)
    if not report.ok:
        failed = report.count("failed")
        if not report.results:
            problem = f"no check ran (pytest exit code {report.exit_code})"
        elif failed or report.exit_code:
            problem = f"{failed} of {len(report.results)} check(s) failed"
        else:
            problem = ""
        if report.audit_failed:
            ports = ", ".join(f"{a.host} {a.service}" for a in report.audit_failed)
            problem = "; ".join(p for p in (problem, f"the TLS audit failed on {ports}") if p)
        raise MailstackError(f"verify: {problem}")


@cli.command()
@click.option("--keep", is_flag=True, help="Leave the lab running afterwards.")
@lab_option(old_name=True)
@json_option
@out_option("Write the short bench's JSON result here.", default=Path("bench-results/demo.json"))
def demo(keep: bool, lab_name: str, as_json: bool, out: Path) -> None:
    """The main job: lab up, converge, verify, a short bench, summary, lab down."""
    from harness.demo import run_demo  # noqa: PLC0415 -- pytest, the bench, plots

    result = run_demo(lab_name, keep=keep, out=out)
    if as_json:
        print_json(result.to_json())
    else:
        _print_demo(result)
    problems = result.problems()
    if problems:
        raise MailstackError(f"demo: {'; '.join(problems)}")


def _print_demo(result: DemoResult) -> None:
    from harness.bench.show import print_result  # noqa: PLC0415
    from harness.verify.runner import print_report  # noqa: PLC0415

    print_status(result.status)
    print_report(result.verify)
    print_result(result.bench)
    seconds = result.timings
    again = result.converge_again
    summary = Table(title="mailstack demo")
    summary.add_column("step")
    summary.add_column("seconds", justify="right")
    summary.add_column("result")
    summary.add_row(
        "lab up", f"{seconds['lab up']:.1f}", "already up" if result.already_up else "up"
    )
    summary.add_row("converge", f"{seconds['converge']:.1f}", f"changed={result.converge.changed}")
    summary.add_row(
        "converge again",
        f"{seconds['converge again']:.1f}",
        "idempotent" if again.changed == 0 else f"CHANGED {again.changed}: {again.changed_tasks}",
    )
    summary.add_row(
        "verify",
        f"{seconds['verify']:.1f}",
        f"{result.verify.count('passed')} passed, {result.verify.count('failed')} failed",
    )
    summary.add_row(
        "mail between servers",
        f"{seconds['exchange']:.1f}",
        "\n".join(
            f"{e.sender} -> {e.receiver}: "
            + " ".join(f"{m}={e.results.get(m, 'absent')}" for m in ("dkim", "spf", "dmarc"))
            + (" (TLS)" if "ESMTPS" in e.received else " (NO TLS)")
            for e in result.exchanges
        )
        or "no two servers serve different domains",
    )
    summary.add_row(
        "bench (short)",
        f"{seconds['bench']:.1f}",
        f"{result.bench['accept_rate']:.0f} msg/s on 587; report {result.bench_report}",
    )
    console.print(summary)
    if result.kept:
        # A lab the demo found running is the user's: it stays as it was.
        console.print(f"kept: take it down with `mailstack lab down --lab {result.lab}`")


@cli.command("report", hidden=True)
@click.argument(
    "result", type=click.Path(path_type=Path, exists=True), help="A bench result (JSON)."
)
@click.option("--out-dir", type=click.Path(path_type=Path), help="Default: beside RESULT.")
@click.pass_context
def report_deprecated(ctx: click.Context, result: Path, out_dir: Path | None) -> None:
    """Deprecated: use `mailstack bench report`."""
    warn_deprecated("`mailstack report`", "`mailstack bench report`")
    ctx.invoke(report_cmd, result=result, out_dir=out_dir)


def _one_line(exc: click.UsageError) -> str:
    where = exc.ctx.command_path if exc.ctx else "mailstack"
    return f"{exc.format_message()} (see {where} --help)"


def main() -> None:
    """The console entry point: a user's mistake is one line on stderr and a non-zero exit."""
    try:
        code = cli.main(prog_name="mailstack", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except MailstackError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        err_console.print(f"[red]error:[/] {escape(_one_line(exc))}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
