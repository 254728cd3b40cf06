"""The reference engine: aiosmtplib, one command at a time."""

from __future__ import annotations

import time

import aiosmtplib

from harness.bench.metrics import Outcome
from harness.bench.session import EOD, Result, Session, SessionError, bucket_of, tls_context

__all__ = ["AiosmtplibSession"]


class AiosmtplibSession(Session):
    """aiosmtplib, one command at a time: the reference protocol path. aiosmtplib does not
    pipeline, so ``pipelining`` changes nothing here."""

    smtp: aiosmtplib.SMTP

    async def open(self) -> None:
        t = self.target
        self.smtp = aiosmtplib.SMTP(
            hostname=t.host,
            port=t.port,
            use_tls=t.implicit_tls,
            start_tls=False,
            tls_context=tls_context(t),
            timeout=self.timeout,
            local_hostname=self.helo,
            source_address=(t.source, 0) if t.source else None,
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
            if data.endswith(EOD):  # already in wire form: aiosmtplib does its own stuffing
                data = data[: -len(EOD) + 2].replace(b"\r\n..", b"\r\n.")
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
