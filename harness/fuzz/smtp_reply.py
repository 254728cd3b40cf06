"""SMTP replies read off the wire and checked against RFC 5321 4.2: a three-digit code (2xx to
5xx), then a space, a hyphen (more lines follow) or nothing, then text without control bytes,
CRLF at the end, and one code for every line of a multi-line reply. What breaks a rule is kept
as a problem; the driver turns problems into findings."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.fuzz.wire import OverlongLineError, Wire

__all__ = ["SmtpReply", "line_problems", "read_reply"]

_CODE = re.compile(rb"[2-5][0-5][0-9]")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
#: Lines of one reply before it counts as endless (an EHLO reply has about a dozen).
_MAX_LINES = 1000
_MIXED = "multi-line reply whose lines carry different codes"


@dataclass(frozen=True)
class SmtpReply:
    """``code`` is 0 when the reply did not start with a valid code."""

    code: int
    lines: tuple[str, ...]
    problems: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return " | ".join(self.lines)

    @property
    def keywords(self) -> set[str]:
        """EHLO extension keywords (upper case, the first word of each line after the first)."""
        return {line.split()[0].upper() for line in self.lines[1:] if line.split()}


def line_problems(raw: bytes) -> list[str]:
    """What is wrong with one reply line (with its line end), in general words."""
    problems = []
    if not raw.endswith(b"\r\n"):
        problems.append(
            "reply line ends in a bare LF" if raw.endswith(b"\n") else "reply line cut short"
        )
    body = raw.rstrip(b"\n").removesuffix(b"\r")
    if not _CODE.fullmatch(body[:3]):
        problems.append("reply without a valid 3-digit code")
    elif body[3:4] not in (b"", b" ", b"-"):
        problems.append("reply code not followed by a space or a hyphen")
    if _CONTROL.search(body[4:]):
        problems.append("control byte in the reply text")
    return problems


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\r\n")[4:].decode("utf-8", errors="backslashreplace")


async def read_reply(wire: Wire) -> SmtpReply:
    """One whole reply (all its lines). Raises ServerClosedError when nothing came before the
    end of the stream; a reply cut short by it is returned with the problem noted."""
    lines: list[str] = []
    problems: list[str] = []
    code = 0
    for _ in range(_MAX_LINES):
        try:
            raw = await wire.readline()
        except OverlongLineError as exc:
            return SmtpReply(code, (*lines, ""), (*problems, str(exc)))
        problems += [p for p in line_problems(raw) if p not in problems]
        lines.append(_text(raw))
        head = raw[:3]
        if not _CODE.fullmatch(head):
            return SmtpReply(code, (*lines[:-1], raw.decode("latin-1")[:200]), tuple(problems))
        if not code:
            code = int(head)
        elif int(head) != code and _MIXED not in problems:
            problems.append(_MIXED)
        if raw[3:4] != b"-" or wire.eof:
            return SmtpReply(code, tuple(lines), tuple(problems))
    return SmtpReply(code, tuple(lines), (*problems, f"reply of more than {_MAX_LINES} lines"))
