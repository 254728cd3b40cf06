"""One chaos scenario in a lab: steady load, one fault in the middle, then every message the
clients sent found again by its token — delivered once, delivered twice (a duplicate, reported),
or missing (the promise says: never)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import testinfra
from docker import DockerClient
from testinfra.host import Host

from harness.bench.delivery import maildir_copies, queued_reasons, wait_for_drain
from harness.bench.targets import lab_target
from harness.chaos.faults import FaultContext
from harness.chaos.scenarios import Scenario
from harness.chaos.sender import BackgroundSend, SendLog, SendPlan
from harness.config import paths
from harness.errors import ChaosError
from harness.lab.engine import ensure_engine
from harness.lab.require import require_lab
from harness.lab.state import HostState, LabState
from harness.verify.targets import Target, load_targets

__all__ = ["ChaosLab", "Load", "client_recovery", "per_second", "postfix_seconds", "run_scenario"]

#: how long the queues get to empty after the load (on top of Postfix's own retry delay for a
#: deferred message), and the Maildirs to show the last copies
_DRAIN_SECONDS = 180.0
_POSTFIX_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SETTLE_SECONDS = 30.0
#: the sender on port 25: a server of another domain
_OUTSIDER = "chaos@client.test"


@dataclass(frozen=True)
class Load:
    """The shape of every scenario's load: ``rate`` messages a second for ``seconds``; the
    fault at ``fault_at`` seconds, ended ``fault_for`` seconds later."""

    rate: float = 20.0
    seconds: float = 40.0
    fault_at: float = 10.0
    fault_for: float = 10.0
    sessions: int = 4
    give_up_after: float = 120.0

    def check(self) -> None:
        for name, value in (
            ("--rate", self.rate),
            ("--seconds", self.seconds),
            ("--give-up-after", self.give_up_after),
        ):
            if value <= 0:
                raise ChaosError(f"{name} {value}: must be above 0")
        if not 0 <= self.fault_at < self.seconds:
            raise ChaosError(
                f"--fault-at {self.fault_at}: must fall inside the load",
                hint=f"between 0 and --seconds ({self.seconds})",
            )
        if self.fault_for < 0:
            raise ChaosError(f"--fault-for {self.fault_for}: must be 0 or more")


@dataclass(frozen=True)
class ChaosLab:
    """A lab's engine, its state, and the mail hosts a scenario can use."""

    client: DockerClient
    state: LabState
    targets: dict[str, Target]

    @classmethod
    def of(cls, lab_name: str) -> ChaosLab:
        state = require_lab(lab_name, or_inventory=False)
        targets = {t.name: t for t in load_targets(str(state.inventory))}
        return cls(ensure_engine(paths().engine_log), state, targets)

    def host(self, name: str | None) -> HostState:
        mail = [h for h in self.state.hosts if h.name in self.targets]
        if not mail:
            raise ChaosError(f"lab {self.state.name!r} has no mail host")
        found = next((h for h in mail if h.name == name), None) if name else mail[0]
        if found is None:
            raise ChaosError(
                f"--host {name}: not a mail host of lab {self.state.name!r}",
                hint=f"one of: {', '.join(h.name for h in mail)}",
            )
        return found

    def peer_of(self, host: HostState) -> HostState | None:
        return next((h for h in self.state.hosts if h.name in self.targets and h != host), None)


def _maildir(target: Target, address: str) -> str:
    local, domain = address.rsplit("@", 1)
    return f"{target.mail_root}/{domain}/{local}/Maildir"


def per_second(times: list[float]) -> list[list[float]]:
    """Per-second counts: [[second, count], ...]."""
    counts = Counter(int(t) for t in times if t >= 0)
    return [[s, counts[s]] for s in range(max(counts, default=-1) + 1)]


def client_recovery(log: SendLog, injected: float) -> dict[str, float | None]:
    """What the clients saw of the fault: the first 250 after it, the first failure after
    it, and how long from that failure to the next 250 (0: no client saw a failure)."""
    after = [a for a in log.attempts if a.at >= injected]
    first_ok = next((a.at for a in after if a.outcome == "accepted"), None)
    first_fail = next((a.at for a in after if a.outcome != "accepted"), None)
    outage: float | None = 0.0
    if first_fail is not None:
        back = next((a.at for a in after if a.outcome == "accepted" and a.at > first_fail), None)
        outage = None if back is None else round(back - first_fail, 2)

    def since(at: float | None) -> float | None:
        return None if at is None else round(at - injected, 2)

    return {
        "first_250_after_fault_s": since(first_ok),
        "first_failure_after_fault_s": since(first_fail),
        "client_outage_s": outage,
    }


