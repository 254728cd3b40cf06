"""Sending and fetching test mail against a target: aiosmtplib for submission, IMAP for fetching."""

from __future__ import annotations

import contextlib
import email
import imaplib
import socket
import ssl
import time
from email.message import Message

import aiosmtplib

from harness.smtp.message import TOKEN_HEADER, TokenMessage
from harness.smtp.tls import client_context
from harness.verify.targets import Target

__all__ = ["TargetIMAP", "body_of", "submit"]


async def submit(
    target: Target,
    user: str,
    password: str,
    message: TokenMessage | bytes,
    *,
    sender: str | None = None,
    recipients: list[str] | None = None,
    implicit_tls: bool | None = None,
    timeout: float = 30.0,
) -> aiosmtplib.SMTPResponse | dict[str, aiosmtplib.SMTPResponse]:
    """Submit ``message`` (or raw bytes as they are) on 587 (STARTTLS) or 465 (implicit TLS)
    with AUTH as ``user``; ``implicit_tls`` None: 587 where the inventory switches it on,
    else 465."""
    if implicit_tls is None:
        implicit_tls = "submission" not in target.services
    service = "submissions" if implicit_tls else "submission"
    # Connect to the published address but check the certificate against the host's name.
    sock = socket.create_connection((target.address, target.port(service)), timeout=timeout)
    sock.setblocking(False)
    smtp = aiosmtplib.SMTP(
        hostname=target.tls_name,
        sock=sock,
        use_tls=implicit_tls,
        start_tls=not implicit_tls,
        tls_context=client_context(target.ca_file),
        timeout=timeout,
    )
    async with smtp:
        await smtp.login(user, password)
        errors, _response = await smtp.sendmail(
            sender or user,
            recipients or [user],
            message if isinstance(message, bytes) else message.as_bytes(),
        )
        return errors


class _IMAP4TLS(imaplib.IMAP4_SSL):
    """IMAP over TLS to an address, checking the certificate against another name."""

    def __init__(
        self, address: str, port: int, tls_name: str, ctx: ssl.SSLContext, timeout: float
    ) -> None:
        self._tls_name = tls_name
        super().__init__(address, port, ssl_context=ctx, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout)
        ctx: ssl.SSLContext = self.ssl_context
        return ctx.wrap_socket(sock, server_hostname=self._tls_name)


class TargetIMAP:
    """A logged-in IMAPS (993) session on the INBOX where the target's mail lands (the
    target itself, or its fleet's backend)."""

    def __init__(self, target: Target, user: str, password: str, timeout: float = 30.0) -> None:
        where = target.imap
        self.imap = _IMAP4TLS(
            where.address,
            where.port,
            where.tls_name,
            client_context(target.ca_file),
            timeout,
        )
        self.imap.login(user, password)
        self.imap.select("INBOX")

    def __enter__(self) -> TargetIMAP:
        return self

    def __exit__(self, *_exc: object) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self.imap.logout()

    def _search(self, *criteria: str) -> list[bytes]:
        self.imap.noop()  # let the server report new mail
        status, data = self.imap.search(None, *criteria)
        if status != "OK":
            raise imaplib.IMAP4.error(f"SEARCH failed: {data!r}")
        return data[0].split() if data and data[0] else []

    @staticmethod
    def _quoted(value: str) -> str:
        """imaplib sends arguments as they are: quote a value so spaces stay in it."""
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def search_header(self, name: str, value: str) -> list[bytes]:
        return self._search("HEADER", name, self._quoted(value))

    def search_text(self, text: str) -> list[bytes]:
        """Messages with ``text`` anywhere (headers, body, attached messages)."""
        return self._search("TEXT", self._quoted(text))

    def fetch_raw(self, uid: bytes) -> bytes:
        """The message exactly as stored (what a DKIM verifier must see)."""
        status, data = self.imap.fetch(uid.decode(), "(RFC822)")
        if status != "OK" or not data or not isinstance(data[0], tuple):
            raise imaplib.IMAP4.error(f"FETCH {uid!r} failed: {data!r}")
        return bytes(data[0][1])

    def fetch(self, uid: bytes) -> Message:
        return email.message_from_bytes(self.fetch_raw(uid))

    def wait_for_token(
        self, token: str, timeout: float = 30.0, header: str = TOKEN_HEADER
    ) -> list[Message]:
        """Every message carrying ``token`` in ``header``, waiting up to ``timeout`` for one."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.search_header(header, token)
            if found or time.monotonic() > deadline:
                return [self.fetch(n) for n in found]
            time.sleep(0.25)


def body_of(message: Message) -> bytes:
    """The decoded body of a single-part message."""
    payload = message.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""
