"""Ratios are judged on their 95 % interval, and the rounds measure until it is tight."""

from __future__ import annotations

import itertools
import random

import pytest

from harness.bench.confidence import bootstrap_ci, geometric_mean, relative_half_width
from harness.bench.model import make_paired_ratio
from harness.bench.rounds import PairedRatio, RoundPlan, run_rounds


def test_the_interval_holds_the_value_and_narrows_with_more_pairs() -> None:
    rng = random.Random(3)
    few = [rng.gauss(1.0, 0.1) for _ in range(4)]
    many = few + [rng.gauss(1.0, 0.1) for _ in range(60)]
    for pairs in (few, many):
        low, high = bootstrap_ci(pairs) or (0, 0)
        assert low < geometric_mean(pairs) < high
    wide = relative_half_width(bootstrap_ci(few) or (0, 0), geometric_mean(few))
    narrow = relative_half_width(bootstrap_ci(many) or (0, 0), geometric_mean(many))
    assert narrow < wide
    assert bootstrap_ci([1.0, 1.1]) is None  # too few pairs for an interval
    assert bootstrap_ci(many) == bootstrap_ci(many)  # seeded


@pytest.mark.parametrize(
    ("value", "ci", "goal", "met", "straddles"),
    [
        (1.0, (0.97, 1.03), "0.95 .. 1.05", True, False),
        (1.0, (0.90, 1.10), "0.95 .. 1.05", None, True),  # wider than the goal on both sides
        (0.97, (0.93, 1.01), "0.95 .. 1.05", None, True),
        (1.2, (1.1, 1.3), "0.95 .. 1.05", False, False),
        (0.3, (0.28, 0.32), ">= 1.0", False, False),
        (1.02, (0.98, 1.06), ">= 1.0", None, True),
        (0.4, (0.35, 0.45), "<= 1", True, False),
    ],
)
def test_a_ratio_is_met_only_when_all_its_interval_meets_the_goal(
    value: float, ci: tuple[float, float], goal: str, met: bool | None, straddles: bool
) -> None:
    ratio = make_paired_ratio(value, goal, ci, pairs=8)
    assert ratio["met"] is met
    assert ratio["straddles"] is straddles
    assert ratio["pairs"] == 8
    assert ratio["ci95"] == list(ci)


def test_without_an_interval_the_value_alone_is_judged() -> None:
    ratio = make_paired_ratio(1.0, "0.95 .. 1.05", None, pairs=2)
    assert ratio["met"] is True
    assert ratio["ci95"] is None
    assert "straddles" not in ratio


class _Noisy:
    """A side whose rate has a given spread around a given mean, and a log of when it ran."""

    def __init__(self, name: str, mean: float, spread: float, log: list[str]) -> None:
        self.name, self.mean, self.spread, self.log = name, mean, spread, log
        self.rng = random.Random(name)

    def __call__(self) -> dict[str, float]:
        self.log.append(self.name)
        return {"rate": self.rng.gauss(self.mean, self.spread)}


def test_rounds_rotate_the_order_and_stop_once_the_interval_is_tight() -> None:
    log: list[str] = []
    sides = {n: _Noisy(n, 100.0, 2.0, log) for n in ("a", "b", "c")}
    ratio = PairedRatio("a / b", ("a", "rate"), ("b", "rate"), "0.95 .. 1.05")
    rounds = run_rounds(sides, [ratio], RoundPlan(min_rounds=4, max_rounds=30))
    assert log[:9] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    done = len(rounds.samples["a"])
    assert done == 4  # a 2 % spread is tight at the first chance
    assert "within" in rounds.stopped
    judged = rounds.ratio(ratio)
    assert judged["pairs"] == 4
    assert judged["met"] is True


def test_noisy_sides_run_to_the_round_limit_and_say_so() -> None:
    log: list[str] = []
    sides = {"a": _Noisy("a", 100.0, 30.0, log), "b": _Noisy("b", 100.0, 30.0, log)}
    ratio = PairedRatio("a / b", ("a", "rate"), ("b", "rate"), "0.95 .. 1.05")
    rounds = run_rounds(sides, [ratio], RoundPlan(min_rounds=3, max_rounds=7))
    assert len(rounds.samples["a"]) == 7
    assert rounds.stopped == "7 rounds done"
    assert rounds.ratio(ratio)["straddles"] is True
    assert len(rounds.info([ratio], {})["pair_ratios"]["a / b"]) == 7
    assert list(itertools.islice(log, 4)) == ["a", "b", "b", "a"]
