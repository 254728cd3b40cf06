"""Ansible as the harness runs it: the venv's commands, one environment, one way to run a
playbook from the project, and errors that say in one line what was wrong with an inventory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.errors import InventoryError

__all__ = [
    "MAIL_GROUP",
    "ansible_bin",
    "ansible_env",
    "ansible_error",
    "check_inventory_source",
    "no_hosts_error",
    "run_playbook",
]

#: The group site.yml configures and the checks cover.
MAIL_GROUP = "mail"


def ansible_bin(name: str) -> str:
    """An Ansible command from the venv the harness runs in (else from PATH)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else name


def ansible_env() -> dict[str, str]:
    """The environment every Ansible run of the harness gets: an inventory source that does not
    parse is an error (not a warning followed by zero hosts), and no colour in what is parsed."""
    return {
        **os.environ,
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        # Role defaults stay visible to the play (resolve.yml reads them after the roles).
        "ANSIBLE_PRIVATE_ROLE_VARS": "False",
    }


def check_inventory_source(inventory: str) -> None:
    """A missing inventory path fails here, in one line, before Ansible reads it as empty."""
    if "," in inventory:  # an inline host list ("mx1.example.test,")
        return
    if not Path(inventory).exists():
        raise InventoryError(
            f"inventory {inventory!r} does not exist",
            hint="pass -i with an inventory file or folder, e.g. -i inventory/example",
        )


def ansible_error(output: str) -> str:
    """The line that says why an Ansible run failed, with where, from its output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith(("[ERROR]:", "ERROR!")):
            message = line.split(":", 1)[1].strip() if line.startswith("[") else line[6:].strip()
            origin = next((ln for ln in lines[i + 1 : i + 12] if ln.startswith("Origin:")), "")
            return f"{message} ({origin})" if origin else message
    failed = [ln for ln in lines if ln.startswith(("fatal:", "UNREACHABLE", "failed:"))]
    return (failed or lines[-1:] or ["no output"])[0][:400]


def no_hosts_error(inventory: str, limit: str | None) -> InventoryError:
    matched = f" matched by --limit {limit!r}" if limit else ""
    return InventoryError(
        f"no host in group {MAIL_GROUP!r} of {inventory}{matched}",
        hint=f"put the mail servers in the group {MAIL_GROUP!r}"
        + (", or fix the --limit pattern" if limit else ""),
    )


def run_playbook(
    project: Path,
    playbook: Path,
    inventory: str,
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook PLAYBOOK on INVENTORY from the project folder (its ansible.cfg)."""
    check_inventory_source(inventory)
    return subprocess.run(
        [ansible_bin("ansible-playbook"), "-i", inventory, str(playbook), *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**ansible_env(), **(env or {})},
    )
