"""Where a lab host's time goes during a bench run: CPU per server component and fsync calls,
read on this machine from the host container's cgroup and /proc while the run goes.

The lab's containers share this machine's kernel, so their processes are visible here: every
``interval`` the sampler lists the container's cgroup, reads each process's CPU time and names
its component from its command line (``smtpd -n smtp ...`` is Postfix smtpd, ``dovecot/lmtp``
is Dovecot's LMTP). A process's share is its CPU at the last sighting minus its CPU at the
first (zero for a process born in the window). What the sightings miss (processes that lived
and died between two of them, and the last moments of those that exited) is in their parent's
count of its exited children's CPU, and charged as "<parent>: exited children" (Postfix's master
reaps its daemons, sshd the commands the bench itself runs over SSH). The cgroup's own counter
is the total; what is left is reported as ``unattributed``, not spread over the rest.

fsyncs come from the kernel's syscall trace events (fsync, fdatasync) in a tracefs instance of
our own that follows the container's processes (its tasks at the start and, by the kernel's
event-fork option, every task they fork). A process no scan sighted (a Dovecot LMTP process
born and gone between two scans) is named from the trace itself: its fork record gives its
parent (Dovecot's or Postfix's master), the fsync record its command (``lmtp``). Writes made
durable by O_SYNC/O_DSYNC open flags are not counted; Postfix and Dovecot use explicit fsync
calls.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.bench.model import Cost, CostRow

__all__ = ["CostSampler", "Traced", "component_of", "group_of", "lab_sampler", "read_trace"]

_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
_TRACEFS = Path("/sys/kernel/tracing")
_FSYNC_EVENTS = ("syscalls/sys_enter_fsync", "syscalls/sys_enter_fdatasync")
_FORK_EVENT = "sched/sched_process_fork"
#: "<comm>-<tid> [cpu] flags time: event: ..." (comm may hold dashes and spaces)
_TRACE_LINE = re.compile(r"^\s*(.+?)-(\d+)\s+\[\d+\]")
_FORK = re.compile(r"sched_process_fork: comm=.* pid=(\d+) child_comm=.* child_pid=(\d+)")
#: families whose children are named "<family> <command>" like their sighted siblings
_NAMED_BY_COMMAND = ("postfix", "dovecot")

_POSTFIX_DAEMONS = frozenset(
    {
        *("anvil", "bounce", "cleanup", "discard", "dnsblog", "error", "flush", "lmtp"),
        *("local", "master", "pickup", "pipe", "postlogd", "postscreen", "proxymap", "qmgr"),
        *("scache", "showq", "smtp", "smtpd", "tlsmgr", "tlsproxy", "trivial-rewrite"),
        *("verify", "virtual"),
    }
)


def _titled(head: str) -> str | None:
    """Daemons that set their process title: rspamd and Dovecot."""
    if head.startswith("rspamd:"):
        # "rspamd: rspamd_proxy process (127.0.0.1:11332)" -> rspamd proxy
        words = head.split()
        return "rspamd " + (words[1] if len(words) > 1 else "main").removeprefix("rspamd_")
    if head.startswith("dovecot/"):
        return "dovecot " + head.removeprefix("dovecot/").split()[0]
    return None


def _postfix(name: str, argv: list[str]) -> str:
    """A Postfix daemon; smtpd is named by its master.cf service when that is not port 25."""
    if name == "smtpd" and "-n" in argv[:-1]:
        service = argv[argv.index("-n") + 1]
        if service not in ("smtp", "smtpd") and not service.endswith(":25"):
            return f"postfix smtpd ({service})"
    return f"postfix {name}"


def component_of(argv: list[str], comm: str) -> str:
    """The server component a process belongs to, from its command line (``argv``) and, when
    that is empty (a kernel thread, a zombie), its ``comm``."""
    if not argv:
        return f"other {comm}"
    titled = _titled(argv[0])
    name = argv[0].rsplit("/", 1)[-1]
    if titled is None and name == "dovecot":
        titled = "dovecot master"
    elif titled is None and name in _POSTFIX_DAEMONS:
        titled = _postfix(name, argv)
    elif titled is None and name.startswith("redis"):
        titled = "redis"
    return titled or f"other {comm}"


def group_of(component: str) -> str:
    """The stacked bar's group: postfix, dovecot, rspamd, redis, other or unattributed."""
    return component.split(" ", 1)[0]


@dataclass
class _Proc:
    pid: int
    ppid: int
    component: str
    #: own CPU, and the CPU of waited-for children that exited, at the first and last sighting
    first_ms: float
    last_ms: float
    first_children_ms: float
    last_children_ms: float
    born_in_window: bool
    alive_at_end: bool = False


