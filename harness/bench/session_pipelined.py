"""The fast engine: asyncio streams, MAIL, RCPT and DATA in one write when the server offers
PIPELINING (RFC 2920), replies read by code without their text on the hot path."""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from dataclasses import replace

from harness.bench.metrics import Metrics, Outcome
from harness.bench.session import (
    EOD,
    HELO,
    Result,
    Session,
    SessionError,
    bucket_of,
    tls_context,
)
from harness.bench.spec import TargetURL
from harness.smtp.message import dot_stuff

__all__ = ["PipelinedSession"]


class PipelinedSession(Session):
    """asyncio streams, one write for the whole envelope when the server offers PIPELINING."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def __init__(
        self,
        target: TargetURL,
        metrics: Metrics,
        timeout: float,
        *,
        helo: str = HELO,
        pipelining: bool = True,
    ) -> None:
        super().__init__(target, metrics, timeout, helo=helo, pipelining=pipelining)
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
                    ssl=tls_context(t) if t.implicit_tls else None,
                    server_hostname=(t.tls_name or t.host) if t.implicit_tls else None,
                    local_addr=(t.source, 0) if t.source else None,
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
            await self.writer.start_tls(tls_context(t), server_hostname=t.tls_name or t.host)
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
        self.writer.write(data if data.endswith(EOD) else dot_stuff(data) + b".\r\n")
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
