"""The options every command spells the same way: ``--lab``, ``-i``, ``--json``, ``--out``.

One definition each, so a concept has one spelling, one default and one help text across the
CLI; old spellings stay for one release behind :func:`warn_deprecated`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

__all__ = [
    "DEFAULT_LAB",
    "inventory_option",
    "json_option",
    "lab_option",
    "out_option",
    "print_json",
    "resolver_option",
    "warn_deprecated",
]

DEFAULT_LAB = "default"
_F = TypeVar("_F", bound=Callable[..., Any])
_OLD_LAB = "mailstack.old_lab_option"


def warn_deprecated(old: str, new: str) -> None:
    """One line on stderr; the old spelling still works for this release."""
    click.echo(f"warning: {old} is deprecated, use {new} (removed in the next release)", err=True)


def _old_lab_given(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        warn_deprecated("--name", "--lab")
        ctx.meta[_OLD_LAB] = value


def _lab_value(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # Click processes the options given on the command line first, so an old --name has been
    # seen by now; it counts only when --lab itself was not given.
    old = ctx.meta.pop(_OLD_LAB, None)
    if old is not None and ctx.get_parameter_source(param.name or "") is ParameterSource.DEFAULT:
        return str(old)
    return value


def lab_option(
    text: str = "Lab to act on (labs with different names run side by side).",
    *,
    old_name: bool = False,
) -> Callable[[_F], _F]:
    """``--lab NAME`` (default ``default``); ``old_name`` also takes the deprecated --name/-n."""

    def decorate(f: _F) -> _F:
        f = click.option(
            "--lab",
            "lab_name",
            default=DEFAULT_LAB,
            show_default=True,
            metavar="NAME",
            callback=_lab_value,
            help=text,
        )(f)
        if old_name:
            f = click.option(
                "--name",
                "-n",
                "old_lab_name",
                hidden=True,
                expose_value=False,
                callback=_old_lab_given,
                help="Deprecated spelling of --lab.",
            )(f)
        return f

    return decorate


inventory_option = click.option(
    "-i",
    "--inventory",
    metavar="INVENTORY",
    help="Ansible inventory (default: the generated inventory of --lab).",
)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON for machines on stdout (progress: stderr)."
)


def out_option(text: str, default: Path | None = None) -> Callable[[_F], _F]:
    """``--out PATH``: where a command writes its result file."""
    return click.option(
        "--out",
        type=click.Path(path_type=Path, dir_okay=False),
        default=default,
        show_default=default is not None,
        help=text,
    )


def print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _resolver_value(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[str, int] | None:
    if value is None:
        return None
    from harness.dns.query import parse_address  # noqa: PLC0415 -- dnspython

    try:
        return parse_address(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not IP[:PORT] ({exc})") from None


def resolver_option(text: str) -> Callable[[_F], _F]:
    """``--resolver IP[:PORT]``: the one DNS server a command asks, as (ip, port)."""
    return click.option(
        "--resolver", metavar="IP[:PORT]", callback=_resolver_value, default=None, help=text
    )
