"""One generator of a bench spread over several machines (`mailstack bench run --generators N`).

The controller installs this package on each generator host (playbooks/generators.yml) and
runs, over the inventory's own connection::

    <venv>/bin/python -m harness.bench.remote SPEC START_AT ENGINE

SPEC is the generator's share of the run (JSON, base64); the process waits until START_AT (epoch
seconds) so every generator begins together, runs the bench's own generator, and prints one JSON
line: its host, when it started, how long it ran, and its metrics in wire form (outcome counts,
HDR histograms in their own compressed encoding, the accepted tokens), which the controller
merges. Only the generator's modules are imported here: no Ansible, Docker or plotting.
"""

from __future__ import annotations

import base64
import json
import socket
import sys
import time
from dataclasses import asdict
from typing import Any

from harness.bench.generator import run_bench
from harness.bench.spec import BenchSpec, SizeDistribution, TargetURL
from harness.errors import BenchError

__all__ = ["decode_spec", "encode_spec", "main", "run_share"]


def encode_spec(spec: BenchSpec) -> str:
    """``spec`` as one shell-safe word (a campaign, which reads files, cannot travel)."""
    if spec.campaign is not None or spec.schedule is not None:
        raise BenchError(
            "a campaign or a scheduled run cannot be spread over generators",
            hint="drop --generators, or run a plain bench (messages, sessions, rate, size)",
        )
    data = asdict(spec)
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def decode_spec(word: str) -> BenchSpec:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(word.encode()))
    sizes = data.pop("sizes")
    target = data.pop("target")
    data["recipients"] = tuple(data["recipients"])
    return BenchSpec(
        target=TargetURL(**target),
        sizes=SizeDistribution(tuple(sizes["sizes"]), tuple(sizes["weights"])),
        **data,
    )


def run_share(spec: BenchSpec, start_at: float, engine: str) -> dict[str, Any]:
    """Wait for ``start_at``, run ``spec``; what the controller merges."""
    late = time.time() - start_at
    if late < 0:
        time.sleep(-late)
    run = run_bench(spec, engine)
    return {
        "host": socket.gethostname(),
        "late_start_s": round(max(0.0, late), 3),
        "started": run.started,
        "seconds": run.seconds,
        "metrics": run.metrics.to_wire(),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m harness.bench.remote SPEC START_AT ENGINE", file=sys.stderr)
        return 2
    result = run_share(decode_spec(argv[0]), float(argv[1]), argv[2])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
