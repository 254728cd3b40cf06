"""What several checks do: deliver a message as another server would, and find it delivered.
(Assertions here are rewritten by pytest like the checks' own: see conftest.py.)"""

from __future__ import annotations

import secrets

from harness.smtp.dialogue import Reply, SMTPDialogue
from harness.smtp.message import TokenMessage, body_digest, dot_stuff, token_message
from harness.smtp.tls import client_context
from harness.verify.mail import TargetIMAP, body_of
from harness.verify.targets import Target

__all__ = ["assert_delivered", "inbound", "send_inbound", "send_raw_inbound"]


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