@dataclass
class _Window:
    procs: dict[tuple[int, int], _Proc] = field(default_factory=dict)
    by_pid: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Stat:
    comm: str
    ppid: int
    start_ticks: int
    cpu_ms: float  # user + system
    children_ms: float  # user + system of waited-for children that exited


def _stat(pid: int) -> _Stat | None:
    """A live process's /proc/PID/stat; None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is 4, utime 14, stime 15, cutime 16, cstime 17,
    # starttime 22
    return _Stat(
        comm=raw[raw.index("(") + 1 : raw.rindex(")")],
        ppid=int(fields[1]),
        start_ticks=int(fields[19]),
        cpu_ms=(int(fields[11]) + int(fields[12])) * _TICK_MS,
        children_ms=(int(fields[13]) + int(fields[14])) * _TICK_MS,
    )


def _argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def cgroup_dir(pid: int) -> tuple[Path, int]:
    """The cgroup directory of process ``pid`` (the container's init) and the cgroup version."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):
            return Path("/sys/fs/cgroup/cpuacct") / path.lstrip("/"), 1
        if controllers == "":
            unified = Path("/sys/fs/cgroup") / path.lstrip("/")
            if (unified / "cpu.stat").exists():
                return unified, 2
    raise OSError(f"no cpuacct or unified cgroup for pid {pid}")


def _cgroup_cpu_ms(directory: Path, version: int) -> float:
    if version == 1:
        return int((directory / "cpuacct.usage").read_text()) / 1e6
    for line in (directory / "cpu.stat").read_text().splitlines():
        key, value = line.split()
        if key == "usage_usec":
            return int(value) / 1e3
    raise OSError(f"{directory}/cpu.stat has no usage_usec")


def _cgroup_pids(directory: Path) -> list[int]:
    pids: list[int] = []
    for procs in directory.rglob("cgroup.procs"):
        try:
            pids.extend(int(p) for p in procs.read_text().split())
        except OSError:
            continue
    return pids


def _cgroup_tasks(directory: Path) -> list[int]:
    """Every task (thread) id in the cgroup: a trace filtered by pid sees tasks, not
    processes."""
    tids: list[int] = []
    for name in ("tasks", "cgroup.threads"):  # cgroup v1, v2
        for tasks in directory.rglob(name):
            try:
                tids.extend(int(t) for t in tasks.read_text().split())
            except OSError:
                continue
    return sorted(set(tids)) or _cgroup_pids(directory)


def _mount_tracefs() -> None:
    """Mount the kernel's tracing filesystem where it belongs when nothing has (a fresh
    machine: Debian mounts it only with systemd's sys-kernel-tracing.mount); root only."""
    if (_TRACEFS / "instances").is_dir():
        return
    if os.geteuid() != 0:
        raise OSError(f"tracefs is not mounted at {_TRACEFS} (mounting it needs root)")
    done = subprocess.run(
        ["mount", "-t", "tracefs", "tracefs", str(_TRACEFS)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not (_TRACEFS / "instances").is_dir():
        raise OSError(f"cannot mount tracefs at {_TRACEFS}: {done.stderr.strip()}")


@dataclass
class Traced:
    """What the trace saw: fsync calls per task id, each calling task's command, and the
    parent of every task forked while it ran."""

    calls: dict[int, int] = field(default_factory=dict)
    comms: dict[int, str] = field(default_factory=dict)
    parents: dict[int, int] = field(default_factory=dict)

    def component(self, tid: int, sighted: dict[int, str]) -> str:
        """The component of task ``tid``: as a scan sighted it, else from its parent (a
        thread, or a fork that kept its parent's command, is its parent's; a daemon its
        Postfix or Dovecot master started is "<family> <command>"). A scan that caught a
        process only as it exited (no command line left: "other lmtp") yields to its parent."""
        known = sighted.get(tid, "")
        if known and not known.startswith("other "):
            return known
        comm = self.comms.get(tid, "")
        parent, seen = self.parents.get(tid), {tid}
        while parent is not None and parent not in seen:
            if parent in sighted:
                owner = sighted[parent]
                if comm == self.comms.get(parent, comm) or not comm:
                    return owner
                family = group_of(owner)
                return f"{family} {comm}" if family in _NAMED_BY_COMMAND else f"other {comm}"
            seen.add(parent)
            parent = self.parents.get(parent)
        return known or (f"other {comm}" if comm else "")


def read_trace(lines: Iterable[str]) -> Traced:
    """The trace file's lines: fork records and fsync/fdatasync calls."""
    traced = Traced()
    for line in lines:
        match = _TRACE_LINE.match(line)
        if not match:
            continue  # the header's comment lines
        comm, tid = match.group(1).strip(), int(match.group(2))
        fork = _FORK.search(line)
        if fork:
            parent, child = int(fork.group(1)), int(fork.group(2))
            traced.parents[child] = parent
            traced.comms.setdefault(parent, comm)
            continue
        traced.calls[tid] = traced.calls.get(tid, 0) + 1
        traced.comms[tid] = comm
    return traced


class _FsyncTrace:
    """fsync and fdatasync calls of some tasks and of every task they fork, in a tracefs
    instance of our own."""

    def __init__(self) -> None:
        self.instance = _TRACEFS / "instances" / f"mailstack-cost-{os.getpid()}-{id(self)}"
        self.error: str | None = None

    def start(self, tids: Iterable[int]) -> None:
        try:
            _mount_tracefs()
            self.instance.mkdir()
            (self.instance / "buffer_size_kb").write_text("8192")
            (self.instance / "set_event_pid").write_text(" ".join(str(t) for t in tids))
            (self.instance / "options" / "event-fork").write_text("1")
            for event in (*_FSYNC_EVENTS, _FORK_EVENT):
                (self.instance / "events" / event / "enable").write_text("1")
        except OSError as exc:
            self.error = f"fsyncs not counted: {exc}"
            self._remove()

    def stop(self) -> Traced | None:
        """What the trace saw; None when tracing was unavailable."""
        if self.error is not None:
            return None
        try:
            (self.instance / "tracing_on").write_text("0")
            lost = sum(
                int(line.split()[1])
                for stats in (self.instance / "per_cpu").glob("cpu*/stats")
                for line in stats.read_text().splitlines()
                if line.startswith("overrun:")
            )
            with (self.instance / "trace").open() as trace:
                traced = read_trace(trace)
            if lost:
                self.error = f"{lost} fsync events overran the trace buffer"
            return traced
        except OSError as exc:
            self.error = f"fsyncs not counted: {exc}"
            return None
        finally:
            self._remove()

    def _remove(self) -> None:
        if self.instance.exists():
            for event in (*_FSYNC_EVENTS, _FORK_EVENT):
                enable = self.instance / "events" / event / "enable"
                with contextlib.suppress(OSError):
                    enable.write_text("0")
            self.instance.rmdir()


class CostSampler:
    """Samples one lab container's processes while a run goes (a context manager); then
    ``result(messages)`` is the breakdown per message."""

    def __init__(self, container_pid: int, interval: float = 0.25) -> None:
        self.directory, self.version = cgroup_dir(container_pid)
        self.interval = interval
        self._window = _Window()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._fsyncs = _FsyncTrace()
        self._traced: Traced | None = None
        self._cpu_start = self._cpu_end = 0.0
        self._started = self._ended = 0.0

    def _scan(self, *, initial: bool = False, final: bool = False) -> None:
        window = self._window
        for pid in _cgroup_pids(self.directory):
            stat = _stat(pid)
            if stat is None:
                continue
            proc = window.procs.get((pid, stat.start_ticks))
            if proc is None:
                component = component_of(_argv(pid), stat.comm)
                proc = _Proc(
                    pid=pid,
                    ppid=stat.ppid,
                    component=component,
                    first_ms=stat.cpu_ms if initial else 0.0,
                    last_ms=stat.cpu_ms,
                    first_children_ms=stat.children_ms,
                    last_children_ms=stat.children_ms,
                    born_in_window=not initial,
                )
                window.procs[(pid, stat.start_ticks)] = proc
                window.by_pid[pid] = component
            proc.last_ms = stat.cpu_ms
            proc.last_children_ms = stat.children_ms
            proc.alive_at_end = final

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._scan()

    def __enter__(self) -> CostSampler:
        self._fsyncs.start(_cgroup_tasks(self.directory))
        self._cpu_start = _cgroup_cpu_ms(self.directory, self.version)
        self._started = time.monotonic()
        self._scan(initial=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._scan(final=True)
        self._cpu_end = _cgroup_cpu_ms(self.directory, self.version)
        self._ended = time.monotonic()
        self._traced = self._fsyncs.stop()

    def _fsyncs_by_component(self) -> dict[str, int] | None:
        traced = self._traced
        if traced is None:
            return None
        sighted = self._window.by_pid
        out: dict[str, int] = {}
        for tid, calls in traced.calls.items():
            tgid = _tgid(tid)  # a thread of a live process: the process
            component = traced.component(tgid if tgid in sighted else tid, sighted)
            if component:
                out[component] = out.get(component, 0) + calls
        return out

    def _cpu_by_component(self) -> tuple[dict[str, float], dict[str, int]]:
        """CPU ms and processes per component. A process that exited is charged up to its last
        sighting; the rest of its life, and children never sighted at all, show in its parent's
        count of exited children's CPU, charged as "<parent>: exited children"."""
        cpu: dict[str, float] = {}
        count: dict[str, int] = {}
        exited_sighted: dict[int, float] = {}  # parent pid -> its exited children's sighted CPU
        for proc in self._window.procs.values():
            used = max(proc.last_ms - proc.first_ms, 0.0)
            cpu[proc.component] = cpu.get(proc.component, 0.0) + used
            count[proc.component] = count.get(proc.component, 0) + 1
            if not proc.alive_at_end:
                # the parent's children count holds the whole life (before the window too)
                exited_sighted[proc.ppid] = exited_sighted.get(proc.ppid, 0.0) + proc.last_ms
        for proc in self._window.procs.values():
            if not proc.alive_at_end or proc.born_in_window:
                continue
            grown = proc.last_children_ms - proc.first_children_ms
            unsighted = grown - exited_sighted.get(proc.pid, 0.0)
            if unsighted > 0:
                key = _children_of(proc.component)
                cpu[key] = cpu.get(key, 0.0) + unsighted
                count.setdefault(key, 0)
        return cpu, count

    def result(self, messages: int) -> Cost:
        """The breakdown, per message of ``messages`` (the run's accepted messages)."""
        per = max(messages, 1)
        cpu, count = self._cpu_by_component()
        fsyncs = self._fsyncs_by_component()
        total = self._cpu_end - self._cpu_start
        rows: list[CostRow] = []
        # a component only the trace names (its processes never sighted) is a row as well
        for component in sorted({*cpu, *(fsyncs or {})}, key=lambda c: -cpu.get(c, 0.0)):
            calls = None if fsyncs is None else fsyncs.get(component, 0)
            used = cpu.get(component, 0.0)
            if used < 0.5 and not calls:
                continue
            rows.append(_row(component, used, count.get(component, 0), calls, per))
        unattributed = max(total - sum(cpu.values()), 0.0)
        rows.append(_row("unattributed", unattributed, 0, None, per))
        total_fsyncs = None if fsyncs is None else sum(fsyncs.values())
        return {
            "seconds": round(self._ended - self._started, 3),
            "messages": messages,
            "interval_ms": round(self.interval * 1000),
            "cpu_ms": round(total, 1),
            "cpu_ms_per_message": round(total / per, 3),
            "cpu_share": round(total / max((self._ended - self._started) * 1000, 1e-9), 3),
            "fsyncs": total_fsyncs,
            "fsyncs_per_message": None if total_fsyncs is None else round(total_fsyncs / per, 2),
            "fsync_note": self._fsyncs.error,
            "rows": rows,
        }


def _children_of(component: str) -> str:
    """The row for the exited children of a process of ``component``; those of sshd are the
    commands run over SSH (the bench's own queue probes among them)."""
    if component == "other sshd":
        return "other ssh commands"
    return f"{component}: exited children"


def lab_sampler(container: str) -> CostSampler | str:
    """A sampler for the lab container ``container``, or why there can be none."""
    import docker.errors  # noqa: PLC0415 -- the Docker SDK, only for lab hosts

    from harness.lab.engine import connect  # noqa: PLC0415

    client = connect()
    if client is None:
        return "no Docker engine answers"
    try:
        pid = int(client.containers.get(container).attrs["State"]["Pid"])
        if pid <= 0:
            return f"container {container} is not running"
        return CostSampler(pid)
    except (OSError, ValueError, KeyError, docker.errors.DockerException) as exc:
        return f"cannot sample container {container}: {exc}"
    finally:
        client.close()


def _row(component: str, cpu_ms: float, processes: int, fsyncs: int | None, per: int) -> CostRow:
    return {
        "component": component,
        "group": group_of(component),
        "processes": processes,
        "cpu_ms": round(cpu_ms, 1),
        "cpu_ms_per_message": round(cpu_ms / per, 3),
        "fsyncs": fsyncs,
        "fsyncs_per_message": None if fsyncs is None else round(fsyncs / per, 2),
    }


def _tgid(tid: int) -> int:
    try:
        for line in Path(f"/proc/{tid}/status").read_text().splitlines():
            if line.startswith("Tgid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return tid
