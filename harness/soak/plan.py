"""What a soak run is asked to do, checked before anything runs: each bad value is named with
the option that gave it and how to mend it."""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import SoakError
from harness.fuzz.lab import RSS_GROWTH_LIMIT_MIB

__all__ = ["SOAK_SERVICES", "SoakPlan"]

#: --service choices: where the load goes (587 as the host's users, 25 as other domains)
SOAK_SERVICES = ("submission", "smtp")


@dataclass(frozen=True)
class SoakPlan:
    """``minutes`` of load in windows of ``window`` seconds, at ``rate`` messages a second or,
    without it, at ``fraction`` of the peak measured by a ``peak_seconds`` closed-loop burst.
    Daemon memory is sampled every ``sample_every`` seconds; a daemon's largest process may
    grow ``rss_limit_mib`` from the first window to the last. The recipients' mailboxes are
    read and emptied every ``empty_every`` seconds (0: never)."""

    minutes: float = 30.0
    window: float = 300.0
    fraction: float = 0.7
    rate: float | None = None
    service: str = "submission"
    sessions: int = 8
    peak_seconds: float = 15.0
    sample_every: float = 5.0
    rss_limit_mib: float = RSS_GROWTH_LIMIT_MIB
    empty_every: float = 30.0

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    def check(self) -> None:
        if self.minutes <= 0:
            raise SoakError(f"--minutes {self.minutes:g}: must be above 0", hint="e.g. 30")
        if self.window <= 0 or self.window > self.seconds:
            raise SoakError(
                f"--window {self.window:g}: must be above 0 and no longer than the run "
                f"({self.seconds:g} s)",
                hint=f"a --window up to {self.seconds:g}, or more --minutes",
            )
        if not 0 < self.fraction <= 1:
            raise SoakError(
                f"--fraction {self.fraction:g}: must be above 0 and at most 1",
                hint="a share of the measured peak, e.g. 0.7",
            )
        if self.rate is not None and self.rate <= 0:
            raise SoakError(
                f"--rate {self.rate:g}: must be above 0",
                hint="messages a second, or leave it out to measure the peak",
            )
        if self.service not in SOAK_SERVICES:
            raise SoakError(
                f"--service {self.service}: not a soak service",
                hint=f"one of: {', '.join(SOAK_SERVICES)}",
            )
        for name, value in (
            ("--sessions", self.sessions),
            ("--peak-seconds", self.peak_seconds),
            ("--sample-every", self.sample_every),
            ("--rss-limit", self.rss_limit_mib),
        ):
            if value <= 0:
                raise SoakError(f"{name} {value:g}: must be above 0")
        if self.empty_every < 0:
            raise SoakError(
                f"--empty-every {self.empty_every:g}: must be 0 or more",
                hint="seconds, or 0 to let the mailboxes grow all run",
            )
