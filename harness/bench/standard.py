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

from harness.bench.baseline import PostfixTools
from harness.bench.fingerprint import local_fingerprint
from harness.bench.model import SCHEMA, BenchRun, BenchSuite, Environment, make_ratio
from harness.bench.scenario import run_scenario
from harness.bench.spec import BenchSpec, SizeDistribution, TargetURL, parse_target
from harness.bench.targets import lab_target
from harness.errors import BenchError
from harness.lab.state import LabState
from harness.remote import inventory_host
from harness.ui import step

__all__ = ["StandardSize", "run_standard", "suite_result"]


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

    @property
    def label(self) -> str:
        return "quick" if self == StandardSize.quick() else "full"


def run_standard(state: LabState, tools: PostfixTools, size: StandardSize) -> BenchSuite:
    """Run the standard set on a bench lab (mx1 provisioned, ref untouched)."""
    inventory = str(state.inventory)
    sizes = SizeDistribution.parse(size.size)
    runs: dict[str, BenchRun] = {}
    mx1 = inventory_host("mx1", inventory)
    mx1_container = _container(state, "mx1")

    with tools.smtp_sink() as port, step("sink: generator ceiling"):
        spec = BenchSpec(
            target=parse_target(f"smtp://127.0.0.1:{port}"),
            sender="bench@client.test",
            recipients=("sink@sink.test",),
            messages=size.sink_messages,
            sessions=size.sessions,
            sizes=sizes,
        )
        runs["sink"] = run_scenario(
            "sink", spec, maildir_root=None, baseline=tools, repeats=size.repeats
        )

    smtp, target = lab_target(inventory, "mx1", "smtp")
    if not target.mail_root:
        raise BenchError(
            f"host mx1 of {inventory} has no mail root: the bench cannot find its Maildirs",
            hint="the inventory's dovecot settings must name the mailbox location",
        )
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
            maildir_root=target.mail_root,
            baseline=tools,
            warmup=size.sessions,
            repeats=size.repeats,
            container=mx1_container,
        )

    submission, _ = lab_target(inventory, "mx1", "submission")
    peak = replace(stack, target=submission, sender=target.accounts.mailbox, pipelining=True)
    with step("stack-587: STARTTLS + AUTH into Maildir"):
        runs["stack-587"] = run_scenario(
            "stack-587",
            peak,
            host=mx1,
            maildir_root=target.mail_root,
            warmup=size.sessions,
            container=mx1_container,
        )

    delivered = _drained_rate(runs["stack-587"]) or 10.0
    half = max(1.0, delivered / 2)
    open_loop = replace(peak, rate=half, messages=max(10, round(half * size.ttm_seconds)))
    with step(f"ttm-half: open loop at {half:.0f} msg/s"):
        runs["ttm-half"] = run_scenario(
            "ttm-half", open_loop, host=mx1, maildir_root=target.mail_root
        )

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
                container=ref.container,
            )

    return suite_result(runs, lab=state.name, size=size.label)


def _container(state: LabState, host: str) -> str | None:
    found = state.host(host)
    return None if found is None else found.container


def _drained_rate(run: BenchRun | None) -> float | None:
    delivery = None if run is None else run.get("delivery")
    return None if delivery is None else delivery["drained_rate"]


def suite_result(runs: dict[str, BenchRun], *, lab: str, size: str) -> BenchSuite:
    """The suite from its runs (sink, stack-25, stack-587, ttm-half and, optionally, ref):
    the ratios that answer the standard questions, each against its goal."""
    stack_rate, ref_rate = _drained_rate(runs["stack-25"]), _drained_rate(runs.get("ref"))
    ttm_delivery = runs["ttm-half"].get("delivery")
    ttm = None if ttm_delivery is None else ttm_delivery.get("ttm_ms")
    ratios = {
        "sink: mailstack / smtp-source": make_ratio(
            runs["sink"].get("ratio_vs_smtp_source"), ">= 0.5"
        ),
        "stack-25: mailstack / smtp-source": make_ratio(
            runs["stack-25"].get("ratio_vs_smtp_source"), "0.95 .. 1.05"
        ),
        "delivered/s: stack / Debian default": make_ratio(
            stack_rate / ref_rate if stack_rate and ref_rate else None, "report"
        ),
        # None when nothing was delivered: no number, so no pass
        "ttm p99 at half peak (s)": make_ratio(None if ttm is None else ttm["p99"] / 1000, "<= 1"),
    }
    environment: Environment = {"client": local_fingerprint()}
    server = runs["stack-587"]["environment"].get("server")
    if server is not None:
        environment["server"] = server
    return {
        "schema": SCHEMA,
        "kind": "suite",
        "started": dt.datetime.now(dt.UTC).isoformat(),
        "lab": lab,
        "size": size,
        "accept_rate": runs["stack-587"]["accept_rate"],
        "ratios": ratios,
        "runs": runs,
        "environment": environment,
    }
