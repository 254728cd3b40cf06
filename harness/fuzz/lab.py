"""The fuzzer against a lab host, and what the host says afterwards: its daemons' memory before
and after, any crash or panic its journal logged meanwhile, and any fuzz message that reached a
mailbox although no client completed it (the mark of a smuggled or half-aborted message)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import testinfra
from testinfra.host import Host

from harness.bench.delivery import maildir_copies
from harness.fuzz.run import fuzz
from harness.fuzz.target import FuzzTarget
from harness.verify.targets import STANDARD_PORTS, Target

__all__ = [
    "SERVICES",
    "LabFuzz",
    "crash_lines",
    "crash_matches",
    "daemon_rss",
    "largest_growth_mib",
    "rss_by_family",
]

#: --service -> (fuzz kind, lab port)
SERVICES: dict[str, tuple[str, int]] = {
    "smtp": ("smtp", STANDARD_PORTS["smtp"]),
    "submission": ("submission", STANDARD_PORTS["submission"]),
    "submissions": ("smtps", STANDARD_PORTS["submissions"]),
    "imap": ("imap", 143),
    "imaps": ("imaps", 993),
}
#: the daemons whose memory is watched: a process counts for the first family its name starts
_FAMILIES = {
    "postfix": ("master", "smtpd", "postscreen", "cleanup", "qmgr", "lmtp", "smtp", "tlsmgr",
                "anvil", "trivial-rewrite", "proxymap", "dnsblog", "tlsproxy", "bounce",
                "pickup", "verify", "scache"),
    "dovecot": ("dovecot", "imap", "imap-login", "auth", "config", "log", "stats", "lmtp",
                "quota-status", "indexer"),
    "rspamd": ("rspamd",),
}  # fmt: skip
#: a daemon's largest process may grow this much over a run before it is a finding (MiB)
RSS_GROWTH_LIMIT_MIB = 64
# What a crash or a panic looks like in the journal of Postfix, Dovecot, rspamd or the kernel.
_CRASH = re.compile(
    r"panic|segfault|core dumped|killed by signal|terminated abnormally|assertion|"
    r"\bfatal:|Fatal:|stack trace|double free|out of memory",
    re.IGNORECASE,
)


def rss_by_family(ps_output: str) -> dict[str, dict[str, Any]]:
    """Per daemon family, from ``ps -eo rss=,comm=`` output: its processes, their resident
    memory in all (KiB), and the largest process of each program (KiB). A leak shows in a
    program's largest process; the total also grows when the master starts more workers for
    more sessions, which it retires when they idle."""
    rss: dict[str, dict[str, Any]] = {
        f: {"processes": 0, "total_kib": 0, "largest_kib": {}} for f in _FAMILIES
    }
    for line in ps_output.splitlines():
        parts = line.split(None, 1)
        if len(parts) != 2 or not parts[0].isdigit():
            continue
        kib, comm = int(parts[0]), parts[1].strip()
        # Postfix's lmtp client and Dovecot's lmtp server share the name: counted as Postfix's.
        family = next((f for f, names in _FAMILIES.items() if comm in names), None)
        if family is not None:
            entry = rss[family]
            entry["processes"] += 1
            entry["total_kib"] += kib
            entry["largest_kib"][comm] = max(entry["largest_kib"].get(comm, 0), kib)
    return rss


def largest_growth_mib(before: dict[str, Any], after: dict[str, Any]) -> float:
    """How much more the largest process of any one program of a family holds after than
    before (MiB; a program that was not running counts from 0)."""
    was, now = before["largest_kib"], after["largest_kib"]
    return round(max((kib - was.get(c, 0) for c, kib in now.items()), default=0) / 1024, 1)


def daemon_rss(host: Host) -> dict[str, dict[str, Any]]:
    """``rss_by_family`` of the processes running on ``host`` now."""
    return rss_by_family(host.run("ps -eo rss=,comm=").stdout)


def crash_matches(journal: str) -> list[str]:
    """The lines of ``journal`` that read like a crash or a panic (at most 50)."""
    return [line for line in journal.splitlines() if _CRASH.search(line)][:50]


def crash_lines(host: Host, since: float) -> list[str]:
    """Journal lines on ``host`` since ``since`` (epoch) that read like a crash or a panic."""
    out = host.run(f"journalctl -o short-unix --no-pager --since=@{int(since)}")
    return crash_matches(out.stdout)


@dataclass(frozen=True)
class LabFuzz:
    """One lab host: what the fuzzer connects to, and a shell on the host (docker exec)."""

    target: Target
    container: str

    def fuzz_target(self, service: str) -> FuzzTarget:
        kind, port = SERVICES[service]
        acc = self.target.accounts
        login = kind in ("submission", "smtps", "imap", "imaps")
        return FuzzTarget(
            host=self.target.lab_ip,
            port=port,
            kind=kind,  # type: ignore[arg-type]
            tls_name=self.target.tls_name,
            ca_file=self.target.ca_file,
            user=acc.mailbox if login else "",
            password=acc.password if login else "",
            rcpt=acc.mailbox,
            sender=acc.mailbox if kind in ("submission", "smtps") else "fuzz@client.test",
        )

    def run(
        self,
        services: tuple[str, ...],
        *,
        cases: int,
        seconds: float,
        seed: int,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Fuzz each service in turn, then look at the host; the result is JSON-ready."""
        host = testinfra.get_host(f"docker://{self.container}")
        started = time.time()
        before = daemon_rss(host)
        runs: dict[str, Any] = {}
        completed: set[str] = set()
        unanswered: set[str] = set()
        for service in services:
            tick = (lambda done, total, s=service: progress(s, done, total)) if progress else None
            report = fuzz(self.fuzz_target(service), cases=cases, seconds=seconds, seed=seed,
                          progress=tick)  # fmt: skip
            data = report.to_json(cases=False)
            completed |= set(data["completed_tokens"])
            unanswered |= set(data["unanswered_tokens"])
            data["sent"] = len(data.pop("sent_tokens"))
            data["completed"] = len(data.pop("completed_tokens"))
            runs[service] = data
        copies = maildir_copies(host, started, self.target.mail_root, completed, 30.0).times
        after = daemon_rss(host)
        fuzz_tokens = {t for t in copies if t.startswith("fuzz")}
        uncompleted = sorted(fuzz_tokens - completed - unanswered)
        lost = sorted(completed - set(copies))
        crashes = crash_lines(host, started)
        growth = {k: largest_growth_mib(before[k], after[k]) for k in before}
        findings = [
            {"kind": "crash", "detail": line} for line in crashes
        ] + [
            {"kind": "delivered-uncompleted", "detail": token} for token in uncompleted
        ] + [
            {"kind": "lost", "detail": f"{token}: a 250 after its data, never in the mailbox"}
            for token in lost
        ] + [
            {"kind": "memory", "detail": f"a {family} process grew {mib} MiB"}
            for family, mib in growth.items()
            if mib > RSS_GROWTH_LIMIT_MIB
        ] + [
            {"kind": f"{service}:{f['kind']}", "detail": f["detail"]}
            for service, data in runs.items()
            for f in data["findings"]
        ]  # fmt: skip
        return {
            "kind": "fuzz",
            "host": self.target.name,
            "seed": seed,
            "runs": runs,
            "rss_kib": {"before": before, "after": after},
            "largest_process_growth_mib": growth,
            "delivered_fuzz_messages": len(fuzz_tokens),
            "findings": findings,
            "ok": not findings,
        }
