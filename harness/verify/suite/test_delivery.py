"""End to end: what is submitted or received arrives in the right mailbox, byte for byte."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from harness.smtp.dialogue import SMTPDialogue
from harness.smtp.message import TokenMessage, body_digest, dot_stuff, token_message
from harness.smtp.tls import client_context
from harness.verify.mail import TargetIMAP, body_of, submit
from harness.verify.targets import Accounts, Target


def _assert_delivered(target: Target, user: str, password: str, msg: TokenMessage) -> None:
    with TargetIMAP(target, user, password) as imap:
        found = imap.wait_for_token(msg.token)
    assert len(found) == 1, f"{msg.token} delivered {len(found)} times to {user}"
    assert body_digest(body_of(found[0])) == msg.digest


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["587-starttls", "465-tls"])
def test_submission_with_auth_arrives_intact(
    target: Target, accounts: Accounts, implicit_tls: bool
) -> None:
    msg = token_message(accounts.mailbox, [accounts.mailbox], "verify submission", 4096)
    errors = asyncio.run(
        submit(target, accounts.mailbox, accounts.password, msg, implicit_tls=implicit_tls)
    )
    assert errors == {}
    _assert_delivered(target, accounts.mailbox, accounts.password, msg)


def test_concurrent_submissions_each_arrive_once(target: Target, accounts: Accounts) -> None:
    messages = [
        token_message(accounts.mailbox, [accounts.mailbox], f"verify concurrent {i}", 1024 + i * 97)
        for i in range(8)
    ]

    async def send_all() -> list[Any]:
        return await asyncio.gather(
            *(submit(target, accounts.mailbox, accounts.password, m) for m in messages)
        )

    assert all(errors == {} for errors in asyncio.run(send_all()))
    with TargetIMAP(target, accounts.mailbox, accounts.password) as imap:
        for msg in messages:
            found = imap.wait_for_token(msg.token)
            assert len(found) == 1
            assert body_digest(body_of(found[0])) == msg.digest


def _inbound(target: Target, recipient: str) -> TokenMessage:
    """Deliver a message on port 25, unauthenticated, as another server would."""
    sender = f"sender-{secrets.token_hex(3)}@client.test"
    msg = token_message(sender, [recipient], "verify inbound", 2048)
    with SMTPDialogue(target.address, target.port("smtp")) as d:
        assert d.cmd("EHLO client.test").code == 250
        assert d.starttls(client_context(target.ca_file), target.tls_name).code == 220
        assert d.cmd("EHLO client.test").code == 250
        assert d.cmd(f"MAIL FROM:<{sender}>").code == 250
        reply = d.cmd(f"RCPT TO:<{recipient}>")
        assert reply.code == 250, reply.text
        assert d.cmd("DATA").code == 354
        d.send_raw(dot_stuff(msg.as_bytes()) + b".\r\n")
        reply = d.read()
        assert reply.code == 250, reply.text
        d.cmd("QUIT")
    return msg


def test_inbound_to_mailbox(target: Target, accounts: Accounts) -> None:
    msg = _inbound(target, accounts.mailbox)
    _assert_delivered(target, accounts.mailbox, accounts.password, msg)


def test_inbound_to_alias_reaches_every_target(target: Target, accounts: Accounts) -> None:
    if not accounts.alias or not accounts.alias_targets:
        pytest.skip("set mailstack_verify.alias to an alias of mail_accounts_aliases")
    msg = _inbound(target, accounts.alias)
    passwords = {
        accounts.mailbox: accounts.password,
        accounts.other_mailbox: accounts.other_password,
    }
    checked = 0
    for rcpt in accounts.alias_targets:
        if rcpt in passwords:
            _assert_delivered(target, rcpt, passwords[rcpt], msg)
            checked += 1
    assert checked, "no alias target is a test mailbox whose password the suite knows"


def test_inbound_to_catch_all(target: Target, accounts: Accounts) -> None:
    if not accounts.catch_all_domain:
        pytest.skip("set mailstack_verify.catch_all_domain")
    msg = _inbound(target, f"nobody-{secrets.token_hex(4)}@{accounts.catch_all_domain}")
    _assert_delivered(target, accounts.mailbox, accounts.password, msg)
