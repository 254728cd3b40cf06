"""The vocabulary of IMAP case plans: step kinds, and the pieces a step writes with the tag whose
completion (``tag OK|NO|BAD``) ends each. The grammar composes them; the driver plays them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ImapOp", "ImapPiece", "ImapStep", "ImapStepKind"]


class ImapStepKind(StrEnum):
    CAPABILITY = "capability"
    STARTTLS = "starttls"
    STARTTLS_INJECT = "starttls_inject"
    STARTTLS_TWICE = "starttls_twice"
    LOGIN = "login"
    LOGIN_WRONG = "login_wrong"
    AUTHENTICATE_WRONG = "authenticate_wrong"
    LITERAL_HUGE = "literal_huge"
    LITERAL_PLUS = "literal_plus"
    MALFORMED = "malformed"
    LONG_LINE = "long_line"
    WRONG_STATE = "wrong_state"
    PIPELINE = "pipeline"
    IDLE_GARBAGE = "idle_garbage"
    SELECT = "select"
    LOGOUT = "logout"
    CLOSE = "close"
    ABORT = "abort"


class ImapOp(StrEnum):
    #: a command line (or several joined): done when ``tag`` completes
    LINE = "line"
    #: a command that waits for "+" before each of ``follow`` (a literal, AUTHENTICATE);
    #: ``final``: then wait for the tagged completion, else listen ``quiet`` and go on
    CONTINUED = "continued"
    #: IDLE, ``follow`` sent inside it, then DONE unless the server already ended it
    IDLE = "idle"
    #: STARTTLS (with injected plaintext when ``data`` holds more), handshake on OK
    STARTTLS = "starttls"
    CLOSE = "close"
    ABORT = "abort"


@dataclass(frozen=True)
class ImapPiece:
    """``tag``: the tag of the command, empty when the command has none a server could use
    (then the driver listens until a ``* BAD``, a tagged line or ``quiet`` seconds of silence);
    ``exact``: a conforming server completes ``tag``, so the driver waits the step timeout."""

    op: ImapOp
    data: bytes = b""
    tag: str = ""
    joined: bool = False
    exact: bool = True
    follow: tuple[bytes, ...] = ()
    final: bool = True
    rst: bool = False


@dataclass(frozen=True)
class ImapStep:
    kind: str
    variant: str
    pieces: tuple[ImapPiece, ...]

    @property
    def terminal(self) -> bool:
        return any(p.op in (ImapOp.CLOSE, ImapOp.ABORT) for p in self.pieces)
