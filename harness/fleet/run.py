"""A fleet scenario: steady open-loop load to the domain through every MX while something
happens to the fleet, then every accepted message accounted for on the backend.

    rolling  playbooks/rolling.yml runs (drain, converge, verify, put back; host by host)
    mx-down  one MX is stopped hard (its container killed, as a host that loses power), kept
             down, then started again; what it had accepted waits in its queue meanwhile

What it measures: accepted/s against the offered rate (the baseline): its lowest 3-s mean
during the event (the dip), how long it stayed below 90 % of the baseline (recovery), the
clients' own view (first failure, longest stretch without a 250), latency from due to 250, and which
MX took the mail before, during and after."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from harness.bench.delivery import wait_for_drain
from harness.bench.server_side import prometheus_for, window_series
from harness.bench.stats import histogram_of_seconds, summary
from harness.chaos.run import client_recovery, per_second
from harness.chaos.sender import Attempt, BackgroundSend, SendLog
from harness.config import paths
from harness.errors import FleetError
from harness.fleet.load import FleetLoad
from harness.provision import run_site

__all__ = ["SCENARIOS", "FleetRun", "dip_and_recovery", "run_fleet"]

SCENARIOS = ("rolling", "mx-down")
#: accepted/s is read as its mean over this many seconds; below RECOVERED of the baseline it
#: counts as down, back at it as recovered
_RECOVERY_WINDOW, RECOVERED = 3, 0.9
#: how long the queues get to empty after the load, and the Maildirs to show the last copies
_DRAIN_SECONDS, _SETTLE_SECONDS = 180.0, 60.0


@dataclass(frozen=True)
class FleetRun:
    scenario: str
    rate: float = 20.0
    seconds: float = 120.0
    #: when the event starts, seconds into the load (the baseline is what came before)
    fault_at: float = 20.0
    #: mx-down: how long the MX stays down
    down_for: float = 30.0
    sessions: int = 8
    #: rolling: the hosts to update (an Ansible pattern; all mail hosts when empty)
    limit: str = ""
    #: mx-down: the MX to stop (the first of the mx tier when empty)
    host: str = ""

    def check(self) -> None:
        if self.scenario not in SCENARIOS:
            raise FleetError(f"--scenario {self.scenario}: unknown", hint=f"one of {SCENARIOS}")
        if self.rate <= 0 or self.seconds <= 0 or self.sessions < 1:
            raise FleetError(
                f"--rate {self.rate}, --seconds {self.seconds}, --sessions {self.sessions}: "
                "each must be above 0",
                hint="e.g. --rate 20 --seconds 120 --sessions 8",
            )
        if not 5 <= self.fault_at < self.seconds:
            raise FleetError(
                f"--fault-at {self.fault_at}: the event must start inside the load, after a "
                "baseline of 5 s or more",
                hint=f"between 5 and --seconds ({self.seconds})",
            )
        if self.scenario == "mx-down" and self.fault_at + self.down_for >= self.seconds:
            raise FleetError(
                f"--fault-at {self.fault_at} + --down-for {self.down_for}: the MX must be back "
                f"before the load ends (--seconds {self.seconds})",
                hint="raise --seconds or shorten --down-for",
            )


def _rate(timeline: list[list[float]], start: float, end: float) -> float:
    """Mean accepted/s over whole seconds [start, end)."""
    seconds = range(int(start), int(end))
    counts = {int(s): c for s, c in timeline}
    return sum(counts.get(s, 0) for s in seconds) / max(1, len(seconds))


def dip_and_recovery(
    timeline: list[list[float]],
    fault_start: float,
    fault_end: float,
    load_end: float,
    offered: float,
) -> dict[str, float | None]:
    """Accepted/s against the ``offered`` rate (an open loop that keeps up accepts what it
    offers; the seconds before the event can hold a start-up backlog, postscreen's greeting
    pause, so they only inform): the lowest mean over _RECOVERY_WINDOW seconds during the
    event (one slow second at a few dozen messages a second is noise), and the outage of
    throughput: from the first window below RECOVERED of the offered rate to the first later
    one back at it (0: it never fell that low; None: it was not back before the load ended)."""
    counts = {int(s): c for s, c in timeline}
    before = _rate(timeline, min(2.0, fault_start - 1), fault_start)
    baseline = offered

    def mean(s: int) -> float:
        return sum(counts.get(s + i, 0) for i in range(_RECOVERY_WINDOW)) / _RECOVERY_WINDOW

    last = int(load_end) - _RECOVERY_WINDOW
    during = range(int(fault_start), max(int(fault_start), min(int(fault_end), last)) + 1)
    low_second = min(during, key=mean)
    floor = RECOVERED * baseline
    fell = next((s for s in during if mean(s) < floor), None)
    recovery: float | None = 0.0
    if fell is not None:
        back = next((s for s in range(fell, last + 1) if mean(s) >= floor), None)
        recovery = None if back is None else float(back - fell)
    return {
        "baseline_per_s": round(baseline, 2),
        "before_event_per_s": round(before, 2),
        "dip_per_s": round(mean(low_second), 2),
        "dip_fraction": round(1 - mean(low_second) / baseline, 3) if baseline else None,
        "dip_at_s": float(low_second),
        "below_from_s": None if fell is None else float(fell),
        "recovery_s": recovery,
    }


def _via(
    log: SendLog, names: dict[str, str], start: float, end: float
) -> dict[str, dict[str, int]]:
    """Which MX (by host name: ``names`` maps a server's URL to it) gave the 250s before,
    during and after the event."""
    phases: dict[str, dict[str, int]] = {"before": {}, "during": {}, "after": {}}
    for token, at in log.accepted.items():
        phase = "before" if at < start else "during" if at <= end else "after"
        server = names.get(log.via.get(token, ""), "?")
        phases[phase][server] = phases[phase].get(server, 0) + 1
    return phases


def _rolling(load: FleetLoad, run: FleetRun) -> dict[str, Any]:
    result = run_site(
        paths().project,
        str(load.lab.state.inventory),
        playbook_name="rolling.yml",
        limit=run.limit or None,
    )
    return {
        "ok": result.success,
        "hosts": result.hosts,
        "changed": result.changed,
        "playbook_seconds": round(result.seconds, 2),
        **({} if result.success else {"output_tail": result.output[-3000:]}),
    }


def _mx_down(load: FleetLoad, run: FleetRun) -> dict[str, Any]:
    victim = next((h for h in load.mx if h.name == run.host), None) if run.host else load.mx[0]
    if victim is None:
        raise FleetError(
            f"--host {run.host}: not an MX of the fleet",
            hint=f"one of: {', '.join(h.name for h in load.mx)}",
        )
    container = load.lab.client.containers.get(victim.container)
    container.kill()
    time.sleep(run.down_for)
    container.start()
    return {"ok": True, "host": victim.name, "down_for_s": run.down_for}


_EVENTS: dict[str, Callable[[FleetLoad, FleetRun], dict[str, Any]]] = {
    "rolling": _rolling,
    "mx-down": _mx_down,
}


#: what each scenario does, for tables and plots
ABOUT = {
    "rolling": "playbooks/rolling.yml, host by host (drain, converge, verify, put back)",
    "mx-down": "one MX killed hard, then started again",
}


def run_fleet(
    lab_name: str,
    run: FleetRun,
    on_phase: Callable[[str], None] | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> dict[str, Any]:
    """Run the scenario on lab ``lab_name``; the result (``ok``: nothing missing, nothing given
    up, the event went through)."""
    run.check()
    say = on_phase or (lambda _text: None)
    load = FleetLoad.of(lab_name)
    # The servers' side from the lab's Prometheus (a host in group monitoring), when it has one.
    prometheus = prometheus_for(None, str(load.lab.state.inventory))
    if prometheus is not None:
        prometheus.scrape_interval()  # it answers now, not only after the run
    since = time.time() - 1
    plan = load.plan(run.rate, run.seconds, run.sessions)
    say(f"load: {run.rate:g} msg/s for {run.seconds:g} s through {len(load.urls)} MX")
    clients = BackgroundSend(plan, on_attempt)
    t0 = time.monotonic()
    time.sleep(max(0.0, run.fault_at - (time.monotonic() - t0)))
    say(f"event: {run.scenario}")
    start = time.monotonic() - t0
    event = _EVENTS[run.scenario](load, run)
    end = time.monotonic() - t0
    say("waiting for the clients to finish")
    log = clients.result(timeout=run.seconds + plan.give_up_after + 120)
    say("waiting for the queues to empty and the mail to land")
    drained = {
        h.name: wait_for_drain(load.shell(h), _DRAIN_SECONDS)
        for h in load.lab.state.hosts
        if h.name in load.lab.targets and load.lab.targets[h.name].tiers - {"mailbox"}
    }
    drained_at = time.time()
    accepted = set(log.accepted)
    boxes = load.mailboxes(since)
    boxes.scan(want=accepted, settle=_SETTLE_SECONDS)
    copies = boxes.copies()
    missing = sorted(accepted - copies.keys())
    duplicates = sorted(t for t in accepted if len(copies.get(t, ())) > 1)
    timeline = per_second(list(log.accepted.values()))
    names = {u.display: h.name for u, h in zip(load.urls, load.mx, strict=True)}
    latency = {
        t: at - log.due[t] for t, at in log.accepted.items() if t in log.due and at >= log.due[t]
    }
    in_event = [v for t, v in latency.items() if start <= log.due[t] <= end]
    # From half-way to the event: the first sessions wait out postscreen's greeting pause.
    before = [v for t, v in latency.items() if start / 2 <= log.due[t] < start]
    # A duplicate is not a loss: a session cut after the server's 250 but before the client read
    # it (a drain's reset, a killed MX) makes the client send again elsewhere. Counted, shown.
    ok = event["ok"] and not missing and not log.gave_up
    result: dict[str, Any] = {
        "scenario": run.scenario,
        "lab": lab_name,
        "settings": asdict(run),
        "ok": ok,
        "event": {**event, "start_s": round(start, 2), "end_s": round(end, 2)},
        "mx": [h.name for h in load.mx],
        "clients": {
            "sent": plan.messages,
            **log.counts(),
            "via": _via(log, names, start, end),
            **client_recovery(log, start),
        },
        "throughput": dip_and_recovery(timeline, start, end, log.seconds, run.rate),
        "latency_ms": {
            "all": summary(histogram_of_seconds(latency.values())),
            "before_event": summary(histogram_of_seconds(before)),
            "during_event": summary(histogram_of_seconds(in_event)),
        },
        "server": {
            "delivered": len(accepted & copies.keys()),
            "missing": len(missing),
            "missing_tokens": missing[:50],
            "duplicates": len(duplicates),
            "drained_s": drained,
        },
        "about": ABOUT[run.scenario],
        # For the plot (the chaos report's): the event from its start to its end.
        "fault": {"kind": run.scenario, "at_s": round(start, 2), "healed_at_s": round(end, 2)},
        "timeline": {
            "accepted": timeline,
            "delivered": per_second([min(c) - log.started for c in copies.values() if c]),
            "failed": per_second([a.at for a in log.attempts if a.outcome != "accepted"]),
        },
    }
    if prometheus is not None:
        say(f"the servers' series from {prometheus.base_url}")
        result["server_series"] = window_series(prometheus, log.started, drained_at)
    return result
