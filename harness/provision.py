"""Running playbooks/site.yml against an inventory and reading what it did."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.ansiblecmd import ansible_error, no_hosts_error, run_playbook
from harness.errors import InventoryError, MailstackError

__all__ = ["PlaybookResult", "run_site"]

_RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)"
)
_TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.+?)\]")


@dataclass
class PlaybookResult:
    returncode: int
    seconds: float
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    #: the hosts in the play recap
    hosts: list[str] = field(default_factory=list)
    #: "host: role : task" for every task that reported a change
    changed_tasks: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def success(self) -> bool:
        return self.returncode == 0 and self.failed == 0 and self.unreachable == 0


def parse_output(text: str, result: PlaybookResult) -> None:
    task = ""
    for line in text.splitlines():
        if m := _TASK.match(line):
            task = m["name"]
        elif line.startswith("changed: ["):
            # "changed: [mx1]", or "changed: [mx1 -> localhost]" for a delegated task
            host = line[len("changed: [") :].split("]", 1)[0].split(" -> ", 1)[0]
            result.changed_tasks.append(f"{host}: {task}")
        elif m := _RECAP.match(line):
            result.hosts.append(m["host"])
            result.ok += int(m["ok"])
            result.changed += int(m["changed"])
            result.failed += int(m["failed"])
            result.unreachable += int(m["unreachable"])


def run_site(
    project: Path,
    inventory: str,
    *,
    check: bool = False,
    diff: bool = False,
    tags: str | None = None,
    extra_vars: list[str] | None = None,
    limit: str | None = None,
    playbook_name: str = "site.yml",
) -> PlaybookResult:
    """Run ``playbooks/site.yml`` (or another of the project's playbooks: rolling.yml) on
    ``inventory`` from the project folder (its ansible.cfg)."""
    playbook = project / "playbooks" / playbook_name
    if not playbook.is_file():
        raise MailstackError(f"no playbook at {playbook}", hint="run from the mailstack project")
    cmd: list[str] = []
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if tags:
        cmd += ["--tags", tags]
    if limit:
        cmd += ["--limit", limit]
    for item in extra_vars or []:
        cmd += ["-e", item]
    started = time.monotonic()
    done = run_playbook(project, playbook, inventory, cmd)
    result = PlaybookResult(
        returncode=done.returncode,
        seconds=time.monotonic() - started,
        output=done.stdout + done.stderr,
    )
    parse_output(done.stdout, result)
    if "no hosts to target" in result.output or (result.success and not result.hosts):
        # An inventory with no mail host would otherwise look like a converged fleet.
        raise no_hosts_error(inventory, limit)
    if result.returncode != 0 and not result.hosts:
        raise InventoryError(
            f"playbooks/{playbook_name} could not start on {inventory}: "
            f"{ansible_error(result.output)}",
            hint=f"check it with ansible-inventory -i {inventory} --graph",
        )
    return result
