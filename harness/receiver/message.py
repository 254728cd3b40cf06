"""What the receiver reads from a message's header: the harness's token and the Message-ID."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

__all__ = ["TOKEN_HEADER", "MessageFacts", "read_facts"]

#: The header the harness's test messages carry a unique token in. The same string as
#: ``harness.smtp.message.TOKEN_HEADER`` (copied: this package runs without the harness).
TOKEN_HEADER = "X-Mailstack-Token"  # noqa: S105 -- a header name, not a secret


@dataclass(frozen=True)
class MessageFacts:
    headers: Message
    token: str | None
    message_id: str | None


def read_facts(raw: bytes) -> MessageFacts:
    headers = BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
    return MessageFacts(
        headers=headers,
        token=_one_line(headers.get(TOKEN_HEADER)),
        message_id=_one_line(headers.get("Message-ID")),
    )


def _one_line(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None
