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
import statistics
from dataclasses import dataclass, field, replace

from harness.bench.baseline import PostfixTools
from harness.bench.confidence import bootstrap_ci, geometric_mean
from harness.bench.fingerprint import local_fingerprint
from harness.bench.model import (
    SCHEMA,
    BenchRun,
    BenchSuite,
    Environment,
    Ratio,
    RoundsInfo,
    make_paired_ratio,
    make_ratio,
)
from harness.bench.rounds import PairedRatio, RoundPlan, Rounds, run_rounds
from harness.bench.scenario import run_scenario
from harness.bench.sides import MailboxReset, Reference, StandardSides
from harness.bench.spec import BenchSpec, SizeDistribution, TargetURL, parse_target
from harness.bench.targets import lab_target
from harness.errors import BenchError
from harness.lab.state import LabState
from harness.remote import inventory_host
from harness.ui import step

__all__ = [
    "DELIVERED_VS_DEFAULT",
    "STACK_VS_SMTP_SOURCE",
    "StandardSize",
    "run_standard",
    "suite_result",
]


@dataclass(frozen=True)
class StandardSize:
    """How much each scenario sends; ``quick`` keeps make demo and make test short."""

    sink_messages: int = 20000
    #: the tracked runs (delivery by token, cost breakdown) of stack-25 and stack-587
    stack_messages: int = 1000
    #: each stack side of a round; the reference's side sends ``ref_factor`` times as many
    #: (it is about six times faster, and a run of under a second is mostly its edges)
    round_messages: int = 400
    ref_factor: int = 4
    sessions: int = 8
    ttm_seconds: float = 15.0
    size: str = "2k"
    repeats: int = 4
    rounds: RoundPlan = field(default_factory=RoundPlan)

    @classmethod
    def quick(cls) -> StandardSize:
        return cls(
            sink_messages=2000,
            stack_messages=200,
            round_messages=100,
            sessions=4,
            ttm_seconds=5.0,
            repeats=1,
            rounds=RoundPlan(min_rounds=3, max_rounds=3, budget_s=60.0),
        )

    @property
    def label(self) -> str:
        return "quick" if self == StandardSize.quick() else "full"


#: The stack ratios, judged over the interleaved rounds.
STACK_VS_SMTP_SOURCE = PairedRatio(
    "stack-25: mailstack / smtp-source",
    ("mailstack", "accepted/s"),
    ("smtp-source", "accepted/s"),
    "0.95 .. 1.05",
)
DELIVERED_VS_DEFAULT = PairedRatio(
    "delivered/s: stack / Debian default",
    ("mailstack", "delivered/s"),
    ("ref", "delivered/s"),
    ">= 1.0",
)


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
    # Every stack run starts on empty bench mailboxes: Dovecot's work per delivery grows with
    # the mailbox (it reads the whole Maildir uid list on each open), so whichever run came
    # later would otherwise meet a slower server.
    fresh = MailboxReset(mx1, rcpts)
    stack = BenchSpec(
        target=smtp,
        sender="bench@client.test",
        recipients=rcpts,
        messages=size.stack_messages,
        sessions=size.sessions,
        sizes=sizes,
        pipelining=False,
    )
    with step("stack-25: port 25 into Maildir"):
        fresh()
        runs["stack-25"] = run_scenario(
            "stack-25",
            stack,
            host=mx1,
            maildir_root=target.mail_root,
            warmup=size.sessions,
            container=mx1_container,
        )

    submission, _ = lab_target(inventory, "mx1", "submission")
    peak = replace(stack, target=submission, sender=target.accounts.mailbox, pipelining=True)
    with step("stack-587: STARTTLS + AUTH into Maildir"):
        fresh()
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
        fresh()
        runs["ttm-half"] = run_scenario(
            "ttm-half", open_loop, host=mx1, maildir_root=target.mail_root
        )

    ref = state.host("ref")
    ref_spec = None
    if ref is not None:
        ref_target = TargetURL("smtp", ref.ip, 25, starttls=False, implicit_tls=False)
        ref_spec = replace(stack, target=ref_target, recipients=("root@localhost",))
        # As apt leaves it: enabled and running (lab images bake packages with units off).
        inventory_host("ref", inventory).run_expect([0], "systemctl enable --now postfix")
        with step("ref: Debian's default Postfix"):
            runs["ref"] = run_scenario(
                "ref",
                ref_spec,
                host=inventory_host("ref", inventory),
                maildir_root=None,
                warmup=size.sessions,
                container=ref.container,
            )

    sides = StandardSides(
        tools=tools,
        stack=replace(stack, messages=size.round_messages),
        stack_host=mx1,
        mail_root=target.mail_root,
        reset=fresh,
        ref=None
        if ref_spec is None
        else Reference(
            replace(ref_spec, messages=size.round_messages * size.ref_factor),
            inventory_host("ref", inventory),
        ),
    )
    paired = [STACK_VS_SMTP_SOURCE] + ([DELIVERED_VS_DEFAULT] if ref_spec is not None else [])
    with step("rounds: stack vs smtp-source" + (" vs Debian default" if ref else "")) as st:

        def shown(done: int, rounds: Rounds) -> None:
            st.note = f"{done} rounds, " + ", ".join(_spread(rounds, r) for r in paired)

        rounds = run_rounds(sides.all(), paired, _with_orders(size.rounds, sides), shown)
    _attach_baseline(runs["stack-25"], rounds, sides)
    return suite_result(
        runs,
        lab=state.name,
        size=size.label,
        paired={r.name: rounds.ratio(r) for r in paired},
        rounds=rounds.info(paired, sides.accounts),
    )


