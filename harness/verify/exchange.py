"""Mail from one of the inventory's servers to another, as between any two on the internet:
submitted at the sender with AUTH, delivered by the sender's Postfix to the receiver found by
MX lookup, read back raw from the receiving mailbox with the receiver's verdict on it.

The verify suite checks the verdict (test_exchange.py); the demo shows it.
"""

from __future__ import annotations

import asyncio
import email
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message

from harness.errors import DeliveryError
from harness.smtp.message import TOKEN_HEADER, token_message
from harness.verify.mail import TargetIMAP, submit
from harness.verify.targets import Target

__all__ = [
    "Exchange",
    "auth_results",
    "exchange",
    "hop_received",
    "peers_of",
]

#: Headers a bulk sender's message carries (RFC 8058); the signature must cover them.
UNSUBSCRIBE_HEADERS = {
    "List-Unsubscribe": "<https://unsubscribe.{domain}/u/{token}>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


@dataclass(frozen=True)
class Exchange:
    """One message from ``sender`` (a host) to ``receiver`` (a host), as it arrived."""

    sender: str
    receiver: str
    from_address: str
    to_address: str
    token: str
    #: the message exactly as stored in the receiving mailbox
    raw: bytes
    #: method -> result of the receiver's own Authentication-Results (authserv-id its name)
    results: dict[str, str]
    #: the receiver's Received header for the hop from the sender ("" when none names it)
    received: str
    seconds: float

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.raw)

    def to_json(self) -> dict[str, object]:
        return {
            "sender": self.sender,
            "receiver": self.receiver,
            "from": self.from_address,
            "to": self.to_address,
            "token": self.token,
            "results": self.results,
            "tls": "ESMTPS" in self.received,
            "seconds": round(self.seconds, 2),
        }


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


def peers_of(target: Target, targets: Sequence[Target]) -> list[Target]:
    """The other hosts whose test mailbox lives in a domain ``target`` does not serve: mail
    to them leaves ``target`` by MX. Hosts without a test mailbox and password are left out."""
    return [
        other
        for other in targets
        if other.name != target.name
        and other.accounts.mailbox
        and other.accounts.password
        and _domain(other.accounts.mailbox) not in target.domains
    ]


def _unfold(value: object) -> str:
    return " ".join(str(value).split())


def auth_results(message: Message, authserv_id: str) -> dict[str, str]:
    """method -> result of the Authentication-Results header ``authserv_id`` added (RFC 8601):
    ``{"dkim": "pass", "spf": "pass", "dmarc": "pass"}``; empty when it added none."""
    for header in message.get_all("Authentication-Results") or []:
        parts = [p.strip() for p in _unfold(header).split(";")]
        if parts[0].split()[0].lower() != authserv_id.lower():
            continue
        found: dict[str, str] = {}
        for part in parts[1:]:
            method, sep, rest = part.partition("=")
            if sep and rest:
                found.setdefault(method.strip().lower(), rest.split()[0].lower())
        return found
    return {}


def hop_received(message: Message, sender_host: str, receiver_host: str = "") -> str:
    """The Received header the receiver wrote for the hop from the sender, unfolded (any
    receiver's, when its name is not known: a mailbox at another provider)."""
    for header in message.get_all("Received") or []:
        text = _unfold(header)
        if f"from {sender_host}".lower() in text.lower() and f"by {receiver_host}".lower() in (
            text.lower()
        ):
            return text
    return ""


def exchange(sender: Target, receiver: Target, *, subject: str, timeout: float = 60.0) -> Exchange:
    """Submit a message at ``sender`` from its test mailbox to ``receiver``'s, wait until it
    is in that mailbox, and return it with the receiver's verdict."""
    started = time.monotonic()
    src, dst = sender.accounts, receiver.accounts
    msg = token_message(src.mailbox, [dst.mailbox], subject, 2048)
    for name, value in UNSUBSCRIBE_HEADERS.items():
        msg.message[name] = value.format(domain=_domain(src.mailbox), token=msg.token)
    errors = asyncio.run(submit(sender, src.mailbox, src.password, msg, recipients=[dst.mailbox]))
    if errors:
        raise DeliveryError(f"{sender.name} refused the message for {dst.mailbox}: {errors}")
    with TargetIMAP(receiver, dst.mailbox, dst.password) as imap:
        found = imap.wait_for_token(msg.token, timeout=timeout)
        if len(found) != 1:
            raise DeliveryError(
                f"{msg.token} from {sender.name} arrived {len(found)} times in {dst.mailbox} "
                f"on {receiver.name} within {timeout:.0f} s",
                hint=f"mailstack lab ssh {sender.name} -- postqueue -p (is it queued there?)",
            )
        raw = imap.fetch_raw(imap.search_header(TOKEN_HEADER, msg.token)[0])
    arrived = email.message_from_bytes(raw)
    return Exchange(
        sender=sender.name,
        receiver=receiver.name,
        from_address=src.mailbox,
        to_address=dst.mailbox,
        token=msg.token,
        raw=raw,
        results=auth_results(arrived, receiver.hostname),
        received=hop_received(arrived, sender.hostname, receiver.hostname),
        seconds=time.monotonic() - started,
    )
