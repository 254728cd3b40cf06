"""SMTP sessions for the generator: aiosmtplib for the protocol, and a fast path that pipelines
MAIL, RCPT and DATA in one write (RFC 2920), which aiosmtplib does not do.

Both engines time each phase into the run's Metrics and sort every message into one bucket.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import aiosmtplib

from harness.bench.metrics import Metrics, Outcome
from harness.bench.spec import TargetURL
from harness.smtp.message import dot_stuff
from harness.smtp.tls import client_context

__all__ = ["ENGINES", "Session", "SessionError", "open_session"]


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


def _tls(target: TargetURL) -> ssl.SSLContext:
    ctx = client_context(target.ca_file)
    if not target.ca_file and not target.tls_name:
        # A bench measures throughput; without a CA or a name to check, trust what answers.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Session(ABC):
    def __init__(self, target: TargetURL, metrics: Metrics, timeout: float, helo: str) -> None:
        self.target = target
        self.metrics = metrics
        self.timeout = timeout
        self.helo = helo

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def send(self, sender: str, recipients: list[str], data: bytes) -> Result: ...

    @abstractmethod
    async def close(self) -> None: ...


class PipelinedSession(Session):
    """asyncio streams, one write for the whole envelope when the server offers PIPELINING."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def __init__(self, *args: object, pipelining: bool = True, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.pipelining = pipelining
        self.extensions: set[str] = set()
        #: encoded pipelined envelopes, by their commands: most messages repeat one
        self._wire: dict[tuple[str, ...], bytes] = {}

    async def _reply(self, want_text: bool = False) -> tuple[int, str]:
        """The next reply's code, and its text when asked for or when it is an error (the hot
        path of a bench reads thousands of 250s a second and needs none of their words)."""
        # No per-read timer: callers bound whole exchanges with asyncio.timeout (cheaper).
        raw = await self.reader.readline()
        if raw[3:4] == b" " and not want_text:
            code = int(raw[:3])
            if code < 400:
                return code, ""
        lines = []
        while True:
            if not raw:
                raise SessionError(Outcome.CONNECTION_ERROR, "server closed the connection")
            lines.append(raw[4:].decode(errors="replace").rstrip("\r\n"))
            if raw[3:4] != b"-":
                return int(raw[:3]), "\n".join(lines)
            raw = await self.reader.readline()

    async def _cmd(self, line: str, want_text: bool = False) -> tuple[int, str]:
        self.writer.write(line.encode() + b"\r\n")
        return await self._reply(want_text)

    async def _ehlo(self) -> None:
        started = time.monotonic()
        code, text = await self._cmd(f"EHLO {self.helo}", want_text=True)
        self.metrics.record_latency("ehlo", time.monotonic() - started)
        if code != 250:
            raise SessionError(Outcome.CONNECTION_ERROR, f"EHLO refused: {code} {text}")
        self.extensions = {ln.split()[0].upper() for ln in text.splitlines()[1:] if ln.split()}

    async def open(self) -> None:
        t = self.target
        try:
            started = time.monotonic()
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(
                    t.host,
                    t.port,
                    ssl=_tls(t) if t.implicit_tls else None,
                    server_hostname=(t.tls_name or t.host) if t.implicit_tls else None,
                ),
                self.timeout,
            )
            connected = time.monotonic()
            self.metrics.record_latency("connect", connected - started)
            async with asyncio.timeout(self.timeout):
                await self._handshake(connected)
        except TimeoutError as exc:
            raise SessionError(Outcome.TIMEOUT, "timed out opening the session") from exc
        except (OSError, ssl.SSLError) as exc:
            raise SessionError(Outcome.CONNECTION_ERROR, str(exc) or type(exc).__name__) from exc

    async def _handshake(self, connected: float) -> None:
        """Banner, EHLO, STARTTLS and AUTH as the target asks, each phase timed."""
        t = self.target
        code, text = await self._reply(want_text=True)
        self.metrics.record_latency("banner", time.monotonic() - connected)
        if code != 220:
            raise SessionError(Outcome.CONNECTION_ERROR, f"banner {code} {text}")
        await self._ehlo()
        if t.starttls:
            started = time.monotonic()
            code, text = await self._cmd("STARTTLS")
            if code != 220:
                raise SessionError(Outcome.CONNECTION_ERROR, f"STARTTLS {code} {text}")
            await self.writer.start_tls(_tls(t), server_hostname=t.tls_name or t.host)
            self.metrics.record_latency("starttls", time.monotonic() - started)
            await self._ehlo()
        if t.user:
            started = time.monotonic()
            token = base64.b64encode(f"\0{t.user}\0{t.password}".encode()).decode()
            code, text = await self._cmd(f"AUTH PLAIN {token}")
            if code != 235:
                raise SessionError(Outcome.CONNECTION_ERROR, f"AUTH {code} {text}")
            self.metrics.record_latency("auth", time.monotonic() - started)

    async def send(self, sender: str, recipients: list[str], data: bytes) -> Result:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._send(sender, recipients, data)
        except TimeoutError as exc:
            raise SessionError(Outcome.TIMEOUT, "timed out waiting for a reply") from exc
        except (OSError, ssl.SSLError, RuntimeError) as exc:  # RuntimeError: closed transport
            raise SessionError(Outcome.CONNECTION_ERROR, str(exc) or type(exc).__name__) from exc

    async def _envelope(self, commands: list[str]) -> list[tuple[int, str]]:
        """Replies to MAIL, RCPT... and DATA: in one write when pipelining, else one by one,
        stopping where the server has already said no."""
        if self.pipelining and "PIPELINING" in self.extensions:
            key = tuple(commands)
            wire = self._wire.get(key)
            if wire is None:
                if len(self._wire) > 4096:
                    self._wire.clear()
                wire = self._wire[key] = "".join(c + "\r\n" for c in commands).encode()
            self.writer.write(wire)
            return [await self._reply() for _ in commands]
        replies = [await self._cmd(commands[0])]
        if replies[0][0] != 250:
            return replies
        replies += [await self._cmd(rcpt) for rcpt in commands[1:-1]]
        if any(200 <= code < 300 for code, _ in replies[1:]):
            replies.append(await self._cmd(commands[-1]))
        return replies

    async def _send(self, sender: str, recipients: list[str], data: bytes) -> Result:
        size = f" SIZE={len(data)}" if "SIZE" in self.extensions else ""
        commands = [f"MAIL FROM:<{sender}>{size}", *(f"RCPT TO:<{r}>" for r in recipients), "DATA"]
        started = time.monotonic()
        replies = await self._envelope(commands)
        self.metrics.record_latency("envelope", time.monotonic() - started)
        refusal = None if _all_go(replies) else _refusal(replies, len(recipients))
        if refusal is not None:
            if refusal.code == 421:  # "closing transmission channel", e.g. too many errors
                return replace(refusal, session_closed=True)
            # The server is back in its command state; RSET keeps the session reusable.
            try:
                await self._cmd("RSET")
            except SessionError:
                return replace(refusal, session_closed=True)
            return refusal
        started = time.monotonic()
        self.writer.write(data if data.endswith(_EOD) else dot_stuff(data) + b".\r\n")
        code, text = await self._reply()
        self.metrics.record_latency("data", time.monotonic() - started)
        return Result(bucket_of(code), code, None if code < 400 else text)

    async def close(self) -> None:
        try:
            self.writer.write(b"QUIT\r\n")
            await asyncio.wait_for(self.writer.drain(), 2)
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (OSError, TimeoutError, ssl.SSLError, AttributeError, RuntimeError):
            pass  # already closed (uvloop says so with RuntimeError)


