"""One soak run against a lab host: the chaos clients (open loop, retrying, a token in every
message) at a fixed rate for the whole run while the host's queue depth and its daemons'
memory are sampled and the recipients' mailboxes read and emptied; then the queue drains and
every token the clients got a 250 for is looked for among the copies seen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from testinfra.host import Host

from harness.bench.delivery import QueueSampler, queued_reasons, wait_for_drain
from harness.chaos.sender import Attempt, BackgroundSend, SendLog
from harness.fuzz.lab import daemon_rss
from harness.soak.mailboxes import Mailboxes
from harness.soak.peak import Peak
from harness.soak.plan import SoakPlan
from harness.soak.result import Observed, soak_result
from harness.soak.target import SoakTarget
from harness.soak.windows import RssSample

__all__ = ["run_soak"]

#: how long the queue gets to empty after the load, and the Maildirs to show the last copies
_DRAIN_SECONDS = 180.0
_SETTLE_SECONDS = 30.0


def _watch_until_sent(
    clients: BackgroundSend,
    host: Host,
    started: float,
    plan: SoakPlan,
    rss: list[RssSample],
    mailboxes: Mailboxes,
) -> SendLog:
    """The daemons' memory every ``sample_every`` seconds (seconds since ``started``), the
    mailboxes read and emptied every ``empty_every``, until the clients are done (the queue's
    own sampler runs beside it); their log."""
    next_empty = time.monotonic() + plan.empty_every
    while True:
        rss.append((time.time() - started, daemon_rss(host)))
        if plan.empty_every and time.monotonic() >= next_empty:
            mailboxes.read_and_empty()
            next_empty = time.monotonic() + plan.empty_every
        if clients.wait(plan.sample_every):
            return clients.result()


def run_soak(
    target: SoakTarget,
    plan: SoakPlan,
    rate: float,
    peak: Peak | None = None,
    *,
    on_attempt: Callable[[Attempt], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Send at ``rate`` for the plan's minutes and account for every message; the result
    is JSON-ready (``peak``: what ``rate`` was taken from, if it was measured)."""
    plan.check()
    phase = on_phase or (lambda _text: None)
    host = target.shell
    started = time.time()
    rss: list[RssSample] = []
    mailboxes = Mailboxes(host, target.mail_root, target.recipients, started)
    with QueueSampler(host, started) as queue:
        clients = BackgroundSend(target.send_plan(rate, plan.seconds, plan.sessions), on_attempt)
        log = _watch_until_sent(clients, host, started, plan, rss, mailboxes)
        phase("queue drains")
        drain = wait_for_drain(host, timeout=_DRAIN_SECONDS)
        rss.append((time.time() - started, daemon_rss(host)))
    still = queued_reasons(host) if drain is None else {}
    phase("account for every token")
    mailboxes.scan(set(log.accepted), _SETTLE_SECONDS)
    # The samplers started a moment before the clients: their times on the clients' axis.
    shift = log.started - started
    seen = Observed(
        log=log,
        copies=mailboxes.copies(),
        drain=drain,
        still_queued=still,
        queue=[(round(at - shift, 2), depth) for at, depth in queue.samples],
        rss=[(at - shift, sample) for at, sample in rss],
    )
    return {
        "lab": target.lab,
        "host": target.host,
        **soak_result(plan, rate, peak, seen),
    }
