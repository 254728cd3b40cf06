"""The client side of a chaos run: messages at a fixed rate (open loop), each carrying a token,
sent the way a real client sends them — a 4xx reply, a dropped connection or a timeout makes it
try the same message again later (same token, so a second copy shows up as a duplicate, never as
a new message); a 5xx is final. Every attempt is logged with its time, so the report can show
what the clients saw around the fault."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import uvloop

from harness.bench.client import Session, SessionError, open_session
from harness.bench.generator import build_message
from harness.bench.metrics import Metrics, Outcome
from harness.bench.spec import TargetURL

__all__ = [
    "Attempt",
    "BackgroundSend",
    "SendLog",
    "SendPlan",
    "attempt_counter",
    "send_with_retries",
]


@dataclass(frozen=True)
class SendPlan:
    """What to send: ``rate`` messages a second for ``seconds`` to ``recipients`` (one each,
    in turn) through ``target``; a message not accepted is tried again after a back-off that
    doubles from ``retry_min`` up to ``retry_max`` seconds, until ``give_up_after`` seconds
    after it was first due."""

    target: TargetURL
    sender: str
    recipients: tuple[str, ...]
    rate: float
    seconds: float
    sessions: int = 4
    size: int = 2048
    timeout: float = 20.0
    retry_min: float = 0.5
    retry_max: float = 8.0
    give_up_after: float = 300.0
    #: what each message's token starts with (then a random run id and a counter): the tool
    label: str = "chaos"
    #: more servers for the same mail, as a domain's further MX hosts: client session i starts
    #: at server i (of target, then these, in turn) and, as a sending MTA does, goes on to the
    #: next one when a server does not let it in (refused, reset, no greeting, a 4xx at it)
    fallbacks: tuple[TargetURL, ...] = ()

    @property
    def messages(self) -> int:
        return max(1, round(self.rate * self.seconds))

    def servers(self, session: int) -> tuple[TargetURL, ...]:
        """The servers client session ``session`` tries, in its order."""
        every = (self.target, *self.fallbacks)
        first = session % len(every)
        return every[first:] + every[:first]


@dataclass(frozen=True)
class Attempt:
    """One try of one message: seconds since the run started, outcome bucket, reply code."""

    at: float
    token: str
    outcome: str
    code: int | None = None


@dataclass
class SendLog:
    """Everything the clients saw. ``due``: token -> seconds since the start when it was due
    (the open-loop schedule); ``accepted``: token -> seconds since the start at its 250 (the
    same monotonic clock); ``recipient``: token -> where it went; ``rejected``: token -> its
    5xx code; ``gave_up``: tokens whose retry budget ran out."""

    started: float
    plan: SendPlan
    recipient: dict[str, str] = field(default_factory=dict)
    sent_at: dict[str, float] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)
    accepted: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    gave_up: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    seconds: float = 0.0
    #: token -> the server (host:port) that gave it its 250
    via: dict[str, str] = field(default_factory=dict)

    @property
    def retries(self) -> int:
        return len(self.attempts) - len(self.recipient)

    def counts(self) -> dict[str, object]:
        """What the clients saw, for a result: tries, retries, outcomes, failures by kind."""
        return {
            "attempts": len(self.attempts),
            "retries": self.retries,
            "accepted": len(self.accepted),
            "rejected": len(self.rejected),
            "gave_up": len(self.gave_up),
            "failures": self.failures(),
            "seconds": round(self.seconds, 2),
        }

    def failures(self) -> dict[str, int]:
        """Attempts that did not end in a 250, by outcome (``temp_failed:421``, ``timeout``...)."""
        counts: dict[str, int] = {}
        for a in self.attempts:
            if a.outcome == Outcome.ACCEPTED:
                continue
            key = f"{a.outcome}:{a.code}" if a.code else a.outcome
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))


@dataclass(order=True)
class _Due:
    at: float
    index: int
    tries: int = field(default=0, compare=False)


class _Sender:
    def __init__(self, plan: SendPlan, on_attempt: Callable[[Attempt], None] | None) -> None:
        self.plan = plan
        self.log = SendLog(started=time.time(), plan=plan)
        # Unique across runs (a Maildir keeps earlier runs' copies): a random prefix, a counter.
        prefix = secrets.token_hex(5)
        self.tokens = [f"{plan.label}{prefix}{i:07d}" for i in range(plan.messages)]
        self.heap: list[_Due] = []
        self.wakeup = asyncio.Event()
        self.open = plan.messages  # messages not yet accepted, rejected or given up
        self.on_attempt = on_attempt
        self.metrics = Metrics()
        self.t0 = time.monotonic()

    def _now(self) -> float:
        return time.monotonic() - self.t0

    def _push(self, due: _Due) -> None:
        heapq.heappush(self.heap, due)
        self.wakeup.set()

    async def _next(self) -> _Due | None:
        while self.open > 0:
            if self.heap and self.heap[0].at <= self._now():
                return heapq.heappop(self.heap)
            self.wakeup.clear()
            wait = (self.heap[0].at - self._now()) if self.heap else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=max(0.0, min(wait, 1.0)))
        return None

    def _record(self, due: _Due, outcome: str, code: int | None) -> None:
        token = self.tokens[due.index]
        attempt = Attempt(round(self._now(), 3), token, outcome, code)
        self.log.attempts.append(attempt)
        if self.on_attempt is not None:
            self.on_attempt(attempt)
        if outcome == Outcome.ACCEPTED:
            self.log.accepted[token] = attempt.at
            self.open -= 1
        elif outcome == Outcome.REJECTED:
            self.log.rejected[token] = code or 0
            self.open -= 1
        elif self._now() - due.index / self.plan.rate > self.plan.give_up_after:
            self.log.gave_up.append(token)
            self.open -= 1
        else:
            backoff = min(self.plan.retry_max, self.plan.retry_min * 2**due.tries)
            self._push(_Due(self._now() + backoff, due.index, due.tries + 1))

    async def _open(self, servers: tuple[TargetURL, ...]) -> tuple[Session, TargetURL]:
        """A session with the first of ``servers`` that lets the client in; the last one's
        failure when none does."""
        for server in servers[:-1]:
            try:
                return await open_session(
                    "pipelined", server, self.metrics, self.plan.timeout
                ), server
            except (SessionError, OSError):
                continue
        last = servers[-1]
        return await open_session("pipelined", last, self.metrics, self.plan.timeout), last

    async def _worker(self, number: int) -> None:
        session: Session | None = None
        plan = self.plan
        servers = plan.servers(number)
        server = servers[0]
        try:
            while (due := await self._next()) is not None:
                token = self.tokens[due.index]
                rcpt = self.log.recipient.setdefault(
                    token, plan.recipients[due.index % len(plan.recipients)]
                )
                sent = self.log.sent_at.setdefault(token, time.time())
                try:
                    if session is None:
                        session, server = await self._open(servers)
                    data = build_message(plan.sender, [rcpt], plan.size, token, sent)
                    result = await session.send(plan.sender, [rcpt], data)
                except (SessionError, OSError) as exc:
                    bucket = exc.bucket if isinstance(exc, SessionError) else "connection_error"
                    self._record(due, bucket, None)
                    if session is not None:
                        await session.close()
                    session = None
                    continue
                if result.bucket == Outcome.ACCEPTED:
                    self.log.via[token] = server.display
                self._record(due, result.bucket, result.code)
                if result.session_closed or result.bucket != Outcome.ACCEPTED:
                    # A client that got a 4xx opens a new connection for its next try.
                    await session.close()
                    session = None
        finally:
            if session is not None:
                await session.close()

    async def _feed(self) -> None:
        for i in range(self.plan.messages):
            self.log.due[self.tokens[i]] = i / self.plan.rate
            self._push(_Due(i / self.plan.rate, i))

    async def run(self) -> SendLog:
        await self._feed()
        await asyncio.gather(*(self._worker(i) for i in range(self.plan.sessions)))
        self.log.seconds = self._now()
        return self.log


def send_with_retries(
    plan: SendPlan, on_attempt: Callable[[Attempt], None] | None = None
) -> SendLog:
    """Run ``plan`` to the end: until every message is accepted, rejected or given up."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_Sender(plan, on_attempt).run())


