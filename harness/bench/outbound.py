"""An outbound rehearsal in a lab: the campaign goes into the stack on 587, the stack's Postfix
delivers it by MX to the lab's provider-like receivers (harness/receiver), and every message
the stack accepted is then found again: delivered (in a receiver's journal), bounced (in the
stack's log, with the reason), still queued, or missing — which must be none."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from docker import DockerClient
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.bench.campaign import Campaign
from harness.bench.model import BenchRun
from harness.bench.outbound_account import OutboundReport, account
from harness.bench.spec import BenchSpec
from harness.bench.targets import resolve_target
from harness.config import paths
from harness.errors import BenchError
from harness.lab.engine import ensure_engine
from harness.lab.receivers import configure_receiver, read_journal, run_in
from harness.lab.require import require_lab
from harness.lab.state import HostState
from harness.ui import err_console, step

__all__ = ["OutboundLab", "receiver_profiles", "run_outbound", "settle"]

_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class OutboundLab:
    """The stack host and the provider-like receivers of one lab."""

    client: DockerClient
    lab_name: str
    inventory: str
    stack: HostState
    receivers: tuple[HostState, ...]

    @classmethod
    def of(cls, lab_name: str, stack: str | None) -> OutboundLab:
        """The lab's ``stack`` host (a mail host; None: the first) and its receivers, or
        BenchError."""
        state = require_lab(lab_name, or_inventory=False)
        first = next((h.name for h in state.hosts if "mail" in h.groups), "")
        stack = stack or first
        host = state.host(stack)
        if host is None or "mail" not in host.groups:
            mail = ", ".join(h.name for h in state.hosts if "mail" in h.groups)
            raise BenchError(f"--host {stack}: not a mail host of lab {lab_name!r} ({mail})")
        receivers = tuple(h for h in state.hosts if h.receiver)
        if not receivers:
            raise BenchError(
                f"--outbound: lab {lab_name!r} has no provider-like receiver",
                hint="bring up harness/lab/outbound-topology.yml (hosts with 'receiver:')",
            )
        return cls(
            ensure_engine(paths().engine_log), lab_name, str(state.inventory), host, receivers
        )

    @property
    def receiver_domains(self) -> dict[str, list[str]]:
        return {h.name: list(h.mx_for) for h in self.receivers}

    @property
    def domains(self) -> set[str]:
        return {d for h in self.receivers for d in h.mx_for}

    def reset(self, profiles: Mapping[str, dict[str, Any]]) -> None:
        """Each receiver restarted with an empty journal and store; ``profiles`` (host name
        -> profile mapping) replace the topology's profile for a host."""
        from harness.receiver.catalogue import shipped_profile  # noqa: PLC0415

        unknown = sorted(set(profiles) - {h.name for h in self.receivers})
        if unknown:
            raise BenchError(
                f"--receiver-profile {unknown[0]}=...: not a receiver of the lab",
                hint=f"receivers: {', '.join(h.name for h in self.receivers)}",
            )
        for host in self.receivers:
            profile = profiles.get(host.name) or shipped_profile(host.receiver).as_dict()
            configure_receiver(self.client, host, profile)

    def queue(self) -> str:
        """``postqueue -j`` on the stack: one JSON object per queued message."""
        return run_in(self.client, self.stack, "postqueue", "-j", stderr=False)

    def drop_queue(self) -> None:
        """Delete every message queued at the stack (``postsuper -d ALL``)."""
        run_in(self.client, self.stack, "postsuper", "-d", "ALL")

    def stack_log(self, since: float) -> str:
        return run_in(
            self.client,
            self.stack,
            *("journalctl", "-o", "short-unix", "--no-pager", f"--since=@{int(since)}"),
            stderr=False,
        )

    def journals(self) -> dict[str, list[dict[str, Any]]]:
        return {h.name: read_journal(self.client, h) for h in self.receivers}

    def delivered(self, tokens: Mapping[str, float]) -> int:
        found = {
            line.get("token")
            for lines in self.journals().values()
            for line in lines
            if line.get("outcome") == "accepted"
        }
        return len(found & tokens.keys())


