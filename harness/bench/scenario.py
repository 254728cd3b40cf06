"""One bench scenario end to end: the load, then (with a mail host) the queue and the Maildirs,
then (when asked) smtp-source against the same target for a same-run ratio."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from testinfra.host import Host

from harness.bench.baseline import PostfixTools
from harness.bench.cost import CostSampler, lab_sampler
from harness.bench.delivery import (
    QueueSampler,
    delivery_json,
    queued_reasons,
    scan_maildirs,
    wait_for_drain,
)
from harness.bench.fingerprint import local_fingerprint, remote_fingerprint
from harness.bench.generator import Runner, RunResult, run_bench
from harness.bench.metrics import Outcome
from harness.bench.model import Baseline, BenchRun, Delivery, Environment
from harness.bench.result import run_json
from harness.bench.spec import BenchSpec
from harness.errors import BenchError
from harness.ui import err_console

__all__ = ["run_scenario", "send_progress"]


@contextmanager
def send_progress(label: str, total: int) -> Iterator[Any]:
    """A bar of messages sent, with their outcomes and rate; yields its update function."""
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("accepted {task.fields[accepted]} failed {task.fields[failed]}"),
        TextColumn("{task.fields[rate]:.0f} msg/s"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total, accepted=0, failed=0, rate=0.0)
        started = time.monotonic()

        def update(attempted: int, accepted: int, failed: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            progress.update(
                task, completed=attempted, accepted=accepted, failed=failed, rate=accepted / elapsed
            )

        yield update


def run_scenario(
    name: str,
    spec: BenchSpec,
    *,
    maildir_root: str | None,
    engine: str = "pipelined",
    host: Host | None = None,
    baseline: PostfixTools | None = None,
    drain_timeout: float = 180.0,
    warmup: int = 0,
    repeats: int = 1,
    container: str | None = None,
    runner: Runner | None = None,
    mailbox_host: Host | None = None,
) -> BenchRun:
    """Run ``spec``; with ``host`` also track the queue and, under ``maildir_root`` (the
    host's mail root from its inventory; None: no Maildir scan), delivery. With ``container``
    (the lab container of ``host``) also break the server's CPU and fsyncs down by component
    over the run and its drain. ``mailbox_host``: where the Maildirs are when not on ``host``
    (a fleet's backend behind its MX). ``runner`` runs the spec instead of this process's generator
    (RemoteGenerators.run: the spec spread over generator hosts, merged).

    ``warmup`` messages go first and are not counted: they open the way past first-contact
    costs (postscreen's greeting test caches a client for a day) that would otherwise fall on
    whichever of mailstack and the baseline runs first.
    """
    if host is not None and maildir_root == "":
        raise BenchError(
            f"bench {name!r}: the tracked mail host has an empty mail root, so its Maildirs "
            "cannot be found",
            hint="set the mailbox location in the host's inventory, or skip delivery tracking",
        )
    if warmup:
        run_bench(
            replace(
                spec, messages=warmup, rate=None, workers=1, sessions=min(spec.sessions, warmup)
            ),
            engine,
        )
        if host is not None:
            wait_for_drain(host, drain_timeout)
    sampler = QueueSampler(host, time.time()) if host is not None else None
    cost = _cost_sampler(container)
    with (
        send_progress(name, spec.messages) as update,
        sampler or nullcontext(),
        cost or nullcontext(),
    ):
        run = (runner or run_bench)(spec, engine, update)
        ended = run.started + run.seconds
        drain = wait_for_drain(host, drain_timeout, since=ended) if host is not None else None
    environment: Environment = {"client": local_fingerprint()}
    delivery: Delivery | None = None
    if host is not None and sampler is not None:
        report = still_queued = None
        if maildir_root:
            report = scan_maildirs(
                mailbox_host or host, run.metrics.accepted_tokens, run.started, maildir_root
            )
            still_queued = queued_reasons(host) if report.missing else None
        accepted = run.metrics.buckets[Outcome.ACCEPTED]
        delivery = delivery_json(
            accepted, run.seconds, drain, sampler.samples, report, still_queued
        )
        environment["server"] = remote_fingerprint(host)
    data = run_json(run, name, environment)
    if delivery is not None:
        data["delivery"] = delivery
    if cost is not None:
        data["cost"] = cost.result(run.metrics.buckets[Outcome.ACCEPTED])
    if baseline is not None:
        _add_baseline(data, run, spec, engine, baseline, host, drain_timeout, repeats)
    return data


def _cost_sampler(container: str | None) -> CostSampler | None:
    if container is None:
        return None
    sampler = lab_sampler(container)
    if isinstance(sampler, str):
        err_console.print(f"[yellow]no cost breakdown: {sampler}")
        return None
    return sampler


def _add_baseline(
    data: BenchRun,
    run: RunResult,
    spec: BenchSpec,
    engine: str,
    tools: PostfixTools,
    host: Host | None,
    drain_timeout: float,
    repeats: int,
) -> None:
    """smtp-source against the same target, and the ratio of the two rates."""
    ours = [run.accept_rate]
    base = _baseline(spec, tools, host, drain_timeout)
    theirs = [base["rate"]]
    # More pairs in A-B, B-A, A-B... order: the server slows as mailboxes grow, so whoever
    # always went first would look faster. Each side starts on a drained queue.
    for i in range(1, repeats):
        first_ours = i % 2 == 0
        if not first_ours:
            theirs.append(_baseline(spec, tools, host, drain_timeout)["rate"])
        ours.append(run_bench(spec, engine).accept_rate)
        if host is not None:
            wait_for_drain(host, drain_timeout)
        if first_ours:
            theirs.append(_baseline(spec, tools, host, drain_timeout)["rate"])
    base["rate"] = round(statistics.median(theirs), 2)
    base["rates"] = theirs
    data["baseline"] = base
    data["accept_rates"] = [round(r, 2) for r in ours]
    data["accept_rate_median"] = round(statistics.median(ours), 2)
    pair_ratios = [a / b for a, b in zip(ours, theirs, strict=True) if b > 0]
    data["pair_ratios"] = [round(r, 3) for r in pair_ratios]
    data["ratio_vs_smtp_source"] = (
        round(statistics.geometric_mean(pair_ratios), 3) if pair_ratios else None
    )


def _baseline(
    spec: BenchSpec, tools: PostfixTools, host: Host | None, drain_timeout: float
) -> Baseline:
    result = tools.smtp_source_like(spec)
    if host is not None:
        wait_for_drain(host, drain_timeout)
    return {
        "tool": "smtp-source -d",
        "sessions": result.sessions,
        "messages": result.messages,
        "size": result.size,
        "seconds": round(result.seconds, 3),
        "rate": round(result.rate, 2),
        "rates": [round(result.rate, 2)],
    }
