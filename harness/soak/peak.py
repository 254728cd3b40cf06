"""The peak a soak takes its share of: a short closed-loop burst of the bench's own generator
against the soak's target, delivery tracked as `bench standard`'s stack-587 run tracks it.

The peak is the burst's drained rate (everything accepted, over the time from its first
message to an empty queue), not its accept rate alone: a 250 rate the queue cannot keep up
with would, held for half an hour, measure only a growing queue."""

from __future__ import annotations

from dataclasses import dataclass

from harness.bench.delivery import wait_for_drain
from harness.bench.generator import run_bench
from harness.bench.scenario import run_scenario
from harness.soak.target import SoakTarget

__all__ = ["Peak", "measure_peak"]

#: the first, small burst per session: it warms the way (postscreen's cache, TLS sessions,
#: worker processes) and tells how many messages fill the measured burst's seconds
_PROBE_PER_SESSION = 20


@dataclass(frozen=True)
class Peak:
    accept_rate: float
    drained_rate: float | None
    messages: int
    seconds: float
    sessions: int

    @property
    def rate(self) -> float:
        """Messages a second the stack both accepted and delivered."""
        return self.accept_rate if self.drained_rate is None else self.drained_rate

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "rate": round(self.rate, 2),
            "accept_rate": round(self.accept_rate, 2),
            "drained_rate": self.drained_rate,
            "messages": self.messages,
            "seconds": round(self.seconds, 2),
            "sessions": self.sessions,
        }


def measure_peak(target: SoakTarget, seconds: float, sessions: int) -> Peak:
    """A closed-loop burst of about ``seconds`` over ``sessions`` connections."""
    probe = run_bench(target.bench_spec(sessions * _PROBE_PER_SESSION, sessions))
    wait_for_drain(target.shell)
    messages = max(sessions * _PROBE_PER_SESSION, round(probe.accept_rate * seconds))
    run = run_scenario(
        "peak",
        target.bench_spec(messages, sessions),
        host=target.shell,
        maildir_root=target.mail_root,
    )
    delivery = run.get("delivery")
    return Peak(
        accept_rate=run["accept_rate"],
        drained_rate=None if delivery is None else delivery["drained_rate"],
        messages=messages,
        seconds=run["seconds"],
        sessions=sessions,
    )
