"""A fuzz run's result: counts by step kind, by how connections ended and by reply code; the
message tokens sent and completed (to compare with what the server delivered); the liveness
checks; and the findings, one entry per kind of problem with a count and a first example.
Every case record is kept too, so a finding can be traced to its case and replayed by seed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness.fuzz.record import CaseRecord, Finding

__all__ = ["FuzzReport"]


@dataclass
class FuzzReport:
    target: str
    kind: str
    seed: int
    #: the prefix of this run's message tokens (unique per run, unlike the seed)
    run_id: str
    cases_planned: int
    limits: dict[str, float]
    cases_run: int = 0
    seconds: float = 0.0
    step_counts: Counter[str] = field(default_factory=Counter)
    end_counts: Counter[str] = field(default_factory=Counter)
    reply_codes: Counter[str] = field(default_factory=Counter)
    sent_tokens: list[str] = field(default_factory=list)
    completed_tokens: list[str] = field(default_factory=list)
    refused_tokens: list[str] = field(default_factory=list)
    #: the end of data went out and no answer came back: maybe delivered
    unanswered_tokens: list[str] = field(default_factory=list)
    alive_checks: int = 0
    alive_failures: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)
    cases: list[CaseRecord] = field(default_factory=list)

    def add(self, record: CaseRecord) -> None:
        self.cases.append(record)
        self.cases_run += 1
        self.step_counts.update(record.kinds[: record.steps_run])
        self.end_counts[record.end.value] += 1
        self.reply_codes.update(record.codes)
        self.sent_tokens += record.sent_tokens
        self.completed_tokens += record.completed_tokens
        self.refused_tokens += record.refused_tokens
        self.unanswered_tokens += record.unanswered_tokens
        for finding in record.findings:
            self.add_finding(finding)

    def add_finding(self, finding: Finding) -> None:
        for entry in self.findings:
            if (entry["kind"], entry["detail"]) == (finding.kind, finding.detail):
                entry["count"] += 1
                return
        self.findings.append(
            {
                "kind": finding.kind,
                "detail": finding.detail,
                "example": finding.example,
                "case_id": finding.case_id,
                "seed": finding.seed,
                "count": 1,
            }
        )

    @property
    def slowest_case(self) -> float:
        return max((c.seconds for c in self.cases), default=0.0)

    def to_json(self, *, cases: bool = True) -> dict[str, Any]:
        """Plain data for ``json.dumps``; ``cases=False`` leaves out the per-case records (a
        run of thousands of cases keeps its counts, tokens and findings in a small file)."""
        records = sorted(self.cases, key=lambda c: c.case_id) if cases else []
        return {
            "target": self.target,
            "kind": self.kind,
            "seed": self.seed,
            "run_id": self.run_id,
            "cases_planned": self.cases_planned,
            "cases_run": self.cases_run,
            "seconds": round(self.seconds, 3),
            "limits": self.limits,
            "slowest_case": self.slowest_case,
            "step_counts": dict(sorted(self.step_counts.items())),
            "end_counts": dict(sorted(self.end_counts.items())),
            "reply_codes": dict(sorted(self.reply_codes.items())),
            "sent_tokens": self.sent_tokens,
            "completed_tokens": self.completed_tokens,
            "refused_tokens": self.refused_tokens,
            "unanswered_tokens": self.unanswered_tokens,
            "alive_checks": self.alive_checks,
            "alive_failures": self.alive_failures,
            "findings": self.findings,
            "cases": [c.to_json() for c in records],
        }