def receiver_profiles(values: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``HOST=NAME`` (a shipped profile) or ``HOST=FILE`` (a YAML/JSON profile mapping) ->
    host name -> the profile, validated; BenchError names the value that is wrong."""
    from harness.receiver.catalogue import load_catalogue  # noqa: PLC0415
    from harness.receiver.errors import ReceiverError  # noqa: PLC0415
    from harness.receiver.profile import profile_from_mapping  # noqa: PLC0415

    shipped = load_catalogue()
    profiles: dict[str, dict[str, Any]] = {}
    for value in values:
        host, sep, what = value.partition("=")
        if not sep or not host or not what:
            raise BenchError(f"--receiver-profile {value!r} is not HOST=NAME or HOST=FILE")
        if what in shipped:
            profiles[host] = shipped[what].as_dict()
            continue
        path = Path(what)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            profiles[host] = profile_from_mapping(data, source=str(path)).as_dict()
        except OSError as exc:
            raise BenchError(
                f"--receiver-profile {value}: {what} is neither a shipped profile "
                f"({', '.join(sorted(shipped))}) nor a readable file ({exc.strerror})"
            ) from None
        except (yaml.YAMLError, ReceiverError) as exc:
            raise BenchError(f"--receiver-profile {value}: {exc}") from None
    return profiles


def settle(
    lab: OutboundLab,
    accepted: Mapping[str, float],
    started: float,
    timeout: float,
    on_poll: Callable[[int], None] | None = None,
) -> tuple[OutboundReport, float | None]:
    """Wait until the stack's queue is empty (every message delivered or bounced) or
    ``timeout`` seconds have passed; then account for every accepted token. Returns the
    report and the seconds from ``started`` to the empty queue (None: timed out)."""
    deadline = time.monotonic() + timeout
    emptied: float | None = None
    with Progress(
        TextColumn("[bold]outbound delivery"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("delivered", total=len(accepted))
        while True:
            delivered = lab.delivered(accepted)
            progress.update(task, completed=delivered)
            if on_poll is not None:
                on_poll(delivered)
            if not lab.queue().strip():
                emptied = time.time() - started
                break
            if time.monotonic() > deadline:
                break
            time.sleep(_POLL_SECONDS)
    report = account(
        lab.stack_log(started - 1),
        lab.journals(),
        lab.queue(),
        accepted,
        lab.receiver_domains,
        started,
    )
    return report, emptied


def run_outbound(
    lab: OutboundLab,
    campaign: Campaign,
    offsets: tuple[float, ...],
    *,
    sessions: int,
    drain_timeout: float,
    profiles: Mapping[str, dict[str, Any]],
    at: float | None = None,
    shape: str,
) -> BenchRun:
    """Submit ``campaign`` on 587 at the stack, let its Postfix deliver it by MX to the
    receivers (reset first, with ``profiles`` where given), and account for every message."""
    from harness.bench.fingerprint import local_fingerprint  # noqa: PLC0415
    from harness.bench.generator import run_bench  # noqa: PLC0415 -- uvloop, processes
    from harness.bench.result import run_json  # noqa: PLC0415

    domains = {campaign.recipient(i).rsplit("@", 1)[1].lower() for i in range(len(campaign))}
    if elsewhere := sorted(domains - lab.domains):
        raise BenchError(
            f"--outbound: recipients at {', '.join(elsewhere[:5])}, which no receiver of lab "
            f"{lab.lab_name!r} serves",
            hint=f"use addresses at {', '.join(sorted(lab.domains))}; nothing was sent",
        )
    if waiting := len(lab.queue().splitlines()):
        raise BenchError(
            f"the queue of {lab.stack.name} holds {waiting} message(s) already: the rehearsal "
            "would wait for them too",
            hint=f"let them go (mailstack lab ssh --lab {lab.lab_name} {lab.stack.name} -- "
            "postqueue -f) or delete them (postsuper -d ALL)",
        )
    with step("reset the receivers (empty journals and stores)"):
        lab.reset(profiles)
    target = resolve_target(
        None, inventory=None, lab_name=lab.lab_name, host=lab.stack.name, service="submission"
    )
    spec = BenchSpec.for_campaign(target.url, campaign, offsets, sessions)
    if at is not None:
        time.sleep(max(0.0, at - time.time()))
    run = run_bench(spec)
    report, drained = settle(lab, run.metrics.accepted_tokens, run.started, drain_timeout)
    data = run_json(run, "campaign-outbound", {"client": local_fingerprint()})
    data["campaign"] = {"recipients": len(campaign), "shape": shape, "start_at": at}
    data["outbound"] = {**report.to_json(), "drained_s": drained, "timeout_s": drain_timeout}
    return data
