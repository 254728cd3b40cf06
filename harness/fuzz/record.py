"""What one case leaves behind: its replies (code and cut text), how the connection ended, the
tokens it sent and what became of them, and its findings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["REPLY_LIMIT", "TEXT_LIMIT", "CaseRecord", "End", "Finding", "ReplyRecord"]

#: Reply text kept per reply (the rest is cut): enough to read a refusal.
TEXT_LIMIT = 120
#: Replies kept per case: a case that pipelines 200 commands keeps the first ones.
REPLY_LIMIT = 64


class End(StrEnum):
    CLOSED_BY_SERVER = "closed_by_server"
    CLOSED_BY_US = "closed_by_us"
    TIMEOUT = "timeout"
    RESET = "reset"
    TLS_ERROR = "tls_error"
    #: no connection at all (refused, unreachable): the liveness checks say more
    REFUSED = "refused"
    #: the fuzzer itself failed; a ``driver_error`` finding holds the exception
    ERROR = "error"


@dataclass(frozen=True)
class ReplyRecord:
    """One reply (SMTP) or response line (IMAP). ``code``: "250", or for IMAP the status
    ("OK", "NO", "BAD", "BYE", "PREAUTH"), "+" for a continuation, "*" for other untagged data;
    empty when the line had no code at all. ``step``: index in the plan, -1 for the greeting."""

    step: int
    code: str
    text: str


@dataclass(frozen=True)
class Finding:
    """Something a person should look at. ``kind`` and ``detail`` say what, in general words
    (the report counts findings by them); ``example`` is the raw evidence of the first one."""

    kind: str
    detail: str
    example: str = ""
    case_id: int | None = None
    seed: int | None = None


@dataclass
class CaseRecord:
    case_id: int
    seed: int
    protocol: str
    kinds: list[str]
    variants: list[str]
    steps_run: int = 0
    replies: list[ReplyRecord] = field(default_factory=list)
    replies_dropped: int = 0
    #: every reply's code, kept or dropped
    codes: dict[str, int] = field(default_factory=dict)
    end: End = End.CLOSED_BY_US
    detail: str = ""
    seconds: float = 0.0
    sent_tokens: list[str] = field(default_factory=list)
    completed_tokens: list[str] = field(default_factory=list)
    refused_tokens: list[str] = field(default_factory=list)
    unanswered_tokens: list[str] = field(default_factory=list)
    #: replies fell out of step with commands (a silence where one was due, a stray 354)
    out_of_step: bool = False
    findings: list[Finding] = field(default_factory=list)

    def reply(self, step: int, code: str, text: str) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1
        if len(self.replies) < REPLY_LIMIT:
            self.replies.append(ReplyRecord(step, code, text[:TEXT_LIMIT]))
        else:
            self.replies_dropped += 1

    def find(self, kind: str, detail: str, example: str = "") -> None:
        self.findings.append(Finding(kind, detail, example[:200], self.case_id, self.seed))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["end"] = self.end.value
        return data
