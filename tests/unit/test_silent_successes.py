"""A command that did nothing must not look like one that succeeded: an inventory path with a
typo, an inventory that does not parse or names no mail host, a --limit that matches nothing,
an empty recipient list — each is one line on stderr and a non-zero exit. Real Ansible runs
here, against inventories whose hosts are never contacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli_run import mailstack

GOOD = """
all:
  children:
    mail:
      hosts:
        mx1.example.test:
          ansible_host: 127.0.0.1
          ansible_port: 1
"""
NO_MAIL_GROUP = """
all:
  children:
    web:
      hosts:
        www.example.test: {}
"""


def _one_error_line(stderr: str) -> str:
    """The one `error:` line (progress lines with ✗ may stand above it)."""
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("command", ["converge", "verify"])
def test_a_missing_inventory_path_is_an_error(tmp_path: Path, command: str) -> None:
    done = mailstack(command, "-i", str(tmp_path / "nonexistent"), state=tmp_path)
    assert done.returncode == 2
    line = _one_error_line(done.stderr)
    assert "nonexistent" in line
    assert "does not exist" in line
    assert "✓" not in done.stdout + done.stderr  # nothing claims success


@pytest.mark.parametrize("command", ["converge", "verify"])
def test_an_inventory_that_does_not_parse_is_an_error(tmp_path: Path, command: str) -> None:
    bad = tmp_path / "hosts.yml"
    bad.write_text("all: [\n")
    done = mailstack(command, "-i", str(bad), state=tmp_path)
    assert done.returncode == 2
    line = _one_error_line(done.stderr)
    assert str(bad) in line or "hosts.yml" in line
    assert "parse" in line.lower()


@pytest.mark.parametrize("command", ["converge", "verify"])
def test_an_inventory_without_mail_hosts_is_an_error(tmp_path: Path, command: str) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(NO_MAIL_GROUP)
    done = mailstack(command, "-i", str(inventory), state=tmp_path)
    assert done.returncode == 2
    assert "no host in group 'mail'" in _one_error_line(done.stderr)


@pytest.mark.parametrize("command", ["converge", "verify"])
def test_a_limit_that_matches_no_host_is_an_error(tmp_path: Path, command: str) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(GOOD)
    done = mailstack(command, "-i", str(inventory), "--limit", "mx9*", state=tmp_path)
    assert done.returncode == 2
    line = _one_error_line(done.stderr)
    assert "no host in group 'mail'" in line
    assert "mx9*" in line


def test_a_campaign_with_no_recipients_sends_nothing(tmp_path: Path) -> None:
    rows = tmp_path / "list.csv"
    rows.write_text("email,name\n")
    body = tmp_path / "body.j2"
    body.write_text("Hello {{ name }}\n")
    done = mailstack(
        "bench", "campaign", "--recipients", str(rows), "--subject", "Hi", "--body", str(body),
        "--sink", state=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert "no recipients" in _one_error_line(done.stderr)
