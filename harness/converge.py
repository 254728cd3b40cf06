"""playbooks/site.yml as a timed step: a failed run is one error, with the log's tail above it."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from harness.config import paths
from harness.errors import MailstackError
from harness.provision import PlaybookResult, run_site
from harness.ui import err_console, step

__all__ = ["ReConverge", "converge_site", "reconverge_timed"]

_TAIL_LINES = 25


def converge_site(
    inventory: str,
    *,
    check: bool = False,
    diff: bool = False,
    tags: str | None = None,
    limit: str | None = None,
) -> PlaybookResult:
    """Apply site.yml to ``inventory``; raise (after printing the tail on stderr) on failure."""
    mode = " (check mode)" if check else ""
    with step(f"converge {inventory}{mode}") as s:
        result = run_site(
            paths().project, inventory, check=check, diff=diff, tags=tags, limit=limit
        )
        s.note = f"ok={result.ok} changed={result.changed} failed={result.failed}"
    if not result.success:
        tail = "\n".join(result.output.strip().splitlines()[-_TAIL_LINES:])
        err_console.print(tail, markup=False, highlight=False)
        raise MailstackError(
            f"playbooks/site.yml failed on {inventory}",
            hint=f"run ansible-playbook -i {inventory} playbooks/site.yml to see all",
        )
    return result


@dataclass(frozen=True)
class ReConverge:
    """Idempotent re-runs of site.yml, timed: what an admin waits for on every re-apply."""

    seconds: list[float]
    changed: list[int]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def idempotent(self) -> bool:
        return not any(self.changed)

    def to_json(self) -> dict[str, object]:
        return {
            "runs": len(self.seconds),
            "seconds": [round(s, 2) for s in self.seconds],
            "median_seconds": round(self.median, 2),
            "changed": self.changed,
            "idempotent": self.idempotent,
        }


def reconverge_timed(inventory: str, runs: int, limit: str | None = None) -> ReConverge:
    """Re-apply site.yml ``runs`` times on an already converged ``inventory``."""
    results = [converge_site(inventory, limit=limit) for _ in range(runs)]
    return ReConverge([r.seconds for r in results], [r.changed for r in results])
