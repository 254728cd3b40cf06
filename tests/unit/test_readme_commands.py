"""The README cannot drift from the CLI: every `mailstack ...` line in its code blocks names a
real command, whose --help works, and only options that command has (in their current
spelling: deprecated ones are hidden and do not count)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from harness.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")
_PROGRAM = re.compile(r"^(?:\.venv/bin/)?mailstack(?:\s|$)")


def _code_blocks() -> list[list[str]]:
    """Each code block as its logical lines: continuations joined, comments dropped."""
    blocks = []
    for body in _FENCE.findall(README.read_text(encoding="utf-8")):
        lines: list[str] = []
        pending = ""
        for raw in body.splitlines():
            text = pending + raw.strip()
            if text.endswith("\\"):
                pending = text[:-1] + " "
                continue
            pending = ""
            lines.append(re.sub(r"\s+#\s.*$", "", text).strip())
        blocks.append([line for line in lines if line])
    return blocks


def _readme_commands() -> list[str]:
    return [line for block in _code_blocks() for line in block if _PROGRAM.match(line)]


def _resolve(line: str) -> tuple[list[str], click.Command]:
    """The command path a README line names ('bench', 'run') and its click command."""
    words = line.split()[1:]
    path: list[str] = []
    command: click.Command = cli
    for word in words:
        if not isinstance(command, click.Group) or word not in command.commands:
            break
        command = command.commands[word]
        path.append(word)
    return path, command


def test_readme_opens_with_the_two_setup_commands() -> None:
    first = _code_blocks()[0]
    assert first == ["make demo", "make test"]


def test_readme_shows_every_command_group() -> None:
    named = {tuple(_resolve(line)[0][:1]) for line in _readme_commands()}
    assert {("lab",), ("bench",), ("converge",), ("verify",)} <= named


@pytest.mark.parametrize("line", _readme_commands())
def test_readme_command_exists_with_its_options(line: str) -> None:
    path, command = _resolve(line)
    assert path, f"{line!r} names no mailstack command"
    assert not isinstance(command, click.Group), f"{line!r} stops at the group {path}"
    assert not command.hidden, f"{line!r} shows a deprecated command"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    ctx = click.Context(command, info_name=path[-1])
    known = {
        opt
        for param in command.get_params(ctx)
        if isinstance(param, click.Option) and not param.hidden
        for opt in (*param.opts, *param.secondary_opts)
    }
    named = set(_OPTION.findall(line.split(None, len(path) + 1)[-1]))
    assert named <= known, f"{line!r}: not options of mailstack {' '.join(path)}"
