"""What every bench engine is: a Session that opens, sends and closes, timing each phase into
the run's Metrics and sorting every message into one outcome bucket."""

from __future__ import annotations

import ssl
from abc import ABC, abstractmethod
from dataclasses import dataclass

from harness.bench.metrics import Metrics, Outcome
from harness.bench.spec import TargetURL
from harness.smtp.tls import client_context

__all__ = ["EOD", "HELO", "Result", "Session", "SessionError", "bucket_of", "tls_context"]

#: The name the generator gives itself in EHLO.
HELO = "bench.mailstack.test"
#: The end of a message in wire form.
EOD = b"\r\n.\r\n"


class SessionError(Exception):
    """The session is unusable: ``bucket`` says how (connection_error or timeout)."""

    def __init__(self, bucket: str, detail: str) -> None:
        super().__init__(detail)
        self.bucket = bucket


@dataclass(frozen=True)
class Result:
    bucket: str
    code: int | None = None
    error: str | None = None
    #: the server ended the session with this reply (421): open a new one for the next message
    session_closed: bool = False


def bucket_of(code: int) -> str:
    if 200 <= code < 400:
        return Outcome.ACCEPTED
    if 400 <= code < 500:
        return Outcome.TEMP_FAILED
    return Outcome.REJECTED


def tls_context(target: TargetURL) -> ssl.SSLContext:
    ctx = client_context(target.ca_file)
    if not target.ca_file and not target.tls_name:
        # A bench measures throughput; without a CA or a name to check, trust what answers.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Session(ABC):
    """One SMTP connection. ``pipelining``: send the envelope in one write when the server
    offers PIPELINING; an engine that cannot pipeline accepts it and sends one command at a
    time."""

    def __init__(
        self,
        target: TargetURL,
        metrics: Metrics,
        timeout: float,
        *,
        helo: str = HELO,
        pipelining: bool = True,
    ) -> None:
        self.target = target
        self.metrics = metrics
        self.timeout = timeout
        self.helo = helo
        self.pipelining = pipelining

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def send(self, sender: str, recipients: list[str], data: bytes) -> Result: ...

    @abstractmethod
    async def close(self) -> None: ...
