"""The standard bench set (`make bench`): every number beside a baseline from the same run.

1. sink     mailstack vs smtp-source into smtp-sink: the generator's own ceiling;
2. stack-25 mailstack vs smtp-source on the provisioned stack's port 25 (equal sessions, size,
            no pipelining on either side, so the protocol work is the same);
3. stack-587 submission with STARTTLS and AUTH, delivered into Maildir: peak accept rate,
            delivered rate, time-to-mailbox;
4. ttm-half at half the peak rate, open loop: time-to-mailbox p99;
5. ref      Debian's untuned default Postfix (port 25, local delivery) in the same lab: its
            delivered rate against the stack's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from harness.bench.baseline import PostfixTools
from harness.bench.fingerprint import local_fingerprint
from harness.bench.result import SCHEMA
from harness.bench.scenario import run_scenario
from harness.bench.spec import BenchSpec, SizeDistribution, TargetURL, parse_target
from harness.bench.targets import lab_target
from harness.lab.state import LabState
from harness.remote import inventory_host
from harness.ui import step

__all__ = ["StandardSize", "run_standard"]


@dataclass(frozen=True)
class StandardSize:
    """How much each scenario sends; ``quick`` keeps make demo and make test short."""

    sink_messages: int = 20000
    stack_messages: int = 1500
    sessions: int = 8
    ttm_seconds: float = 20.0
    size: str = "2k"
    repeats: int = 4

    @classmethod
    def quick(cls) -> StandardSize:
        return cls(sink_messages=2000, stack_messages=200, sessions=4, ttm_seconds=5.0, repeats=1)


def _ratio(value: float | None, goal: str) -> dict[str, Any]:
    return {"value": None if value is None else round(value, 3), "goal": goal}


def run_standard(state: LabState, tools: PostfixTools, size: StandardSize) -> dict[str, Any]:
    """Run the standard set on a bench lab (mx1 provisioned, ref untouched)."""
    inventory = str(state.inventory)
    sizes = SizeDistribution.parse(size.size)
    runs: dict[str, dict[str, Any]] = {}
    mx1 = inventory_host("mx1", inventory)

    with tools.smtp_sink() as port, step("sink: generator ceiling"):
        spec = BenchSpec(
            target=parse_target(f"smtp://127.0.0.1:{port}"),
            sender="bench@client.test",
            recipients=("sink@sink.test",),
            messages=size.sink_messages,
            sessions=size.sessions,
            sizes=sizes,
        )
        runs["sink"] = run_scenario("sink", spec, baseline=tools, repeats=size.repeats)

    smtp, target = lab_target(inventory, "mx1", "smtp")
    rcpts = tuple(a for a in (target.accounts.mailbox, target.accounts.other_mailbox) if a)
    stack = BenchSpec(
        target=smtp,
        sender="bench@client.test",
        recipients=rcpts,
        messages=size.stack_messages,
        sessions=size.sessions,
        sizes=sizes,
        pipelining=False,
    )
    with step("stack-25: against smtp-source"):
        # Interleaved pairs (mailstack, smtp-source) x repeats: the mailboxes grow as the run
        # goes, so whichever side ran last would otherwise meet a slower server.
        runs["stack-25"] = run_scenario(
            "stack-25",
            replace(stack, messages=max(50, size.stack_messages // size.repeats)),
            host=mx1,
            baseline=tools,
            warmup=size.sessions,
            repeats=size.repeats,
        )

    submission, _ = lab_target(inventory, "mx1", "submission")
    peak = replace(stack, target=submission, sender=target.accounts.mailbox, pipelining=True)
    with step("stack-587: STARTTLS + AUTH into Maildir"):
        runs["stack-587"] = run_scenario("stack-587", peak, host=mx1, warmup=size.sessions)

    delivered = runs["stack-587"]["delivery"].get("drained_rate") or 10.0
    half = max(1.0, delivered / 2)
    open_loop = replace(peak, rate=half, messages=max(10, round(half * size.ttm_seconds)))
    with step(f"ttm-half: open loop at {half:.0f} msg/s"):
        runs["ttm-half"] = run_scenario("ttm-half", open_loop, host=mx1)

    ref = state.host("ref")
    if ref is not None:
        ref_target = TargetURL("smtp", ref.ip, 25, starttls=False, implicit_tls=False)
        ref_spec = replace(stack, target=ref_target, recipients=("root@localhost",))
        with step("ref: Debian's default Postfix"):
            runs["ref"] = run_scenario(
                "ref",
                ref_spec,
                host=inventory_host("ref", inventory),
                maildir_root=None,
                warmup=size.sessions,
            )

    stack_rate = runs["stack-25"]["delivery"].get("drained_rate")
    ref_rate = (runs.get("ref", {}).get("delivery") or {}).get("drained_rate")
    ratios = {
        "sink: mailstack / smtp-source": _ratio(runs["sink"].get("ratio_vs_smtp_source"), ">= 0.5"),
        "stack-25: mailstack / smtp-source": _ratio(
            runs["stack-25"].get("ratio_vs_smtp_source"), "0.95 .. 1.05"
        ),
        "delivered/s: stack / Debian default": _ratio(
            stack_rate / ref_rate if stack_rate and ref_rate else None, "report"
        ),
        "ttm p99 at half peak (s)": _ratio(
            (runs["ttm-half"]["delivery"].get("ttm_ms") or {}).get("p99", 0) / 1000, "<= 1"
        ),
    }
    return {
        "schema": SCHEMA,
        "kind": "suite",
        "started": dt.datetime.now(dt.UTC).isoformat(),
        "accept_rate": runs["stack-587"]["accept_rate"],
        "ratios": ratios,
        "runs": runs,
        "environment": {
            "client": local_fingerprint(),
            "server": runs["stack-587"]["environment"].get("server"),
        },
    }
