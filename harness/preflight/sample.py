"""A sample of the campaign sent through the stack to a receiving mailbox, and what that
receiver said about it: SPF, DKIM and DMARC results, TLS on the hop, and whether the
signature covers the unsubscribe headers.

The receiver is a lab peer (another mail host of the inventory, in a domain the sender does not
serve) or a mailbox the admin names (``Seed``); nothing goes anywhere else.
"""

from __future__ import annotations

import asyncio
import email
import re
import secrets
import time
from dataclasses import dataclass
from email.message import Message

from harness.errors import DeliveryError
from harness.preflight.rules import Finding, finding
from harness.receiver.dmarc import aligned as relaxed_aligned
from harness.smtp.message import TOKEN_HEADER
from harness.verify.exchange import auth_results, hop_received
from harness.verify.mail import TargetIMAP, submit
from harness.verify.targets import Target

__all__ = ["Delivered", "Seed", "judge", "send_sample"]


@dataclass(frozen=True)
class Seed:
    """A mailbox that receives the sample and is read back over IMAPS."""

    address: str
    #: the mailbox's IMAP server as a target (address, imaps port, TLS name, CA)
    imap: Target
    user: str
    password: str
    #: the receiver's authserv-id; "" takes the topmost Authentication-Results
    authserv_id: str = ""


@dataclass(frozen=True)
class Delivered:
    """The sample as the seed's mailbox stored it."""

    raw: bytes
    seconds: float

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.raw)


def _with_token(raw: bytes, token: str) -> bytes:
    newline = b"\r\n" if b"\r\n" in raw.split(b"\n", 1)[0] + b"\n" else b"\n"
    return f"{TOKEN_HEADER}: {token}".encode() + newline + raw


def send_sample(
    sender: Target, raw: bytes, seed: Seed, *, envelope_from: str, timeout: float = 60.0
) -> Delivered:
    """Submit ``raw`` at ``sender`` (AUTH as its verify mailbox) to ``seed.address`` only,
    and wait until it is in the seed's mailbox. The headers stay as they are (To included);
    a token header is added to find it again."""
    token = secrets.token_hex(12)
    started = time.monotonic()
    src = sender.accounts
    errors = asyncio.run(
        submit(
            sender,
            src.mailbox,
            src.password,
            _with_token(raw, token),
            sender=envelope_from,
            recipients=[seed.address],
        )
    )
    if errors:
        raise DeliveryError(f"{sender.name} refused the sample for {seed.address}: {errors}")
    with TargetIMAP(seed.imap, seed.user, seed.password) as imap:
        deadline = time.monotonic() + timeout
        while not (found := imap.search_header(TOKEN_HEADER, token)):
            if time.monotonic() > deadline:
                raise DeliveryError(
                    f"the sample from {sender.name} did not arrive in {seed.address} within "
                    f"{timeout:.0f} s",
                    hint=f"mailstack lab ssh {sender.name} -- postqueue -p (is it queued?)",
                )
            time.sleep(0.25)
        return Delivered(imap.fetch_raw(found[-1]), time.monotonic() - started)


def _topmost_authserv(message: Message) -> str:
    first = message.get("Authentication-Results")
    return " ".join(str(first).split()).split(";")[0].split()[0] if first else ""


def _signing_domains(message: Message) -> list[str]:
    domains = []
    for signature in message.get_all("DKIM-Signature") or []:
        match = re.search(r"(?:^|;)\s*d\s*=\s*([^;\s]+)", " ".join(str(signature).split()))
        if match:
            domains.append(match.group(1).lower())
    return domains


def judge(delivered: Delivered, seed: Seed, from_domain: str, sender_host: str) -> list[Finding]:
    """What the receiver's verdict on the sample says about each authentication rule."""
    message = delivered.message
    authserv = seed.authserv_id or _topmost_authserv(message)
    results = auth_results(message, authserv)
    shown = f"{authserv}: " + (", ".join(f"{k}={v}" for k, v in results.items()) or "none")
    signers = _signing_domains(message)
    aligned = [d for d in signers if relaxed_aligned(d, from_domain, "r")]
    hop = hop_received(message, sender_host)
    return [
        finding("spf.pass", results.get("spf") == "pass", shown),
        finding(
            "dkim.pass",
            results.get("dkim") == "pass" and bool(aligned),
            f"{shown}; signed by d={', '.join(signers) or '(nobody)'}",
        ),
        finding("dmarc.pass", results.get("dmarc") == "pass", shown),
        finding(
            "tls.used",
            "ESMTPS" in hop or "ESMTPSA" in hop,
            hop[:160] or f"no Received header names {sender_host}",
        ),
    ]
