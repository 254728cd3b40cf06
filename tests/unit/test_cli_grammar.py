"""One CLI grammar: every option documented, --lab everywhere, old spellings warned about,
and the lab commands fast (no plotting or pytest loaded)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from harness.cli import cli
from tests.unit.cli_run import mailstack as _mailstack

DEPRECATED_NAME = "warning: --name is deprecated, use --lab (removed in the next release)"


def _walk(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(("mailstack", *path)), command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, (*path, name))


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{path}: {param.name}"
        for path, command in _walk(cli)
        for param in command.params
        if isinstance(param, click.Option | click.Argument) and not (param.help or "").strip()
    ]
    assert missing == []
    assert all((command.help or "").strip() for _, command in _walk(cli))


def test_lab_is_spelled_one_way_with_one_default() -> None:
    """Every command that names a lab: --lab (default 'default'), never a visible --name/-n."""
    seen = []
    for path, command in _walk(cli):
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            if param.name == "lab_name":
                seen.append(path)
                assert param.opts == ["--lab"], path
                assert param.default == "default", path
            if "--name" in param.opts or "-n" in param.opts:
                # -n is only bench run's message count; --name/-n for the lab is hidden
                assert param.hidden or (path, param.name) == ("mailstack bench run", "messages")
    expected = {
        "mailstack lab up",
        "mailstack lab down",
        "mailstack lab status",
        "mailstack lab ssh",
        "mailstack converge",
        "mailstack verify",
        "mailstack demo",
        "mailstack bench run",
        "mailstack bench campaign",
        "mailstack bench standard",
    }
    assert expected <= set(seen)


def test_json_is_a_flag_and_out_a_path_everywhere() -> None:
    for path, command in _walk(cli):
        for param in command.params:
            if isinstance(param, click.Option) and "--json" in param.opts:
                # verify keeps --json FILE for one release: the flag form must print
                assert param.is_flag or param.flag_value == "-", path
            if isinstance(param, click.Option) and "--out" in param.opts:
                assert isinstance(param.type, click.Path), path


def test_lab_commands_load_neither_plots_nor_pytest() -> None:
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from harness.cli import cli\n"
        "for args in (['--help'], ['lab', '--help'], ['lab', 'status', '--help']):\n"
        "    result = CliRunner().invoke(cli, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "print(json.dumps([m for m in ('matplotlib', 'pytest', 'harness.bench.report')"
        " if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("spelling", ["--name", "-n"])
def test_old_lab_spelling_warns_and_still_names_the_lab(tmp_path: Path, spelling: str) -> None:
    done = _mailstack("lab", "ssh", spelling, "old", "mx1", state=tmp_path)
    assert done.returncode == 5
    assert _lines(done.stderr) == [
        DEPRECATED_NAME,
        "error: lab 'old' is not up (mailstack lab up --lab old)",
    ]


def test_lab_wins_over_the_old_spelling(tmp_path: Path) -> None:
    done = _mailstack("lab", "ssh", "--lab", "new", "--name", "old", "mx1", state=tmp_path)
    assert done.returncode == 5
    assert DEPRECATED_NAME in done.stderr
    assert "lab 'new' is not up" in done.stderr


def test_verify_json_file_is_deprecated_for_out(tmp_path: Path) -> None:
    done = _mailstack(
        "verify", "--lab", "nolab", "--json", str(tmp_path / "v.json"), state=tmp_path
    )
    assert done.returncode == 5
    assert _lines(done.stderr) == [
        "warning: --json FILE is deprecated, use --out FILE (removed in the next release)",
        "error: lab 'nolab' is not up (mailstack lab up --lab nolab, or pass -i INVENTORY)",
    ]
    flag = _mailstack("verify", "--json", "--lab", "nolab", state=tmp_path)
    assert flag.returncode == 5
    assert "deprecated" not in flag.stderr
    assert flag.stdout == ""


def test_a_usage_mistake_is_one_line(tmp_path: Path) -> None:
    done = _mailstack("bench", "run", "--no-such-option", state=tmp_path)
    assert done.returncode == 2
    lines = _lines(done.stderr)
    assert len(lines) == 1
    assert "--no-such-option" in lines[0]
    assert "mailstack bench run --help" in lines[0]
    bad = _mailstack("bench", "run", "smtp://127.0.0.1:1", "--min-accepted", "lots", state=tmp_path)
    assert bad.returncode == 2
    assert _lines(bad.stderr) == [
        "error: --min-accepted 'lots' is not a percentage (e.g. 99%; 0% lets any run pass)"
    ]


def test_old_report_command_is_hidden_and_warns(tmp_path: Path) -> None:
    assert cli.commands["report"].hidden
    missing = tmp_path / "nothing.json"
    missing.write_text("{}")
    done = _mailstack("report", str(missing), state=tmp_path)
    assert _lines(done.stderr)[0] == (
        "warning: `mailstack report` is deprecated, use `mailstack bench report` "
        "(removed in the next release)"
    )
    assert done.returncode == 2  # not a bench result: the same error as bench report gives
    assert _lines(done.stderr)[1:] == _lines(
        _mailstack("bench", "report", str(missing), state=tmp_path).stderr
    )


@pytest.mark.parametrize("extra", [["--check"], ["--tags", "role::postfix"], ["--diff"]])
def test_timed_reruns_refuse_partial_or_dry_runs(tmp_path: Path, extra: list[str]) -> None:
    """The re-converge time is of whole re-applies: a dry or tagged run would flatter it."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    done = _mailstack(
        "converge", "-i", str(inventory), "--timed-reruns", "5", *extra, state=tmp_path
    )
    assert done.returncode != 0
    assert "--timed-reruns" in done.stderr
    assert "leave out --check, --diff and --tags" in done.stderr
    assert "Traceback" not in done.stderr
