"""End to end: what is submitted or received arrives in the right mailbox, byte for byte."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from harness.smtp.message import body_digest, token_message
from harness.verify.mail import TargetIMAP, body_of, submit
from harness.verify.suite.helpers import assert_delivered, inbound
from harness.verify.targets import Accounts, Target


@pytest.mark.offers("submission", "submissions")
@pytest.mark.parametrize("implicit_tls", [False, True], ids=["587-starttls", "465-tls"])
def test_submission_with_auth_arrives_intact(
    target: Target, accounts: Accounts, implicit_tls: bool
) -> None:
    service = "submissions" if implicit_tls else "submission"
    if service not in target.services:
        pytest.skip(f"{service} is switched off in the inventory (the port check covers it)")
    msg = token_message(accounts.mailbox, [accounts.mailbox], "verify submission", 4096)
    errors = asyncio.run(
        submit(target, accounts.mailbox, accounts.password, msg, implicit_tls=implicit_tls)
    )
    assert errors == {}
    assert_delivered(target, accounts.mailbox, accounts.password, msg)


@pytest.mark.offers("submission", "submissions")
def test_concurrent_submissions_each_arrive_once(target: Target, accounts: Accounts) -> None:
    if not target.services & {"submission", "submissions"}:
        pytest.skip("submission and submissions are both switched off in the inventory")
    implicit_tls = "submission" not in target.services
    messages = [
        token_message(accounts.mailbox, [accounts.mailbox], f"verify concurrent {i}", 1024 + i * 97)
        for i in range(8)
    ]

    async def send_all() -> list[Any]:
        return await asyncio.gather(
            *(
                submit(target, accounts.mailbox, accounts.password, m, implicit_tls=implicit_tls)
                for m in messages
            )
        )

    assert all(errors == {} for errors in asyncio.run(send_all()))
    with TargetIMAP(target, accounts.mailbox, accounts.password) as imap:
        for msg in messages:
            found = imap.wait_for_token(msg.token)
            assert len(found) == 1
            assert body_digest(body_of(found[0])) == msg.digest


@pytest.mark.offers("smtp")
def test_inbound_to_mailbox(target: Target, accounts: Accounts) -> None:
    msg = inbound(target, accounts.mailbox)
    assert_delivered(target, accounts.mailbox, accounts.password, msg)


@pytest.mark.offers("smtp")
def test_inbound_to_alias_reaches_every_target(target: Target, accounts: Accounts) -> None:
    if not accounts.alias or not accounts.alias_targets:
        pytest.skip("set mailstack_verify.alias to an alias of mail_accounts_aliases")
    msg = inbound(target, accounts.alias)
    checked = 0
    for rcpt in accounts.alias_targets:
        if rcpt in accounts.passwords:
            assert_delivered(target, rcpt, accounts.passwords[rcpt], msg)
            checked += 1
    assert checked, "no alias target is a test mailbox whose password the suite knows"


@pytest.mark.offers("smtp")
def test_inbound_to_catch_all(target: Target, accounts: Accounts) -> None:
    """A catch-all domain of mail_accounts_domains (whatever its name) takes an unknown local
    part to its catch_all address; checked where that address is a test mailbox."""
    if not target.catch_alls:
        pytest.skip("no domain in mail_accounts_domains has a catch_all")
    checkable = {d: a for d, a in target.catch_alls.items() if a in accounts.passwords}
    if not checkable:
        pytest.skip(
            "no catch_all address is a test mailbox (mailstack_verify.mailbox or .other_mailbox)"
        )
    for domain, address in sorted(checkable.items()):
        msg = inbound(target, f"nobody-{secrets.token_hex(4)}@{domain}")
        assert_delivered(target, address, accounts.passwords[address], msg)