def run_scenario(
    lab: ChaosLab,
    scenario: Scenario,
    load: Load,
    *,
    host_name: str | None = None,
    on_attempt: Callable[[str], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run ``scenario`` under ``load`` against a mail host of ``lab`` and account for every
    message; the result is JSON-ready. ``on_attempt`` gets each attempt's outcome,
    ``on_phase`` the run's steps (for a progress display)."""
    load.check()
    phase = on_phase or (lambda _text: None)
    host = lab.host(host_name)
    peer = lab.peer_of(host) if scenario.to_peer else None
    if scenario.to_peer and peer is None:
        raise ChaosError(f"{scenario.name}: lab {lab.state.name!r} has no second mail host")
    target = lab.targets[host.name]
    receiving = lab.targets[peer.name] if peer else target
    url, _ = lab_target(target.inventory, host.name, scenario.service)
    rcpt = receiving.accounts.mailbox
    ctx = FaultContext(lab.client, lab.state, host, _maildir(receiving, rcpt), peer)
    plan = SendPlan(
        target=url,
        # Port 25 takes mail from other domains' servers; 587 from the host's own users.
        sender=target.accounts.mailbox if scenario.service == "submission" else _OUTSIDER,
        recipients=(rcpt,),
        rate=load.rate,
        seconds=load.seconds,
        sessions=load.sessions,
        give_up_after=load.give_up_after,
    )
    started = time.time()
    clients = BackgroundSend(plan, (lambda a: on_attempt(a.outcome)) if on_attempt else None)
    fault: dict[str, Any] = {"kind": scenario.fault.kind, "target": scenario.fault.target}
    try:
        time.sleep(max(0.0, started + load.fault_at - time.time()))
        phase(f"inject {scenario.name}")
        fault["at"] = time.time()
        fault["injected"] = scenario.fault.inject(ctx)
        time.sleep(max(0.0, fault["at"] + load.fault_for - time.time()))
        phase("heal")
        fault["healed"] = scenario.fault.heal(ctx)
        fault["healed_at"] = time.time()
        phase("clients finish (retrying)")
        log = clients.result()
        phase("queues drain")
        sending = testinfra.get_host(f"docker://{host.container}")
        # A daemon killed mid-delivery leaves its messages deferred, retried only after
        # Postfix's back-off: slow, not lost, so the wait allows for one retry.
        drain = wait_for_drain(sending, timeout=_DRAIN_SECONDS + _retry_wait(sending))
        still = queued_reasons(sending) if drain is None else {}
        phase("account for every token")
        scenario.fault.cleanup(ctx)  # a tmpfs Maildir's messages back on the disk, where we look
        scanning = testinfra.get_host(f"docker://{(peer or host).container}")
        found = maildir_copies(
            scanning, log.started, receiving.mail_root, set(log.accepted), _SETTLE_SECONDS
        )
        copies = {t: c for t, c in found.times.items() if t in log.recipient}
        unsigned = sorted(found.unsigned & copies.keys()) if scenario.signed else []
    finally:
        scenario.fault.cleanup(ctx)
    return _result(scenario, load, plan, log, fault, copies, drain, still, unsigned, host)


def postfix_seconds(value: str) -> float:
    """A Postfix time value (``300s``, ``5m``, ``1h``; a bare number is seconds) in seconds."""
    value = value.strip()
    unit = _POSTFIX_UNITS.get(value[-1:])
    return float(value[:-1]) * unit if unit else float(value)


def _retry_wait(host: Host) -> float:
    """The longest a message deferred now waits for its next try: its back-off, then the next
    queue scan (``minimal_backoff_time`` + ``queue_run_delay``)."""
    out = host.run("postconf -h minimal_backoff_time queue_run_delay")
    try:
        return sum(postfix_seconds(v) for v in out.stdout.split())
    except ValueError:
        return 600.0


def _result(
    scenario: Scenario,
    load: Load,
    plan: SendPlan,
    log: SendLog,
    fault: dict[str, Any],
    copies: dict[str, list[float]],
    drain: float | None,
    still: dict[str, int],
    unsigned: list[str],
    host: HostState,
) -> dict[str, Any]:
    t0 = log.started
    missing = sorted(set(log.accepted) - set(copies))
    duplicates = {t: len(c) for t, c in copies.items() if len(c) > 1}
    injected = fault.pop("at") - t0
    healed = fault.pop("healed_at") - t0
    ok = not missing and not unsigned and not log.gave_up and drain is not None
    return {
        "scenario": scenario.name,
        "about": scenario.about,
        "host": host.name,
        "ok": ok,
        "fault": {**fault, "at_s": round(injected, 2), "healed_at_s": round(healed, 2)},
        "load": {
            "service": scenario.service,
            "to": plan.recipients[0],
            "rate": load.rate,
            "seconds": load.seconds,
            "sessions": load.sessions,
            "messages": plan.messages,
        },
        "clients": log.counts(),
        "server": {
            "delivered": len(set(log.accepted) & set(copies)),
            "duplicates": sum(n - 1 for n in duplicates.values()),
            "duplicate_tokens": sorted(duplicates)[:50],
            "missing": len(missing),
            "missing_tokens": missing[:100],
            "delivered_without_250": len(set(copies) - set(log.accepted)),
            "unsigned": len(unsigned),
            "unsigned_tokens": unsigned[:50],
            "drained": drain is not None,
            "still_queued": still,
        },
        "recovery": client_recovery(log, injected),
        "timeline": {
            "accepted": per_second(list(log.accepted.values())),
            "failed": per_second([a.at for a in log.attempts if a.outcome != "accepted"]),
            "delivered": per_second([min(c) - t0 for c in copies.values()]),
        },
    }
