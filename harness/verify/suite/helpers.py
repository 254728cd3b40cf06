"""What several checks do: deliver a message as another server would, and find it delivered.
(Assertions here are rewritten by pytest like the checks' own: see conftest.py.)"""

from __future__ import annotations

import email
import secrets
from collections.abc import Callable, Iterable

import dkim
import dns.resolver

from harness.dns.records import parse_tags
from harness.smtp.dialogue import Reply, SMTPDialogue
from harness.smtp.message import TokenMessage, body_digest, dot_stuff, token_message
from harness.smtp.tls import client_context
from harness.verify.mail import TargetIMAP, body_of
from harness.verify.targets import Target

__all__ = [
    "MUST_SIGN",
    "assert_delivered",
    "assert_signed",
    "inbound",
    "send_inbound",
    "send_raw_inbound",
]

#: Headers a DKIM signature of mail we send must cover (bulk-sender rules: From at least; the
#: rest so a receiver sees them unaltered), and those it must cover when the message has them.
MUST_SIGN = frozenset({"from", "to", "subject", "date", "message-id"})
SIGN_IF_PRESENT = frozenset({"list-unsubscribe", "list-unsubscribe-post", "reply-to", "cc"})


def send_inbound(target: Target, sender: str, recipient: str, msg: TokenMessage) -> Reply:
    """Offer ``msg`` on port 25 with STARTTLS, unauthenticated, as another server would;
    the reply to the end of DATA (RCPT must be accepted)."""
    return send_raw_inbound(target, sender, recipient, msg.as_bytes())


def send_raw_inbound(target: Target, sender: str, recipient: str, message: bytes) -> Reply:
    """``send_inbound`` for a message given as bytes (exactly as a signer left it)."""
    with SMTPDialogue(target.address, target.port("smtp")) as d:
        assert d.cmd("EHLO client.test").code == 250
        assert d.starttls(client_context(target.ca_file), target.tls_name).code == 220
        assert d.cmd("EHLO client.test").code == 250
        assert d.cmd(f"MAIL FROM:<{sender}>").code == 250
        reply = d.cmd(f"RCPT TO:<{recipient}>")
        assert reply.code == 250, reply.text
        assert d.cmd("DATA").code == 354
        d.send_raw(dot_stuff(message) + b".\r\n")
        reply = d.read()
        d.cmd("QUIT")
    return reply


def inbound(target: Target, recipient: str) -> TokenMessage:
    """Deliver a message on port 25 as another server would (it must be accepted)."""
    sender = f"sender-{secrets.token_hex(3)}@client.test"
    msg = token_message(sender, [recipient], "verify inbound", 2048)
    reply = send_inbound(target, sender, recipient, msg)
    assert reply.code == 250, reply.text
    return msg


def assert_delivered(target: Target, user: str, password: str, msg: TokenMessage) -> None:
    """``msg`` arrived in ``user``'s INBOX exactly once, its body unchanged."""
    with TargetIMAP(target, user, password) as imap:
        found = imap.wait_for_token(msg.token)
    assert len(found) == 1, f"{msg.token} delivered {len(found)} times to {user}"
    assert body_digest(body_of(found[0])) == msg.digest


def txt_lookup(resolver: tuple[str, int] | None) -> Callable[..., bytes]:
    """dkimpy's DNS hook: TXT records from the resolver the inventory's zones are served by
    (None: the system's)."""
    ask = dns.resolver.Resolver(configure=resolver is None)
    if resolver is not None:
        ask.nameservers, ask.port = [resolver[0]], resolver[1]

    def lookup(name: bytes | str, timeout: float = 5) -> bytes:
        text = name.decode() if isinstance(name, bytes) else name
        try:
            answer = ask.resolve(text, "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return b""
        return b"".join(b"".join(r.strings) for r in answer)

    return lookup


def assert_signed(
    raw: bytes, domain: str, selectors: Iterable[str], resolver: tuple[str, int] | None
) -> None:
    """``raw`` (as stored) carries a DKIM-Signature of ``domain`` with one of ``selectors``,
    covering MUST_SIGN and whichever of SIGN_IF_PRESENT it has, that dkimpy verifies against
    the DNS at ``resolver``."""
    message = email.message_from_bytes(raw)
    signatures = message.get_all("DKIM-Signature") or []
    tags = [parse_tags(" ".join(str(s).split())) for s in signatures]
    ours = [t for t in tags if t.get("d") == domain]
    assert ours, f"no DKIM-Signature with d={domain} (found: {[t.get('d') for t in tags]})"
    active = tuple(selectors)
    assert ours[0]["s"] in active, f"signed with s={ours[0]['s']}, active: {active}"
    covered = {h.strip().lower() for h in ours[0]["h"].split(":")}
    present = {k.lower() for k in message.keys()} & SIGN_IF_PRESENT  # noqa: SIM118
    assert covered >= MUST_SIGN | present, f"h= lacks {sorted((MUST_SIGN | present) - covered)}"
    assert dkim.verify(raw, dnsfunc=txt_lookup(resolver)), "dkimpy rejects the signature"
