"""The fleet scenarios' arithmetic and settings, offline: accepted/s before and during an
event, how long it stayed low, where each client session sends first, and options that
cannot run named with their mend."""

from __future__ import annotations

import pytest

from harness.bench.spec import parse_target
from harness.chaos.sender import SendPlan
from harness.errors import FleetError
from harness.fleet.report import fleet_table
from harness.fleet.run import FleetRun, dip_and_recovery


def _timeline(per_second: list[int]) -> list[list[float]]:
    return [[float(s), float(n)] for s, n in enumerate(per_second)]


def test_a_steady_rate_through_the_event_has_no_outage() -> None:
    steady = _timeline([20] * 60)
    tp = dip_and_recovery(steady, 20.0, 40.0, 60.0, 20.0)
    assert tp["baseline_per_s"] == 20.0
    assert tp["dip_per_s"] == 20.0
    assert tp["recovery_s"] == 0.0
    assert tp["below_from_s"] is None


def test_a_start_up_backlog_does_not_raise_the_baseline() -> None:
    # postscreen holds new clients a few seconds: the first seconds catch up above the rate.
    backlog = _timeline([0, 0, 0, 0, 0, 0, 60, 40, 15] + [15] * 51)
    tp = dip_and_recovery(backlog, 20.0, 40.0, 60.0, 15.0)
    assert tp["baseline_per_s"] == 15.0
    assert tp["before_event_per_s"] > 15.0
    assert tp["recovery_s"] == 0.0


def test_one_slow_second_is_noise_but_a_gap_is_an_outage() -> None:
    noisy = [20] * 60
    noisy[25] = 17  # a 3-s mean of 19: above 90 %
    assert dip_and_recovery(_timeline(noisy), 20.0, 40.0, 60.0, 20.0)["recovery_s"] == 0.0
    gap = [20] * 60
    gap[25:31] = [0] * 6  # six seconds with nothing accepted, then the backlog
    gap[31:34] = [60, 40, 20]
    tp = dip_and_recovery(_timeline(gap), 20.0, 40.0, 60.0, 20.0)
    assert tp["dip_per_s"] == 0.0
    assert tp["dip_fraction"] == 1.0
    assert tp["below_from_s"] == 23.0  # the first 3-s window that reaches into the gap
    assert tp["recovery_s"] == 6.0  # until the window starting at 29 (0, 0, 60) is back


def test_throughput_that_never_comes_back_has_no_recovery_time() -> None:
    tp = dip_and_recovery(_timeline([20] * 20 + [0] * 40), 20.0, 40.0, 60.0, 20.0)
    assert tp["recovery_s"] is None


def test_client_sessions_start_at_each_mx_in_turn_and_fall_over_to_the_rest() -> None:
    mx1, mx2 = parse_target("smtp://10.0.0.1:25"), parse_target("smtp://10.0.0.2:25")
    plan = SendPlan(
        target=mx1, fallbacks=(mx2,), sender="a@b.test", recipients=("c@d.test",), rate=1, seconds=1
    )
    assert plan.servers(0) == (mx1, mx2)
    assert plan.servers(1) == (mx2, mx1)
    assert plan.servers(2) == (mx1, mx2)
    alone = SendPlan(target=mx1, sender="a@b.test", recipients=("c@d.test",), rate=1, seconds=1)
    assert alone.servers(3) == (mx1,)


@pytest.mark.parametrize(
    ("run", "named"),
    [
        (FleetRun("reboot"), "--scenario reboot"),
        (FleetRun("rolling", fault_at=2), "--fault-at 2"),
        (FleetRun("rolling", seconds=30, fault_at=30), "--fault-at 30"),
        (FleetRun("mx-down", seconds=60, fault_at=20, down_for=40), "--down-for 40"),
        (FleetRun("rolling", rate=0), "--rate 0"),
    ],
)
def test_settings_that_cannot_run_are_named(run: FleetRun, named: str) -> None:
    with pytest.raises(FleetError, match=named.replace("-", r"\-")):
        run.check()


def test_the_table_says_held_only_when_nothing_is_missing() -> None:
    result = {
        "scenario": "mx-down",
        "ok": False,
        "event": {"start_s": 20.0, "end_s": 41.0},
        "clients": {"accepted": 10, "client_outage_s": 0.1, "via": {"during": {"mx2": 9}}},
        "server": {"delivered": 9, "missing": 1, "duplicates": 0},
        "throughput": {"baseline_per_s": 20.0, "dip_per_s": 19.0, "recovery_s": 0.0},
        "latency_ms": {"before_event": {"p99": 50.0}, "during_event": {"p99": 500.0}},
    }
    row = fleet_table([result]).rows[0]
    cells = [c.text for c in row]
    assert cells[0] == "mx-down"
    assert cells[-1] == "failed"
    assert "mx2 9" in cells
