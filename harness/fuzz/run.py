"""A fuzz run: cases planned from the seed and played until ``cases`` are done or ``seconds``
have passed, with a liveness check before the first case, after every ``alive_every`` cases and
at the end. A case under way when time is up is played to its end (within its own timeout), so
no message is cut short by the clock: the books stay exact.

Each case's plan depends only on the seed, the target and the case number; the message tokens
also carry the run's id, so two runs with one seed never share a token.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict

from harness.fuzz.imap_driver import run_imap_case
from harness.fuzz.imap_grammar import plan_imap_case
from harness.fuzz.imap_plan import ImapStep
from harness.fuzz.liveness import check_alive
from harness.fuzz.plan import CasePlan
from harness.fuzz.record import CaseRecord, Finding
from harness.fuzz.report import FuzzReport
from harness.fuzz.smtp_driver import run_smtp_case
from harness.fuzz.smtp_grammar import plan_smtp_case
from harness.fuzz.smtp_plan import SmtpStep
from harness.fuzz.target import KINDS, FuzzLimits, FuzzTarget

__all__ = ["Progress", "fuzz", "plan_case", "play_case", "run_fuzz"]

#: Called after each case with (cases done, cases asked for).
Progress = Callable[[int, int], None]


def plan_case(
    target: FuzzTarget, case_id: int, seed: int, run_id: str = ""
) -> CasePlan[SmtpStep] | CasePlan[ImapStep]:
    """The plan of case ``case_id``: the same for the same target, seed and run id."""
    if target.protocol == "smtp":
        return plan_smtp_case(target, case_id, seed, run_id)
    return plan_imap_case(target, case_id, seed)


async def play_case(
    target: FuzzTarget, case_id: int, seed: int, run_id: str, limits: FuzzLimits
) -> CaseRecord:
    """Plan and play one case (also how to replay a case from a report: its id and the seed)."""
    if target.protocol == "smtp":
        return await run_smtp_case(target, plan_smtp_case(target, case_id, seed, run_id), limits)
    return await run_imap_case(target, plan_imap_case(target, case_id, seed), limits)


def _validate(target: FuzzTarget, cases: int, seconds: float) -> None:
    if not isinstance(target, FuzzTarget):
        raise TypeError(f"target must be a FuzzTarget, not {type(target).__name__}")
    if target.kind not in KINDS:
        raise ValueError(f"target kind {target.kind!r} is not one of {', '.join(KINDS)}")
    if isinstance(cases, bool) or not isinstance(cases, int) or cases < 1:
        raise ValueError(f"cases {cases!r} must be a whole number, at least 1")
    if not seconds > 0:
        raise ValueError(f"seconds {seconds!r} must be positive (the run's time budget)")


async def run_fuzz(
    target: FuzzTarget,
    *,
    cases: int,
    seconds: float,
    seed: int,
    progress: Progress | None = None,
    limits: FuzzLimits | None = None,
    run_id: str | None = None,
) -> FuzzReport:
    """Fuzz ``target`` with up to ``cases`` cases for about ``seconds`` at most.

    When the server does not greet before the first case, no case runs: the report holds the
    liveness finding and nothing else. ``run_id`` (random by default) prefixes the tokens.
    """
    _validate(target, cases, seconds)
    limits = limits or FuzzLimits()
    run_id = run_id or secrets.token_hex(4)
    report = FuzzReport(target.display, target.kind, seed, run_id, cases, asdict(limits))
    started = time.monotonic()
    deadline = started + seconds
    case_ids = iter(range(cases))
    checked_at = -1

    async def check(last_case: int | None) -> bool:
        nonlocal checked_at
        checked_at = report.cases_run
        liveness = await check_alive(target, limits.step_timeout)
        report.alive_checks += 1
        if not liveness.ok:
            report.alive_failures += 1
            report.add_finding(
                Finding(
                    "liveness",
                    "a fresh connection got no greeting",
                    liveness.detail,
                    last_case,
                    seed,
                )
            )
        return liveness.ok

    async def worker() -> None:
        for case_id in case_ids:
            if time.monotonic() >= deadline:
                return
            report.add(await play_case(target, case_id, seed, run_id, limits))
            if progress is not None:
                progress(report.cases_run, cases)
            if report.cases_run % limits.alive_every == 0:
                await check(case_id)

    if await check(None):
        await asyncio.gather(*(worker() for _ in range(limits.concurrency)))
        if checked_at != report.cases_run:
            await check(max((c.case_id for c in report.cases), default=None))
    report.seconds = time.monotonic() - started
    return report


def fuzz(
    target: FuzzTarget,
    *,
    cases: int,
    seconds: float,
    seed: int,
    progress: Progress | None = None,
    limits: FuzzLimits | None = None,
    run_id: str | None = None,
) -> FuzzReport:
    """``run_fuzz`` on an event loop of its own."""
    return asyncio.run(
        run_fuzz(
            target,
            cases=cases,
            seconds=seconds,
            seed=seed,
            progress=progress,
            limits=limits,
            run_id=run_id,
        )
    )
