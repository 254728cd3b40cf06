"""The vocabulary of SMTP case plans: step kinds, the pieces a step writes, and how many replies
each piece may draw. The grammar (``smtp_grammar``) composes them; the driver plays them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Op", "Piece", "SmtpStep", "StepKind", "command"]


class StepKind(StrEnum):
    """Every kind of step an SMTP case can take.

    TLS renegotiation is not among them: Python's ``ssl`` module has no call that starts one
    (OpenSSL's ``SSL_renegotiate`` is not exposed, nor TLS 1.3's KeyUpdate), so a client written
    on it cannot ask for one.
    """

    EHLO = "ehlo"
    STARTTLS = "starttls"
    STARTTLS_INJECT = "starttls_inject"
    STARTTLS_TWICE = "starttls_twice"
    STARTTLS_ABORT_HANDSHAKE = "starttls_abort_handshake"
    AUTH = "auth"
    AUTH_BAD = "auth_bad"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    MESSAGE_HEADERS = "message_headers"
    MESSAGE_DOTS = "message_dots"
    MESSAGE_ENCODING = "message_encoding"
    DATA_ABORT = "data_abort"
    BDAT = "bdat"
    BDAT_BAD = "bdat_bad"
    VERB_MUTATED = "verb_mutated"
    LINE_END = "line_end"
    PARAMS_MUTATED = "params_mutated"
    LONG_LINE = "long_line"
    ENCODING = "encoding"
    PIPELINE_BURST = "pipeline_burst"
    PIPELINE_DISORDER = "pipeline_disorder"
    MISC_COMMAND = "misc_command"
    QUIT = "quit"
    CLOSE = "close"
    ABORT = "abort"


class Op(StrEnum):
    """What the driver does with a piece."""

    #: command-mode bytes: at most one reply per LF
    COMMAND = "command"
    #: the DATA command: a 354 opens the data mode for the BODY that follows
    DATA = "data"
    #: data-mode bytes, written only after a 354 unless joined to what came before
    BODY = "body"
    #: a BDAT command with its chunk: one reply
    BDAT = "bdat"
    #: an AUTH command; each of ``follow`` is sent only after a 334
    AUTH = "auth"
    #: STARTTLS (with injected plaintext after it when ``data`` holds more), handshake on 220
    STARTTLS = "starttls"
    #: STARTTLS, then ``size`` bytes of a ClientHello (or ``follow``, plaintext), then abort
    HANDSHAKE_ABORT = "handshake_abort"
    #: a FIN (after close_notify under TLS)
    CLOSE = "close"
    #: no goodbye: an RST when ``rst``, else a FIN without close_notify
    ABORT = "abort"


@dataclass(frozen=True)
class Piece:
    """One write, or one part of a write (``joined`` to the piece before it).

    ``replies``: at most how many replies it draws from a conforming server in command mode
    (for BODY: after the end of data, beyond the one that ends it); ``exact``: the count is
    certain, so the driver waits the full step timeout for each. ``tokens``: BODY and BDAT, the
    message's token first, then those of messages smuggled inside (see ``messages.Body``).
    """

    op: Op
    data: bytes = b""
    joined: bool = False
    replies: int = 1
    exact: bool = True
    final: bool = False
    tokens: tuple[str, ...] = ()
    follow: tuple[bytes, ...] = ()
    size: int = 0
    rst: bool = False


def command(data: bytes, *, joined: bool = False, op: Op = Op.COMMAND) -> Piece:
    """A command-mode piece: as many replies as line feeds, exact when it is one proper line."""
    lines = data.count(b"\n")
    exact = lines == 1 and data.endswith(b"\r\n") and b"\r" not in data[:-2]
    return Piece(op, data, joined=joined, replies=lines, exact=exact)


@dataclass(frozen=True)
class SmtpStep:
    kind: str
    variant: str
    pieces: tuple[Piece, ...]

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for p in self.pieces for t in p.tokens))

    @property
    def terminal(self) -> bool:
        """Whether the connection is over after this step (the plan stops here)."""
        return any(p.op in (Op.CLOSE, Op.ABORT, Op.HANDSHAKE_ABORT) for p in self.pieces)