class BackgroundSend:
    """``send_with_retries`` in a thread of its own, while the caller puts faults in."""

    def __init__(self, plan: SendPlan, on_attempt: Callable[[Attempt], None] | None) -> None:
        self._log: SendLog | None = None
        self._failure: BaseException | None = None

        def send() -> None:
            try:
                self._log = send_with_retries(plan, on_attempt)
            except BaseException as exc:  # re-raised in the caller's thread by result()
                self._failure = exc

        self._thread = threading.Thread(target=send, name="chaos-clients", daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> bool:
        """Whether the clients are done, waiting up to ``timeout`` seconds for it."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self, timeout: float | None = None) -> SendLog:
        """Wait for the clients to finish; their log, or what stopped them."""
        self._thread.join(timeout)
        if self._failure is not None:
            raise self._failure
        if self._log is None:
            raise TimeoutError("the clients did not finish")
        return self._log


def attempt_counter(update: Callable[[int, int, int], None]) -> Callable[[Attempt], None]:
    """An on_attempt that feeds a progress bar's (attempted, accepted, failed) update."""
    counts = {"attempted": 0, "accepted": 0, "failed": 0}

    def attempt(a: Attempt) -> None:
        counts["attempted"] += 1
        counts["accepted" if a.outcome == Outcome.ACCEPTED else "failed"] += 1
        update(counts["attempted"], counts["accepted"], counts["failed"])

    return attempt
