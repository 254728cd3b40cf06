"""The faults a chaos run injects into a lab host, one at a time, each with the way it ends.

- ``kill``: SIGKILL to every process of one daemon kind inside the container (found by its
  command name and its parent's, so Postfix's lmtp client and Dovecot's lmtp server are told
  apart); what brings the daemon back is the host's own supervision (systemd, Postfix's master).
- ``restart``: the whole host container killed (no shutdown) and started again.
- ``disk-full``: the receiving mailbox's Maildir put on a small tmpfs and filled; the fault ends
  when the filler is removed and the queue flushed, as an admin would after freeing space.
- ``peer-down``: the path from the host to its peer's port 25 dropped in the lab's firewall
  chain; the fault ends when the rule goes and the queue is flushed.
- ``cpu-starve``: the host's CPU quota cut to a sliver through its cgroup, then restored.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import Literal

from docker import DockerClient

from harness.errors import ChaosError
from harness.lab.containers import wait_for_systemd
from harness.lab.network import FIREWALL_CHAIN, add_rule, remove_rule
from harness.lab.receivers import run_in
from harness.lab.state import HostState, LabState

__all__ = ["KILL_TARGETS", "Fault", "FaultContext", "ProcessKind"]

FaultKind = Literal["kill", "restart", "disk-full", "peer-down", "cpu-starve"]


@dataclass(frozen=True)
class ProcessKind:
    """A daemon's processes: command name ``comm``, and the parent's command name (None: any)."""

    comm: str
    parent: str | None = None
    unit: str = ""


#: what ``kill`` can aim at, by scenario suffix
KILL_TARGETS: dict[str, ProcessKind] = {
    "postfix-master": ProcessKind("master", None, "postfix"),
    "postfix-smtpd": ProcessKind("smtpd", "master", "postfix"),
    "postfix-cleanup": ProcessKind("cleanup", "master", "postfix"),
    "postfix-qmgr": ProcessKind("qmgr", "master", "postfix"),
    "postfix-lmtp": ProcessKind("lmtp", "master", "postfix"),
    "dovecot-lmtp": ProcessKind("lmtp", "dovecot", "dovecot"),
    "dovecot-auth": ProcessKind("auth", "dovecot", "dovecot"),
    "rspamd": ProcessKind("rspamd", None, "rspamd"),
}

#: The filler's name in the full Maildir, and the tmpfs size: small enough to fill at once.
_FILL = ".mailstack-chaos-fill"
_TMPFS_SIZE = "4m"
_STARVED_QUOTA_US = 3000  # of every 100 ms: 3 % of one CPU


@dataclass
class FaultContext:
    """Where a fault lands: the lab, its engine, the host under load, its peer (for
    ``peer-down``) and the Maildir that receives the load (for ``disk-full``)."""

    client: DockerClient
    lab: LabState
    host: HostState
    maildir: str
    peer: HostState | None = None


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    target: str = ""

    def inject(self, ctx: FaultContext) -> str:
        """Put the fault in place; returns what was done, for the report."""
        if self.kind == "kill":
            return _kill(ctx, KILL_TARGETS[self.target])
        if self.kind == "restart":
            ctx.client.containers.get(ctx.host.container).kill()
            return f"docker kill {ctx.host.container}"
        if self.kind == "disk-full":
            return _fill_maildir(ctx)
        if self.kind == "peer-down":
            add_rule(_peer_rule(ctx), "peer-down's rule")
            return f"dropped {ctx.host.ip} -> {_peer(ctx).ip}:25 in {FIREWALL_CHAIN}"
        _cpu_quota(ctx, _STARVED_QUOTA_US)
        return f"cpu quota {_STARVED_QUOTA_US} us per 100 ms"

    def heal(self, ctx: FaultContext) -> str:
        """End the fault (a kill has nothing to undo: supervision brings the daemon back)."""
        if self.kind == "kill":
            return ""
        if self.kind == "restart":
            container = ctx.client.containers.get(ctx.host.container)
            container.start()
            wait_for_systemd(ctx.client, container.id, ctx.host.name)
            return "docker start, systemd up"
        if self.kind == "disk-full":
            _free_maildir(ctx)
            run_in(ctx.client, ctx.host, "postqueue", "-f")
            return "filler removed, postqueue -f"
        if self.kind == "peer-down":
            remove_rule(_peer_rule(ctx))
            run_in(ctx.client, ctx.host, "postqueue", "-f")
            return "rule removed, postqueue -f"
        _cpu_quota(ctx, -1)
        return "cpu quota lifted"

    def cleanup(self, ctx: FaultContext) -> None:
        """Leave the host as it was (the tmpfs Maildir's messages moved onto the disk under it;
        a rule or quota left by a failed run removed). Safe to call twice."""
        if self.kind == "disk-full":
            _unmount_maildir(ctx)
        elif self.kind == "peer-down":
            remove_rule(_peer_rule(ctx))
        elif self.kind == "cpu-starve":
            _cpu_quota(ctx, -1)


# -- kill -----------------------------------------------------------------------------------------


def _pids(ctx: FaultContext, kind: ProcessKind) -> list[str]:
    out = run_in(ctx.client, ctx.host, "ps", "-eo", "pid=,ppid=,comm=", stderr=False)
    rows = [line.split(None, 2) for line in out.splitlines() if line.strip()]
    comm = {pid: name.strip() for pid, _, name in rows}
    return [
        pid
        for pid, ppid, name in rows
        if name.strip() == kind.comm and (kind.parent is None or comm.get(ppid) == kind.parent)
    ]


def _kill(ctx: FaultContext, kind: ProcessKind, wait: float = 15.0) -> str:
    """SIGKILL every process of ``kind``; processes that run on demand (cleanup, lmtp) are
    waited for while the load runs."""
    deadline = time.monotonic() + wait
    while True:
        # Processes that run on demand may exit between the listing and the kill: what was
        # killed is what the shell reports, and an empty kill is tried again.
        pids = _pids(ctx, kind)
        script = "for p in " + " ".join(pids) + "; do kill -9 $p 2>/dev/null && echo $p; done"
        killed = run_in(ctx.client, ctx.host, "sh", "-c", script).split() if pids else []
        if killed:
            return f"kill -9 {kind.comm} ({len(killed)} process(es): {' '.join(killed)})"
        if time.monotonic() > deadline:
            raise ChaosError(
                f"{ctx.host.name}: no {kind.comm} process (parent {kind.parent or 'any'}) ran "
                f"within {wait:.0f} s of load",
                hint=f"is {kind.unit or kind.comm} installed and in use on this host?",
            )
        time.sleep(0.1)


# -- disk full ------------------------------------------------------------------------------------


def _in_dovecot(ctx: FaultContext, script: str) -> str:
    """``script`` in the mount namespace of Dovecot's service: the unit sandboxes it
    (PrivateTmp, ProtectSystem), so a filesystem mounted from outside it would not be the one
    Dovecot writes to."""
    pid = run_in(ctx.client, ctx.host, "systemctl", "show", "-p", "MainPID", "--value", "dovecot")
    if not pid.strip().isdigit() or pid.strip() == "0":
        raise ChaosError(
            f"disk-full: Dovecot does not run on {ctx.host.name}",
            hint=f"mailstack lab ssh {ctx.host.name} -- systemctl status dovecot",
        )
    return run_in(ctx.client, ctx.host, "nsenter", "-t", pid.strip(), "-m", "sh", "-c", script)


def _fill_maildir(ctx: FaultContext) -> str:
    m = shlex.quote(ctx.maildir)
    script = (
        f"set -e; mkdir -p {m}; owner=$(stat -c %u:%g {m}); "
        f"mountpoint -q {m} || mount -t tmpfs -o size={_TMPFS_SIZE},mode=0700 chaos-maildir {m}; "
        f'chown "$owner" {m}; '
        f"dd if=/dev/zero of={m}/{_FILL} bs=64k status=none 2>/dev/null || true; "
        f"df -k --output=avail {m} | tail -1"
    )
    avail = _in_dovecot(ctx, script).strip()
    return f"{ctx.maildir} on a {_TMPFS_SIZE} tmpfs, filled ({avail} KiB left)"


def _free_maildir(ctx: FaultContext) -> None:
    _in_dovecot(ctx, f"rm -f {shlex.quote(ctx.maildir)}/{_FILL}")


def _unmount_maildir(ctx: FaultContext) -> None:
    """Move what was delivered onto the tmpfs to the Maildir underneath (owned as it was),
    then unmount."""
    m = shlex.quote(ctx.maildir)
    script = (
        f"mountpoint -q {m} || exit 0; set -e; owner=$(stat -c %u:%g {m}); "
        f"hold=$(mktemp -d /var/tmp/chaos-maildir.XXXXXX); rm -f {m}/{_FILL}; "
        f"for d in new cur; do mkdir -p $hold/$d; [ ! -d {m}/$d ] || cp -a {m}/$d/. $hold/$d/; "
        f'done; umount {m}; for d in new cur; do mkdir -p {m}/$d; chown "$owner" {m}/$d; '
        f"cp -a $hold/$d/. {m}/$d/; done; rm -rf $hold"
    )
    _in_dovecot(ctx, script)


# -- peer down ------------------------------------------------------------------------------------


def _peer(ctx: FaultContext) -> HostState:
    if ctx.peer is None:
        raise ChaosError(
            f"peer-down: {ctx.host.name} has no peer in lab {ctx.lab.name!r}",
            hint="the lab needs a second mail host (the default topology has mx2)",
        )
    return ctx.peer


def _peer_rule(ctx: FaultContext) -> list[str]:
    peer = _peer(ctx)
    return [
        FIREWALL_CHAIN,
        *("-i", ctx.lab.bridge, "-o", ctx.lab.bridge, "-s", ctx.host.ip, "-d", peer.ip),
        *("-p", "tcp", "--dport", "25", "-j", "DROP"),
    ]


# -- cpu starve -----------------------------------------------------------------------------------


def _cpu_quota(ctx: FaultContext, quota_us: int) -> None:
    container = ctx.client.containers.get(ctx.host.container)
    if container.attrs["HostConfig"].get("NanoCpus"):
        raise ChaosError(
            f"cpu-starve: {ctx.host.name} has a CPU limit from its topology",
            hint="run cpu-starve on a host without resources.cpus",
        )
    container.update(cpu_period=100_000, cpu_quota=quota_us)
