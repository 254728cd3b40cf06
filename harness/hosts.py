"""The mail hosts of an inventory as Ansible sees them: the inventory checked before anything
acts on it, and each host's settings resolved the way the roles resolve them (inventory values
over role defaults, per-OS vars and facts), in one ansible-playbook run."""

from __future__ import annotations

import json
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from harness.ansiblecmd import (
    ansible_bin,
    ansible_env,
    ansible_error,
    check_inventory_source,
    no_hosts_error,
    run_playbook,
)
from harness.config import paths
from harness.errors import InventoryError

__all__ = ["group_hostvars", "inventory_groups", "resolve_hosts"]

_RESOLVE_TAG = "mailstack_resolve"


def resolve_hosts(inventory: str, limit: str | None = None) -> dict[str, dict[str, Any]]:
    """Host name -> the settings harness/resolve.yml renders for it (see that file)."""
    project = paths().project
    playbook = Path(str(resources.files("harness") / "resolve.yml"))
    with tempfile.TemporaryDirectory(prefix="mailstack-resolve-") as out:
        args = [
            "--tags",
            _RESOLVE_TAG,
            "-e",
            json.dumps({"mailstack_resolve_dir": out}),
        ]
        if limit:
            args += ["--limit", limit]
        done = run_playbook(
            project,
            playbook,
            inventory,
            args,
            env={"ANSIBLE_ROLES_PATH": str(project / "roles")},
            timeout=600,
        )
        output = done.stdout + done.stderr
        if "no hosts to target" in output or "no hosts matched" in output:
            raise no_hosts_error(inventory, limit)
        if done.returncode != 0:
            raise InventoryError(
                f"cannot read the mail hosts' settings from {inventory}: {ansible_error(output)}",
                hint=f"ansible-playbook -i {inventory} playbooks/site.yml --check shows it all",
            )
        found = {p.stem: json.loads(p.read_text()) for p in sorted(Path(out).glob("*.json"))}
    if not found:
        raise no_hosts_error(inventory, limit)
    return found


def _inventory_list(inventory: str) -> dict[str, Any]:
    """``ansible-inventory --list``: the groups, and ``_meta.hostvars`` (inventory values only)."""
    check_inventory_source(inventory)
    done = subprocess.run(
        [ansible_bin("ansible-inventory"), "-i", inventory, "--list"],
        capture_output=True,
        text=True,
        check=False,
        env=ansible_env(),
        timeout=120,
    )
    if done.returncode != 0:
        raise InventoryError(
            f"cannot read the groups of {inventory}: {ansible_error(done.stdout + done.stderr)}",
            hint=f"ansible-inventory -i {inventory} --graph shows what Ansible reads",
        )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _groups(data: dict[str, Any]) -> dict[str, list[str]]:
    def members(group: str) -> list[str]:
        entry = data.get(group) or {}
        hosts = list(entry.get("hosts") or [])
        for child in entry.get("children") or []:
            hosts += [h for h in members(child) if h not in hosts]
        return hosts

    return {group: members(group) for group in data if group != "_meta"}


def inventory_groups(inventory: str) -> dict[str, list[str]]:
    """Group name -> its hosts (children's included), in the inventory's order."""
    return _groups(_inventory_list(inventory))


def group_hostvars(inventory: str, group: str) -> dict[str, dict[str, Any]]:
    """Each host of ``group`` -> the values its inventory sets for it (group_vars included;
    not templated, no role defaults), in the inventory's order."""
    data = _inventory_list(inventory)
    hostvars = (data.get("_meta") or {}).get("hostvars") or {}
    return {h: dict(hostvars.get(h) or {}) for h in _groups(data).get(group, [])}