class AiosmtplibSession(Session):
    """aiosmtplib, one command at a time: the reference protocol path."""

    smtp: aiosmtplib.SMTP

    async def open(self) -> None:
        t = self.target
        self.smtp = aiosmtplib.SMTP(
            hostname=t.host,
            port=t.port,
            use_tls=t.implicit_tls,
            start_tls=False,
            tls_context=_tls(t),
            timeout=self.timeout,
            local_hostname=self.helo,
        )
        try:
            started = time.monotonic()
            await self.smtp.connect()
            self.metrics.record_latency("connect", time.monotonic() - started)
            started = time.monotonic()
            await self.smtp.ehlo()
            self.metrics.record_latency("ehlo", time.monotonic() - started)
            if t.starttls:
                started = time.monotonic()
                await self.smtp.starttls(server_hostname=t.tls_name or t.host)
                self.metrics.record_latency("starttls", time.monotonic() - started)
                await self.smtp.ehlo()
            if t.user:
                started = time.monotonic()
                await self.smtp.login(t.user, t.password)
                self.metrics.record_latency("auth", time.monotonic() - started)
        except aiosmtplib.SMTPTimeoutError as exc:
            raise SessionError(Outcome.TIMEOUT, str(exc)) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SessionError(Outcome.CONNECTION_ERROR, str(exc)) from exc

    async def send(self, sender: str, recipients: list[str], data: bytes) -> Result:
        try:
            started = time.monotonic()
            await self.smtp.mail(sender)
            accepted = 0
            first_refusal: aiosmtplib.SMTPResponseException | None = None
            for rcpt in recipients:
                try:
                    await self.smtp.rcpt(rcpt)
                    accepted += 1
                except aiosmtplib.SMTPRecipientRefused as exc:
                    first_refusal = first_refusal or exc
            self.metrics.record_latency("envelope", time.monotonic() - started)
            if not accepted and first_refusal is not None:
                await self.smtp.rset()
                refused = first_refusal
                return Result(bucket_of(refused.code), refused.code, refused.message)
            started = time.monotonic()
            if data.endswith(_EOD):  # already in wire form: aiosmtplib does its own stuffing
                data = data[: -len(_EOD) + 2].replace(b"\r\n..", b"\r\n.")
            response = await self.smtp.data(data)
            self.metrics.record_latency("data", time.monotonic() - started)
            return Result(bucket_of(response.code), response.code)
        except aiosmtplib.SMTPTimeoutError as exc:
            raise SessionError(Outcome.TIMEOUT, str(exc)) from exc
        except aiosmtplib.SMTPServerDisconnected as exc:
            raise SessionError(Outcome.CONNECTION_ERROR, str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            closed = exc.code == 421 or not self.smtp.is_connected
            if not closed:
                try:
                    await self.smtp.rset()
                except (aiosmtplib.SMTPException, OSError):
                    closed = True
            return Result(bucket_of(exc.code), exc.code, exc.message, session_closed=closed)

    async def close(self) -> None:
        try:
            await self.smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            self.smtp.close()


def _all_go(replies: list[tuple[int, str]]) -> bool:
    """MAIL and every RCPT 250, DATA 354: the common case, checked without building a Result."""
    return replies[-1][0] == 354 and all(code == 250 for code, _ in replies[:-1])


def _refusal(replies: list[tuple[int, str]], recipients: int) -> Result | None:
    """The result of a refused envelope, or None when DATA may follow (354)."""
    mail_code, mail_text = replies[0]
    if mail_code != 250:
        return Result(bucket_of(mail_code), mail_code, mail_text)
    rcpts = replies[1 : 1 + recipients]
    if not any(200 <= code < 300 for code, _ in rcpts):
        code, text = rcpts[0] if rcpts else (554, "no recipients")
        return Result(bucket_of(code), code, text)
    if len(replies) < recipients + 2 or replies[-1][0] != 354:
        code, text = replies[-1] if len(replies) == recipients + 2 else (554, "DATA not reached")
        return Result(bucket_of(code), code, text)
    return None


_EOD = b"\r\n.\r\n"


ENGINES: dict[str, type[Session]] = {"pipelined": PipelinedSession, "aiosmtplib": AiosmtplibSession}


async def open_session(
    engine: str, target: TargetURL, metrics: Metrics, timeout: float, *, pipelining: bool = True
) -> Session:
    cls = ENGINES[engine]
    session: Session
    if cls is PipelinedSession:
        session = PipelinedSession(
            target, metrics, timeout, "bench.mailstack.test", pipelining=pipelining
        )
    else:
        session = cls(target, metrics, timeout, "bench.mailstack.test")
    await session.open()
    return session
