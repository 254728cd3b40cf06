"""What every bench command shares: the target options (URL's alternative), --min-accepted,
and the ending: save, show, and fail with one line when a run missed its bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from harness.bench.gate import parse_min_accepted, rounds_shortfall, shortfall
from harness.bench.model import BenchResult
from harness.bench.targets import SERVICES, BenchTarget
from harness.errors import BenchFailedError
from harness.options import inventory_option, lab_option, print_json
from harness.ui import err_console

if TYPE_CHECKING:
    from testinfra.host import Host

__all__ = [
    "delivery_host",
    "finish",
    "mailbox_host",
    "min_accepted_option",
    "save",
    "target_options",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def target_options(service: str) -> Callable[[_F], _F]:
    """URL's alternative, the same on every bench command: -i / --lab, --host, --service."""

    def decorate(f: _F) -> _F:
        for option in reversed(
            (
                inventory_option,
                lab_option("Lab whose generated inventory to use when neither URL nor -i."),
                click.option("--host", help="Mail host of the inventory (default: the first)."),
                click.option(
                    "--service",
                    type=click.Choice(SERVICES),
                    default=service,
                    show_default=True,
                    help="Port of --host to load.",
                ),
            )
        ):
            f = option(f)
        return f

    return decorate


min_accepted_option = click.option(
    "--min-accepted",
    metavar="PCT",
    callback=lambda _ctx, _param, value: parse_min_accepted(value),
    help="Exit 1 when fewer than PCT of the messages are accepted (e.g. 99%); "
    "default: when none is; 0% lets any run pass.",
)


def delivery_host(target: BenchTarget) -> Host | None:
    """A connection to the mail host behind ``target``, to track its queue and Maildirs."""
    from harness.remote import inventory_host  # noqa: PLC0415 -- testinfra, only when tracking

    if target.host is None or target.inventory is None:
        return None
    return inventory_host(target.host.name, target.inventory)


def mailbox_host(target: BenchTarget) -> Host | None:
    """A connection to the host that holds ``target``'s mailboxes when that is another host
    (a fleet's backend behind its MX); None when they are on the target itself."""
    from harness.remote import inventory_host  # noqa: PLC0415 -- testinfra, only when tracking

    if target.host is None or target.inventory is None or target.host.mailboxes is None:
        return None
    return inventory_host(target.host.mailboxes.name, target.inventory)


def finish(label: str, data: BenchResult, min_accepted: float | None, as_json: bool) -> None:
    """Show the result, then fail with one line when a run missed its bar."""
    if as_json:
        print_json(data)
    else:
        from harness.bench.show import print_result  # noqa: PLC0415

        print_result(data)
    if data["kind"] == "suite":
        runs = {f"{label}, run {name}": run for name, run in data["runs"].items()}
    else:
        runs = {label: data}
    reasons = [
        reason for name, run in runs.items() if (reason := shortfall(name, run, min_accepted))
    ]
    if data["kind"] == "suite" and (lost := rounds_shortfall(data)):
        reasons.append(f"{label}, {lost}")
    if reasons:
        raise BenchFailedError("; ".join(reasons))


def save(data: BenchResult, out: Path, *, report: bool) -> None:
    from harness.bench.result import save_result  # noqa: PLC0415

    save_result(data, out)
    if report:
        from harness.bench.report import write_report  # noqa: PLC0415 -- matplotlib

        written = write_report(data, out.parent, out.stem)
        err_console.print(f"result: {out}; report: {written['html']}")
    else:
        err_console.print(f"result: {out}")
