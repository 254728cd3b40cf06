"""Malformed input gets proper replies, smuggles nothing, and leaves the server answering."""

from __future__ import annotations

import secrets

import pytest

from harness.smtp.dialogue import SMTPDialogue
from harness.smtp.tls import client_context
from harness.verify.mail import TargetIMAP
from harness.verify.suite.helpers import inbound
from harness.verify.targets import Accounts, Target


def _still_answering(target: Target) -> None:
    with SMTPDialogue(target.address, target.port("smtp")) as d:
        assert d.banner.code == 220
        assert d.cmd("EHLO client.test").code == 250
        assert d.cmd("NOOP").code == 250


@pytest.mark.offers("smtp")
def test_over_long_command_line(target: Target) -> None:
    with SMTPDialogue(target.address, target.port("smtp")) as d:
        d.cmd("EHLO client.test")
        reply = d.cmd("MAIL FROM:<" + "a" * 10000 + "@client.test>")
        assert 500 <= reply.code < 600, reply.text
    _still_answering(target)


@pytest.mark.offers("smtp")
def test_garbage_commands(target: Target) -> None:
    with SMTPDialogue(target.address, target.port("smtp")) as d:
        d.cmd("EHLO client.test")
        for garbage in ("XYZZY", "HELO\x01\x02", "MAIL", "DATA", "RCPT TO:nobody"):
            reply = d.cmd(garbage)
            assert 500 <= reply.code < 600, f"{garbage!r}: {reply.text}"
        assert d.cmd("NOOP").code == 250
    _still_answering(target)


@pytest.mark.offers("smtp")
def test_bare_lf_smuggling_delivers_no_second_message(target: Target, accounts: Accounts) -> None:
    smuggled = secrets.token_hex(8)
    carrier = secrets.token_hex(8)
    payload = (
        f"From: <probe@client.test>\r\nTo: <{accounts.mailbox}>\r\n"
        f"Subject: carrier\r\nX-Mailstack-Token: {carrier}\r\n\r\n"
        "first message\n.\n"
        f"MAIL FROM:<probe@client.test>\nRCPT TO:<{accounts.mailbox}>\nDATA\n"
        f"From: <ceo@example.test>\nSubject: smuggled\nX-Mailstack-Smuggled: {smuggled}\n\n"
        "smuggled message\n.\n"
    ).encode()
    with SMTPDialogue(target.address, target.port("smtp")) as d:
        d.cmd("EHLO client.test")
        assert d.starttls(client_context(target.ca_file), target.tls_name).code == 220
        d.cmd("EHLO client.test")
        assert d.cmd("MAIL FROM:<probe@client.test>").code == 250
        assert d.cmd(f"RCPT TO:<{accounts.mailbox}>").code == 250
        assert d.cmd("DATA").code == 354
        d.send_raw(payload + b"\r\n.\r\n")
        try:
            reply = d.read()
            # rejected outright (Postfix 3.7: "bare <LF> received"), or accepted as ONE message
            assert reply.code in (250, 521, 550, 554), reply.text
            accepted = reply.code == 250
        except ConnectionError:
            accepted = False  # disconnected after the bare <LF>: also a refusal
    # A sentinel sent after the attempt: once it is in the mailbox, whatever the attempt could
    # have queued has had its chance to arrive too, so "no smuggled message" means something.
    sentinel = inbound(target, accounts.mailbox)
    with TargetIMAP(target, accounts.mailbox, accounts.password) as imap:
        assert len(imap.wait_for_token(sentinel.token)) == 1, "the sentinel never arrived"
        carried = imap.search_header("X-Mailstack-Token", carrier)
        assert imap.search_header("X-Mailstack-Smuggled", smuggled) == []
    assert len(carried) == (1 if accepted else 0), (accepted, carried)
    _still_answering(target)
