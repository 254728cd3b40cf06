"""The soak recipients' mailboxes, read and emptied as the run goes, the way their users'
clients would: every copy a scan saw is remembered, then what was saved between the run's
start and that scan's is expunged (with doveadm, so Dovecot's indexes stay in step); mail
from before the run stays.

Without it two mailboxes would take every message of half an hour, and each delivery and each
quota check (they open the mailbox and read its new/ directory) would cost more the longer
the run went: the soak would measure the mailboxes' growth, not the stack's steadiness."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from testinfra.host import Host

from harness.bench.delivery import maildir_copies

__all__ = ["Mailboxes"]

#: a message saved this long before a scan began is surely in the Maildir the scan reads
_MARGIN_SECONDS = 2.0


@dataclass
class Mailboxes:
    host: Host
    root: str
    users: tuple[str, ...]
    #: the run's start (epoch): copies from before it are not the run's
    since: float
    #: token -> the times of its copies seen so far (a copy seen by two scans counts once)
    seen: dict[str, set[float]] = field(default_factory=dict)

    def scan(self, want: set[str] | None = None, settle: float = 0.0) -> None:
        """Remember the copies in the Maildirs now; with ``want``, scan again (up to
        ``settle`` seconds) while one of those tokens has not been seen yet."""
        missing = None if want is None else want - self.seen.keys()
        found = maildir_copies(self.host, self.since, self.root, missing, settle)
        for token, times in found.times.items():
            self.seen.setdefault(token, set()).update(times)

    def read_and_empty(self) -> None:
        """Scan, then expunge what the run saved before the scan began."""
        since, before = math.ceil(self.since), int(time.time() - _MARGIN_SECONDS)
        self.scan()
        if before <= since:
            return
        for user in self.users:
            self.host.run_expect(
                [0],
                "doveadm expunge -u %s mailbox '*' savedsince %s savedbefore %s",
                user,
                str(since),
                str(before),
            )

    def copies(self) -> dict[str, list[float]]:
        return {token: sorted(times) for token, times in self.seen.items()}
