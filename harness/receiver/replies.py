"""SMTP replies as values: basic code, enhanced status code (RFC 3463) and text."""

from __future__ import annotations

import re
import string
from typing import NamedTuple

__all__ = ["PLACEHOLDERS", "Reply", "outcome_of"]

#: Names a reply text may use as ``{name}``; each is filled when the reply is sent.
PLACEHOLDERS = frozenset({"client_ip", "hostname", "domain"})

_REPLY = re.compile(
    r"^(?P<code>[2-5][0-9][0-9]) (?P<enhanced>[2-5]\.[0-9]{1,3}\.[0-9]{1,3}) (?P<text>\S.*)$"
)


class Reply(NamedTuple):
    code: int
    enhanced: str
    text: str

    @classmethod
    def parse(cls, value: str) -> Reply:
        """``"451 4.7.28 Rate limited"``; raises ValueError when it is not of that form, when the
        two codes disagree on the class (4 and 4.x.x), or when the text uses an unknown
        placeholder."""
        match = _REPLY.match(value)
        if match is None:
            raise ValueError("not of the form 'CODE X.Y.Z text' (e.g. '451 4.7.28 Try later')")
        code, enhanced, text = match["code"], match["enhanced"], match["text"]
        if code[0] != enhanced[0]:
            raise ValueError(f"reply code {code} and enhanced code {enhanced} differ in class")
        unknown = _placeholders(text) - PLACEHOLDERS
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {sorted(unknown)}; known: {sorted(PLACEHOLDERS)}"
            )
        return cls(int(code), enhanced, text)

    def render(self, **values: str) -> Reply:
        """The reply with its placeholders filled (missing ones become ``unknown``)."""
        filled = {name: values.get(name) or "unknown" for name in PLACEHOLDERS}
        return self._replace(text=self.text.format_map(filled))

    @property
    def outcome(self) -> str:
        return outcome_of(self.code)

    @property
    def closes_connection(self) -> bool:
        """421 means the server closes the transmission channel (RFC 5321 3.8)."""
        return self.code == 421

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}"


def outcome_of(code: int) -> str:
    """``accepted`` (2xx), ``deferred`` (4xx) or ``rejected`` (5xx)."""
    return {2: "accepted", 4: "deferred", 5: "rejected"}.get(code // 100, "other")


def _placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:  # a lone brace
        raise ValueError(f"{exc}; write a literal brace as '{{{{' or '}}}}'") from exc
