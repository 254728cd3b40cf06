"""The sides of the standard set's rounds: the generator on the stack's port 25, smtp-source on
the same port, and the generator on Debian's default Postfix. Each side starts on an empty
queue and empty bench mailboxes, and accounts for every message it had accepted by token."""

from __future__ import annotations

from dataclasses import dataclass, field

from testinfra.host import Host

from harness.bench.baseline import PostfixTools, SourceResult
from harness.bench.delivery import scan_maildirs, scan_mbox, wait_for_drain
from harness.bench.generator import RunResult, run_bench
from harness.bench.metrics import Outcome
from harness.bench.model import SideAccount
from harness.bench.rounds import Side
from harness.bench.spec import BenchSpec
from harness.errors import BenchError

__all__ = ["MailboxReset", "Reference", "StandardSides"]


@dataclass(frozen=True)
class MailboxReset:
    """Empties the bench recipients' mailboxes on a host (with doveadm: Dovecot's indexes
    stay in step with the Maildirs)."""

    host: Host
    users: tuple[str, ...]

    def __call__(self) -> None:
        for user in self.users:
            self.host.run_expect([0], "doveadm expunge -u %s mailbox '*' all", user)


@dataclass(frozen=True)
class Reference:
    """Debian's default Postfix: the load, its host, and the mbox its recipient's mail goes to
    (local delivery to root)."""

    spec: BenchSpec
    host: Host
    mbox: str = "/var/mail/root"


@dataclass
class StandardSides:
    tools: PostfixTools
    stack: BenchSpec
    stack_host: Host
    mail_root: str
    reset: MailboxReset
    ref: Reference | None = None
    drain_timeout: float = 180.0
    accounts: dict[str, SideAccount] = field(default_factory=dict)
    source_runs: list[SourceResult] = field(default_factory=list)

    def all(self) -> dict[str, Side]:
        sides: dict[str, Side] = {"mailstack": self.mailstack, "smtp-source": self.smtp_source}
        if self.ref is not None:
            sides["ref"] = self.reference
        return sides

    def _count(self, side: str, accepted: int, delivered: int, missing: list[str]) -> None:
        account = self.accounts.setdefault(
            side, {"accepted": 0, "delivered": 0, "missing": 0, "missing_tokens": []}
        )
        account["accepted"] += accepted
        account["delivered"] += delivered
        account["missing"] += len(missing)
        account["missing_tokens"] = (account["missing_tokens"] + missing)[:100]

    @staticmethod
    def _delivered_rate(run: RunResult, drain: float | None) -> float:
        """Everything accepted over the time from the first message to an empty queue."""
        if drain is None:
            return 0.0
        return run.metrics.buckets[Outcome.ACCEPTED] / (run.seconds + drain)

    def mailstack(self) -> dict[str, float]:
        self.reset()
        run = run_bench(self.stack)
        drain = wait_for_drain(self.stack_host, self.drain_timeout, run.started + run.seconds)
        tokens = run.metrics.accepted_tokens
        report = scan_maildirs(self.stack_host, tokens, run.started, self.mail_root)
        self._count("mailstack", len(tokens), report.delivered, report.missing)
        self._settle(self.stack_host)
        return {"accepted/s": run.accept_rate, "delivered/s": self._delivered_rate(run, drain)}

    def smtp_source(self) -> dict[str, float]:
        """smtp-source cannot mark its messages; they are counted by the 250s it got."""
        self.reset()
        result = self.tools.smtp_source_like(self.stack)
        wait_for_drain(self.stack_host, self.drain_timeout)
        self._settle(self.stack_host)
        self.source_runs.append(result)
        return {"accepted/s": result.rate}

    def reference(self) -> dict[str, float]:
        ref = self.ref
        if ref is None:
            raise BenchError("the rounds have no reference host")
        run = run_bench(ref.spec)
        drain = wait_for_drain(ref.host, self.drain_timeout, run.started + run.seconds)
        tokens = run.metrics.accepted_tokens
        delivered, missing = scan_mbox(ref.host, ref.mbox, tokens)
        self._count("ref", len(tokens), delivered, missing)
        self._settle(ref.host)
        return {"delivered/s": self._delivered_rate(run, drain)}

    @staticmethod
    def _settle(host: Host) -> None:
        """Write back what the side left dirty (lab hosts share this machine's kernel and
        disk), so its tail does not run into the next side's measurement."""
        host.run("sync")
