"""The main job (`make demo`): lab up, converge twice, verify, mail between the two servers
with their verdicts, a short bench, lab down.

:func:`run_demo` returns what happened as data; the CLI decides how to show it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.bench.baseline import PostfixTools
from harness.bench.gate import rounds_shortfall, shortfall
from harness.bench.model import BenchSuite
from harness.bench.report import write_report
from harness.bench.result import save_result
from harness.bench.standard import StandardSize, run_standard
from harness.config import paths
from harness.converge import converge_site
from harness.lab.engine import ensure_engine
from harness.lab.lab import Lab
from harness.lab.topology import default_topology
from harness.lab.zones import publish_lab_zones
from harness.provision import PlaybookResult
from harness.ui import step
from harness.verify.exchange import Exchange, exchange, peers_of
from harness.verify.runner import VerifyReport, run_verify
from harness.verify.targets import load_targets

__all__ = ["PASS_NEEDED", "DemoResult", "exchange_both_ways", "run_demo"]

#: What the receiving server must say of mail between the two (its Authentication-Results).
PASS_NEEDED = frozenset({"spf", "dkim", "dmarc"})


@dataclass
class DemoResult:
    """One demo: each step's result and time (seconds, by step name)."""

    lab: str
    already_up: bool
    #: the lab as ``Lab.status()`` showed it once up
    status: dict[str, Any]
    converge: PlaybookResult
    converge_again: PlaybookResult
    verify: VerifyReport
    #: one message each way between the servers, with the receiver's verdict
    exchanges: list[Exchange]
    #: the quick standard bench result, and where it and its HTML report were written
    bench: BenchSuite
    bench_result: Path
    bench_report: Path
    #: whether the lab was left running (asked to, or found running)
    kept: bool
    timings: dict[str, float] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """What went wrong, one phrase each; empty when the demo succeeded."""
        found = []
        if self.converge_again.changed:
            found.append(
                f"converge again changed {self.converge_again.changed} task(s): "
                + "; ".join(self.converge_again.changed_tasks)
            )
        if not self.verify.ok:
            found.append(f"verify: {self.verify.count('failed')} check(s) failed")
        for sent in self.exchanges:
            if any(sent.results.get(m) != "pass" for m in PASS_NEEDED):
                found.append(f"mail {sent.sender} -> {sent.receiver}: {sent.results}")
        for name, run in self.bench["runs"].items():
            if reason := shortfall(f"bench {name}", run, None):
                found.append(reason)
        if lost := rounds_shortfall(self.bench):
            found.append(f"bench {lost}")
        return found

    def to_json(self) -> dict[str, Any]:
        def playbook(result: PlaybookResult) -> dict[str, Any]:
            return {k: v for k, v in result.__dict__.items() if k != "output"}

        return {
            "lab": self.lab,
            "already_up": self.already_up,
            "kept": self.kept,
            "seconds": {k: round(v, 1) for k, v in self.timings.items()},
            "status": self.status,
            "converge": playbook(self.converge),
            "converge_again": playbook(self.converge_again),
            "verify": self.verify.to_json(),
            "exchanges": [e.to_json() for e in self.exchanges],
            "bench": {
                "result": str(self.bench_result),
                "report": str(self.bench_report),
                "accept_rate": self.bench["accept_rate"],
                "ratios": self.bench.get("ratios"),
            },
            "problems": self.problems(),
        }


def run_demo(name: str, *, keep: bool, out: Path) -> DemoResult:
    """Run the demo on the lab ``name``; a lab it found running stays up, as it was."""
    timings: dict[str, float] = {}
    the_lab = Lab(ensure_engine(paths().engine_log), paths(), name)
    up = the_lab.up(default_topology())
    timings["lab up"] = up.seconds
    status = the_lab.status()
    inventory = str(up.state.inventory)
    first = converge_site(inventory)
    publish_lab_zones(name)  # the DKIM keys the converge made, now served
    timings["converge"] = first.seconds
    again = converge_site(inventory)
    timings["converge again"] = again.seconds
    checked = run_verify(inventory)
    timings["verify"] = checked.seconds
    started = time.monotonic()
    exchanges = exchange_both_ways(inventory)
    timings["exchange"] = time.monotonic() - started
    started = time.monotonic()
    bench = run_standard(up.state, PostfixTools(paths().tools), StandardSize.quick())
    timings["bench"] = time.monotonic() - started
    save_result(bench, out)
    written = write_report(bench, out.parent, out.stem)
    kept = keep or up.already_up
    if not kept:
        with step(f"lab {name!r} down"):
            the_lab.down()
    return DemoResult(
        lab=name,
        already_up=up.already_up,
        status=status,
        converge=first,
        converge_again=again,
        verify=checked,
        exchanges=exchanges,
        bench=bench,
        bench_result=out,
        bench_report=written["html"],
        kept=kept,
        timings=timings,
    )


def exchange_both_ways(inventory: str) -> list[Exchange]:
    """One message from every mail host to every host its mail leaves for by MX."""
    targets = load_targets(inventory)
    sent = []
    with step("mail between the servers, by MX") as s:
        for sender in targets:
            for receiver in peers_of(sender, targets):
                s.update(f"{sender.name} -> {receiver.name}")
                sent.append(exchange(sender, receiver, subject="mailstack demo"))
        s.note = f"{len(sent)} message(s)"
    return sent
