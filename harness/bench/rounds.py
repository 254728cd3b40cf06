"""Interleaved rounds of same-run measurements, repeated until every ratio's 95 % interval is
tight enough (or the rounds or the time run out).

A round measures each side once; the order rotates from round to round (or cycles through
orders the caller gives), so no side always meets a server warmed (or slowed) by the one
before it. After ``min_rounds`` the series stops as soon as each ratio's interval is
within ``max_half_width`` of its value. Stopping on the data like this narrows the intervals
a little; the floor of ``min_rounds`` keeps that small, and the report shows the pair count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.bench.confidence import bootstrap_ci, geometric_mean, relative_half_width
from harness.bench.model import Ratio, RoundsInfo, SideAccount, make_paired_ratio
from harness.errors import BenchError

__all__ = ["PairedRatio", "RoundPlan", "Rounds", "run_rounds"]

#: One measurement of a side: metric -> value (e.g. {"accepted/s": 71.2}).
Side = Callable[[], dict[str, float]]


@dataclass(frozen=True)
class RoundPlan:
    min_rounds: int = 6
    max_rounds: int = 30
    max_half_width: float = 0.05
    #: no new round starts after this many seconds (once min_rounds are done)
    budget_s: float = 240.0
    #: the orders the rounds cycle through (every side in each); empty: rotate the sides
    orders: tuple[tuple[str, ...], ...] = ()

    def order(self, sides: Sequence[str], i: int) -> list[str]:
        """The order of round ``i`` (from 0)."""
        if self.orders:
            order = list(self.orders[i % len(self.orders)])
            if sorted(order) != sorted(sides):
                raise BenchError(
                    f"round order {order} does not name each of the sides {list(sides)} once"
                )
            return order
        k = i % len(sides)
        return [*sides[k:], *sides[:k]]


@dataclass(frozen=True)
class PairedRatio:
    """``numerator`` over ``denominator``, each a (side, metric), paired round by round."""

    name: str
    numerator: tuple[str, str]
    denominator: tuple[str, str]
    goal: str


@dataclass
class Rounds:
    order: list[str]
    samples: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    seconds: float = 0.0
    stopped: str = ""

    def pair_ratios(self, ratio: PairedRatio) -> list[float]:
        (top, top_metric), (bottom, bottom_metric) = ratio.numerator, ratio.denominator
        pairs = zip(self.samples[top], self.samples[bottom], strict=True)
        return [a[top_metric] / b[bottom_metric] for a, b in pairs if b[bottom_metric] > 0]

    def ratio(self, ratio: PairedRatio) -> Ratio:
        pairs = self.pair_ratios(ratio)
        value = geometric_mean(pairs) if pairs and min(pairs) > 0 else None
        interval = bootstrap_ci(pairs) if value is not None else None
        return make_paired_ratio(value, ratio.goal, interval, len(pairs))

    def tight(self, ratio: PairedRatio, max_half_width: float) -> bool:
        pairs = self.pair_ratios(ratio)
        if not pairs or min(pairs) <= 0:
            return False
        interval = bootstrap_ci(pairs)
        return interval is not None and (
            relative_half_width(interval, geometric_mean(pairs)) <= max_half_width
        )

    def info(self, ratios: Sequence[PairedRatio], accounts: dict[str, SideAccount]) -> RoundsInfo:
        return {
            "order": self.order,
            "rounds": len(next(iter(self.samples.values()), [])),
            "seconds": round(self.seconds, 1),
            "stopped": self.stopped,
            "samples": {
                side: [{k: round(v, 3) for k, v in s.items()} for s in seq]
                for side, seq in self.samples.items()
            },
            "pair_ratios": {r.name: [round(x, 4) for x in self.pair_ratios(r)] for r in ratios},
            "accounts": accounts,
        }


def run_rounds(
    sides: Mapping[str, Side],
    ratios: Sequence[PairedRatio],
    plan: RoundPlan,
    progress: Callable[[int, Rounds], None] | None = None,
) -> Rounds:
    """Measure every side once per round, in rotating order, until the plan says stop."""
    order = list(sides)
    rounds = Rounds(order=order, samples={name: [] for name in order})
    started = time.monotonic()
    for i in range(plan.max_rounds):
        for name in plan.order(order, i):
            rounds.samples[name].append(sides[name]())
        rounds.seconds = time.monotonic() - started
        if progress is not None:
            progress(i + 1, rounds)
        if i + 1 < plan.min_rounds:
            continue
        if all(rounds.tight(r, plan.max_half_width) for r in ratios):
            rounds.stopped = f"every interval within +-{plan.max_half_width:.0%}"
            break
        if rounds.seconds > plan.budget_s:
            rounds.stopped = f"time budget of {plan.budget_s:.0f} s spent"
            break
    else:
        rounds.stopped = f"{plan.max_rounds} rounds done"
    return rounds