def _with_orders(plan: RoundPlan, sides: StandardSides) -> RoundPlan:
    """The generator on the stack goes between the two sides it is compared with, which swap
    places every round: each pair is measured back to back, and each comparison has its
    other side before and after it equally often."""
    if plan.orders:
        return plan
    if sides.ref is None:
        return replace(plan, orders=(("smtp-source", "mailstack"), ("mailstack", "smtp-source")))
    return replace(
        plan,
        orders=(("smtp-source", "mailstack", "ref"), ("ref", "mailstack", "smtp-source")),
    )


def _attach_baseline(run: BenchRun, rounds: Rounds, sides: StandardSides) -> None:
    """The rounds' smtp-source side as the stack-25 run's baseline (the report's table)."""
    theirs = [x["accepted/s"] for x in rounds.samples["smtp-source"]]
    ours = [x["accepted/s"] for x in rounds.samples["mailstack"]]
    last = sides.source_runs[-1]
    run["baseline"] = {
        "tool": "smtp-source -d",
        "sessions": last.sessions,
        "messages": last.messages,
        "size": last.size,
        "seconds": round(statistics.median(r.seconds for r in sides.source_runs), 3),
        "rate": round(statistics.median(theirs), 2),
        "rates": [round(r, 2) for r in theirs],
    }
    run["accept_rates"] = [round(r, 2) for r in ours]
    run["accept_rate_median"] = round(statistics.median(ours), 2)
    pairs = rounds.pair_ratios(STACK_VS_SMTP_SOURCE)
    run["pair_ratios"] = [round(r, 3) for r in pairs]
    run["ratio_vs_smtp_source"] = round(geometric_mean(pairs), 3) if pairs else None


def _spread(rounds: Rounds, ratio: PairedRatio) -> str:
    data = rounds.ratio(ratio)
    ci = data.get("ci95")
    value = data["value"]
    if value is None or not ci:
        return f"{ratio.name.split(':')[0]} {value}"
    return f"{ratio.name.split(':')[0]} {value:.3g} [{ci[0]:.3g}, {ci[1]:.3g}]"


def _container(state: LabState, host: str) -> str | None:
    found = state.host(host)
    return None if found is None else found.container


def _drained_rate(run: BenchRun | None) -> float | None:
    delivery = None if run is None else run.get("delivery")
    return None if delivery is None else delivery["drained_rate"]


def suite_result(
    runs: dict[str, BenchRun],
    *,
    lab: str,
    size: str,
    paired: dict[str, Ratio] | None = None,
    rounds: RoundsInfo | None = None,
) -> BenchSuite:
    """The suite from its runs (sink, stack-25, stack-587, ttm-half and, optionally, ref):
    the ratios that answer the standard questions, each against its goal. ``paired`` are the
    ratios judged over the interleaved ``rounds``; without them the runs' own pairs count."""
    ttm_delivery = runs["ttm-half"].get("delivery")
    ttm = None if ttm_delivery is None else ttm_delivery.get("ttm_ms")
    ratios = {
        "sink: mailstack / smtp-source": _from_pairs(runs["sink"], ">= 0.5"),
        STACK_VS_SMTP_SOURCE.name: _from_pairs(runs["stack-25"], STACK_VS_SMTP_SOURCE.goal),
    }
    stack_rate, ref_rate = _drained_rate(runs["stack-25"]), _drained_rate(runs.get("ref"))
    if stack_rate and ref_rate:
        ratios[DELIVERED_VS_DEFAULT.name] = make_ratio(
            stack_rate / ref_rate, DELIVERED_VS_DEFAULT.goal
        )
    ratios.update(paired or {})
    # None when nothing was delivered: no number, so no pass
    ratios["ttm p99 at half peak (s)"] = make_ratio(
        None if ttm is None else ttm["p99"] / 1000, "<= 1"
    )
    environment: Environment = {"client": local_fingerprint()}
    server = runs["stack-587"]["environment"].get("server")
    if server is not None:
        environment["server"] = server
    suite: BenchSuite = {
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
    if rounds is not None:
        suite["rounds"] = rounds
    return suite


def _from_pairs(run: BenchRun, goal: str) -> Ratio:
    """A run's ratio against its smtp-source baseline, with the interval of its pairs."""
    pairs = [p for p in run.get("pair_ratios", []) if p > 0]
    if not pairs:
        return make_ratio(run.get("ratio_vs_smtp_source"), goal)
    return make_paired_ratio(geometric_mean(pairs), goal, bootstrap_ci(pairs), len(pairs))
