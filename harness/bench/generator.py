"""The load generator: closed loop (N sessions, as fast as the server allows) or open loop (a
fixed arrival rate, latency counted from when each message was due), in one or more worker
processes whose metrics are merged."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import multiprocessing.queues
import queue
import random
import secrets
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from email.utils import formatdate
from typing import Any

import uvloop

from harness.bench.client import Session, SessionError, engine_class, open_session
from harness.bench.metrics import Metrics, Outcome
from harness.bench.spec import BenchSpec
from harness.errors import BenchError
from harness.smtp.message import SENT_HEADER, TOKEN_HEADER

__all__ = ["Progress", "RunResult", "Runner", "build_message", "run_bench"]

#: (attempted, accepted, failed) so far
Progress = Callable[[int, int, int], None]


#: What runs a spec and gives back its merged metrics: run_bench here, or RemoteGenerators.run
#: on generator hosts (spec, engine, progress).
Runner = Callable[["BenchSpec", str, "Progress | None"], "RunResult"]
_LINE = 76


@dataclass
class RunResult:
    spec: BenchSpec
    engine: str
    started: float
    seconds: float
    metrics: Metrics

    @property
    def accept_rate(self) -> float:
        accepted = self.metrics.buckets[Outcome.ACCEPTED]
        return accepted / self.seconds if self.seconds > 0 else 0.0


_BODIES: dict[int, bytes] = {}
_DATES: dict[int, str] = {}


def _body(size: int) -> bytes:
    """A printable body of ``size`` bytes in wire form (CRLF lines of 76, none starting with a
    dot, so no stuffing is needed), made once per size."""
    body = _BODIES.get(size)
    if body is None:
        rng = random.Random(size)  # noqa: S311 -- filler text, not secrets
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
        lines, total = [], 0
        while total < size:
            line = "".join(rng.choices(alphabet, k=min(_LINE, max(1, size - total - 2))))
            lines.append(line)
            total += len(line) + 2
        body = _BODIES[size] = ("\r\n".join(lines) + "\r\n").encode()
    return body


def _date(sent: float) -> str:
    second = int(sent)
    text = _DATES.get(second)
    if text is None:
        _DATES.clear()
        text = _DATES[second] = formatdate(second)
    return text


def build_message(sender: str, recipients: list[str], size: int, token: str, sent: float) -> bytes:
    """A message of about ``size`` bytes carrying its token and send time in headers, in wire
    form: CRLF line ends and the end-of-data line included."""
    headers = (
        f"From: <{sender}>\r\nTo: {', '.join(f'<{r}>' for r in recipients)}\r\n"
        f"Subject: mailstack bench {token}\r\nDate: {_date(sent)}\r\n"
        f"Message-ID: <{token}@bench.mailstack.test>\r\n"
        f"{TOKEN_HEADER}: {token}\r\n{SENT_HEADER}: {sent:.6f}\r\n\r\n"
    ).encode()
    return headers + _body(max(64, size - len(headers))) + b".\r\n"


class _Plan:
    """Hands out messages: indices as fast as asked (closed loop), or (index, due time) on a
    schedule (open loop: a fixed rate, or the spec's own due times)."""

    def __init__(self, spec: BenchSpec, count: int, rate: float | None) -> None:
        self.count = count
        self.offsets: tuple[float, ...] | None = spec.schedule or (
            tuple(i / rate for i in range(count)) if rate else None
        )
        self.queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
        self._indices: Iterator[int] = iter(range(count))

    async def feed(self, sessions: int) -> None:
        if self.offsets is None:
            return
        start = time.monotonic()
        for i, offset in enumerate(self.offsets[: self.count]):
            due = start + offset
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.queue.put((i, due))
        for _ in range(sessions):
            await self.queue.put(None)

    async def next(self) -> tuple[int, float] | None:
        if self.offsets is None:
            i = next(self._indices, None)
            return None if i is None else (i, time.monotonic())
        return await self.queue.get()


async def _session_loop(
    spec: BenchSpec,
    engine: str,
    plan: _Plan,
    metrics: Metrics,
    run_start: float,
    rng: random.Random,
    tick: Callable[[], None],
) -> None:
    session: Session | None = None
    # Unique per run and session without a syscall per message: a random prefix, a counter.
    prefix = secrets.token_hex(6)
    tokens = (f"{prefix}{n:08x}" for n in itertools.count())
    try:
        while (item := await plan.next()) is not None:
            index, due = item
            if session is None:
                try:
                    session = await open_session(
                        engine, spec.target, metrics, spec.timeout, pipelining=spec.pipelining
                    )
                except SessionError as exc:
                    metrics.record_outcome(exc.bucket, error=str(exc))
                    tick()
                    await asyncio.sleep(0.05)
                    continue
            token, sent = next(tokens), time.time()
            if spec.campaign is not None:
                sender = spec.campaign.return_path(index)
                recipients = [spec.campaign.recipient(index)]
                data = spec.campaign.render(index, token, sent)
            else:
                sender = spec.sender
                recipients = (
                    [rng.choice(spec.recipients)]
                    if spec.recipients_per_message == 1
                    else rng.sample(
                        spec.recipients, min(spec.recipients_per_message, len(spec.recipients))
                    )
                )
                data = build_message(sender, recipients, spec.sizes.draw(rng), token, sent)
            try:
                result = await session.send(sender, recipients, data)
            except SessionError as exc:
                metrics.record_outcome(exc.bucket, error=str(exc))
                await session.close()
                session = None
                tick()
                continue
            done = time.monotonic()
            metrics.record_latency("message", done - due)
            metrics.record_outcome(
                result.bucket,
                code=result.code,
                at=time.time() - run_start,
                token=token,
                sent_at=sent,
                error=result.error,
            )
            if result.session_closed:
                await session.close()
                session = None
            tick()
    finally:
        if session is not None:
            await session.close()


async def _run_worker(
    spec: BenchSpec,
    engine: str,
    count: int,
    rate: float | None,
    run_start: float,
    seed: int,
    progress: Progress | None,
) -> Metrics:
    metrics = Metrics()
    plan = _Plan(spec, count, rate)
    rng = random.Random(seed)  # noqa: S311 -- reproducible load shape, not secrets
    state = {"last": 0.0}

    def tick() -> None:
        now = time.monotonic()
        if progress is not None and now - state["last"] > 0.2:
            state["last"] = now
            failed = metrics.attempted - metrics.buckets[Outcome.ACCEPTED]
            progress(metrics.attempted, metrics.buckets[Outcome.ACCEPTED], failed)

    feeder = asyncio.create_task(plan.feed(spec.sessions))
    await asyncio.gather(
        *(
            _session_loop(spec, engine, plan, metrics, run_start, rng, tick)
            for _ in range(spec.sessions)
        )
    )
    await feeder
    if progress is not None:
        progress(
            metrics.attempted,
            metrics.buckets[Outcome.ACCEPTED],
            metrics.attempted - metrics.buckets[Outcome.ACCEPTED],
        )
    return metrics


def _run(coro: Coroutine[Any, Any, Metrics]) -> Metrics:
    """Run on uvloop: measured here at about 1.7x the stock loop's message rate."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _worker_main(
    spec: BenchSpec,
    engine: str,
    count: int,
    rate: float | None,
    run_start: float,
    seed: int,
    index: int,
    out: multiprocessing.queues.Queue[Any],
) -> None:
    def progress(attempted: int, accepted: int, failed: int) -> None:
        out.put(("progress", index, (attempted, accepted, failed)))

    metrics = _run(_run_worker(spec, engine, count, rate, run_start, seed, progress))
    out.put(("done", index, metrics.to_wire()))


def _run_processes(
    spec: BenchSpec, engine: str, run_start: float, progress: Progress | None
) -> Metrics:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    counts = _shares(spec.messages, spec.workers)
    sessions = _shares(spec.sessions, spec.workers)
    procs = []
    for i in range(spec.workers):
        share = replace(spec, sessions=sessions[i], workers=1)
        rate = spec.rate * counts[i] / spec.messages if spec.rate else None
        proc = ctx.Process(
            target=_worker_main,
            args=(share, engine, counts[i], rate, run_start, spec.seed + i, i, out),
        )
        proc.start()
        procs.append(proc)
    merged, seen, done = Metrics(), {i: (0, 0, 0) for i in range(spec.workers)}, 0
    while done < spec.workers:
        try:
            kind, index, payload = out.get(timeout=1)
        except queue.Empty:
            if not any(p.is_alive() for p in procs):
                raise BenchError(
                    f"{spec.workers - done} worker process(es) died without a result"
                ) from None
            continue
        if kind == "progress":
            seen[index] = payload
            if progress is not None:
                progress(*(sum(v[k] for v in seen.values()) for k in range(3)))
        else:
            merged.merge(Metrics.from_wire(payload))
            done += 1
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    return merged


def run_bench(
    spec: BenchSpec, engine: str = "pipelined", progress: Progress | None = None
) -> RunResult:
    """Run ``spec`` and return its merged metrics."""
    engine_class(engine)  # an unknown engine fails here, not in every session
    run_start = time.time()
    started = time.monotonic()
    if spec.workers == 1:
        metrics = _run(
            _run_worker(spec, engine, spec.messages, spec.rate, run_start, spec.seed, progress)
        )
    else:
        metrics = _run_processes(spec, engine, run_start, progress)
    return RunResult(
        spec=spec,
        engine=engine,
        started=run_start,
        seconds=time.monotonic() - started,
        metrics=metrics,
    )
