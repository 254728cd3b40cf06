"""IMAP response lines read off the wire and checked against RFC 9051's response grammar: a
tagged completion (``tag OK|NO|BAD text``, the tag made of ASTRING-CHARs but "+"), untagged data
(``* ...``), a continuation request (``+ ...``), CRLF at the end, no control bytes outside
literals. A server literal (``{N}`` at the end of a line) is read whole and joined to its line."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.fuzz.wire import OverlongLineError, Wire

__all__ = ["ImapLine", "parse_line", "read_line"]

_TAG = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\+]+')
_STATUS = frozenset({"OK", "NO", "BAD", "BYE", "PREAUTH"})
_ATOM = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\\]]+')
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_LITERAL = re.compile(rb"\{(\d{1,20})\}\r?\n$")
#: Largest server literal read (a FETCH of a big message): past it the line is a finding.
_LITERAL_LIMIT = 16 << 20


@dataclass(frozen=True)
class ImapLine:
    """``kind``: tagged, untagged, continuation or unknown. ``status``: OK/NO/BAD/BYE/PREAUTH of a
    status response, "*" for other untagged data, "+" for a continuation, "" if unparsable."""

    kind: str
    tag: str
    status: str
    text: str
    problems: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        return self.status


def parse_line(raw: bytes) -> ImapLine:
    """One response line (with its line end; a literal's bytes already joined in)."""
    problems = []
    if not raw.endswith(b"\r\n"):
        problems.append(
            "response line ends in a bare LF" if raw.endswith(b"\n") else "response line cut short"
        )
    body = raw.rstrip(b"\n").removesuffix(b"\r")
    text = body.decode("utf-8", errors="backslashreplace")
    if _CONTROL.search(re.sub(rb"\{\d+\}\r\n.*", b"", body, flags=re.DOTALL)):
        problems.append("control byte in a response line")
    first, _, rest = body.partition(b" ")
    word = rest.split(b" ", 1)[0].upper().decode("ascii", errors="replace")
    if first == b"+":
        return ImapLine("continuation", "", "+", text, tuple(problems))
    if first == b"*":
        if not rest:
            problems.append("untagged response with nothing after the star")
            return ImapLine("untagged", "", "*", text, tuple(problems))
        if word.isdigit():
            tail = rest.split(b" ", 2)
            if len(tail) < 2 or not _ATOM.fullmatch(tail[1]):
                problems.append("untagged number without a keyword after it")
        elif not _ATOM.fullmatch(rest.split(b" ", 1)[0]):
            problems.append("untagged response without a keyword")
        status = word if word in _STATUS else "*"
        return ImapLine("untagged", "", status, text, tuple(problems))
    if not _TAG.fullmatch(first):
        problems.append("response line that is neither tagged, untagged nor a continuation")
        return ImapLine("unknown", "", "", text, tuple(problems))
    if word not in ("OK", "NO", "BAD"):
        problems.append("tagged response whose status is not OK, NO or BAD")
        return ImapLine("tagged", first.decode(), "", text, tuple(problems))
    return ImapLine("tagged", first.decode(), word, text, tuple(problems))


async def read_line(wire: Wire) -> ImapLine:
    """The next response line, with any literals it announces read and joined to it."""
    try:
        raw = await wire.readline()
        while (match := _LITERAL.search(raw)) and not wire.eof:
            size = int(match.group(1))
            if size > _LITERAL_LIMIT:
                line = parse_line(raw)
                return ImapLine(
                    line.kind,
                    line.tag,
                    line.status,
                    line.text,
                    (*line.problems, f"server literal over {_LITERAL_LIMIT} bytes"),
                )
            raw += await wire.read_exactly(size) + await wire.readline()
    except OverlongLineError as exc:
        return ImapLine("unknown", "", "", "", (str(exc),))
    return parse_line(raw)
