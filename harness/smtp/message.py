"""Test messages that can be found again: a unique token in a header, a digest of the body."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

__all__ = [
    "SENT_HEADER",
    "TOKEN_HEADER",
    "TokenMessage",
    "body_digest",
    "dot_stuff",
    "token_message",
]

TOKEN_HEADER = "X-Mailstack-Token"  # noqa: S105 -- a header name, not a secret
SENT_HEADER = "X-Mailstack-Sent"


def body_digest(body: bytes) -> str:
    """SHA-256 of a body with line endings made uniform (SMTP turns LF into CRLF)."""
    canonical = body.replace(b"\r\n", b"\n").rstrip(b"\n")
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class TokenMessage:
    token: str
    message: EmailMessage
    digest: str

    def as_bytes(self) -> bytes:
        return self.message.as_bytes()


def token_message(
    sender: str, recipients: list[str], subject: str, body_bytes: int = 512
) -> TokenMessage:
    """A message with a fresh token and a random body of about ``body_bytes``."""
    token = secrets.token_hex(12)
    lines = [secrets.token_urlsafe(54) for _ in range(max(1, body_bytes // 73))]
    body = "\n".join(lines) + "\n"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = f"{subject} {token}"
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg[TOKEN_HEADER] = token
    msg[SENT_HEADER] = f"{time.time():.6f}"
    msg.set_content(body)
    return TokenMessage(token=token, message=msg, digest=body_digest(body.encode()))


def dot_stuff(data: bytes) -> bytes:
    """Message text in DATA form: CRLF line ends, leading dots doubled, ending in CRLF
    (RFC 5321 4.5.2). The caller sends the final ".\\r\\n"."""
    body = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if body.startswith(b"."):
        body = b"." + body
    body = body.replace(b"\r\n.", b"\r\n..")
    return body if body.endswith(b"\r\n") else body + b"\r\n"
