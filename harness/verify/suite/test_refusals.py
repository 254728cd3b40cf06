"""What the server must refuse: relaying, unknown users, oversize, over quota, forged senders,
AUTH and IMAP LOGIN without TLS."""

from __future__ import annotations

import base64
import imaplib
import socket
import time

import pytest

from harness.smtp.dialogue import Reply, SMTPDialogue
from harness.smtp.message import dot_stuff, token_message
from harness.smtp.tls import client_context
from harness.verify.targets import Accounts, Target


def _port25_rcpt(
    target: Target,
    recipient: str,
    *,
    family: int = socket.AF_INET,
    mail_from: str = "<probe@client.test>",
) -> Reply:
    address = target.address if family == socket.AF_INET else target.ipv6_address
    with SMTPDialogue(address, target.port("smtp")) as d:
        assert d.cmd("EHLO client.test").code == 250
        reply = d.cmd(f"MAIL FROM:{mail_from}")
        if reply.code != 250:
            return reply
        return d.cmd(f"RCPT TO:<{recipient}>")


@pytest.mark.offers("smtp")
def test_no_open_relay_ipv4(target: Target) -> None:
    reply = _port25_rcpt(target, "someone@elsewhere.test")
    assert reply.code == 554, reply.text
    assert reply.lines[0].startswith("5.7.1")


@pytest.mark.offers("smtp")
def test_no_open_relay_ipv6(target: Target) -> None:
    if not target.ipv6_address:
        pytest.skip("the target has no IPv6 address (the lab publishes on 127.0.0.1 only)")
    reply = _port25_rcpt(target, "someone@elsewhere.test", family=socket.AF_INET6)
    assert reply.code == 554, reply.text


@pytest.mark.parametrize(
    ("helo", "code"),
    [("bad_name!", 501), ("client", 504)],
    ids=["invalid-helo-501", "non-fqdn-helo-504"],
)
@pytest.mark.offers("smtp")
def test_unusable_helo_names_are_refused(
    target: Target, accounts: Accounts, helo: str, code: int
) -> None:
    with SMTPDialogue(target.address, target.port("smtp")) as d:
        assert d.cmd(f"EHLO {helo}").code == 250
        assert d.cmd("MAIL FROM:<probe@client.test>").code == 250
        reply = d.cmd(f"RCPT TO:<{accounts.mailbox}>")
    assert reply.code == code, reply.text
    assert reply.lines[0].startswith("5.5.2"), reply.text


@pytest.mark.offers("smtp")
def test_non_fqdn_sender_is_refused(target: Target, accounts: Accounts) -> None:
    reply = _port25_rcpt(target, accounts.mailbox, mail_from="<probe@client>")
    assert reply.code == 504, reply.text
    assert reply.lines[0].startswith("5.5.2"), reply.text


@pytest.mark.offers("smtp")
def test_unknown_user_is_550_5_1_1(target: Target) -> None:
    domain = next(iter(target.domains_without_catch_all), None)
    if domain is None:
        pytest.skip("every hosted domain has a catch-all")
    reply = _port25_rcpt(target, f"no-such-user-7f3a@{domain}")
    assert reply.code == 550, reply.text
    assert reply.lines[0].startswith("5.1.1")


@pytest.mark.offers("smtp")
def test_over_size_is_552(target: Target) -> None:
    with SMTPDialogue(target.address, target.port("smtp")) as d:
        assert d.cmd("EHLO client.test").code == 250
        reply = d.cmd(f"MAIL FROM:<probe@client.test> SIZE={target.size_limit + 1}")
    assert reply.code == 552, reply.text
    assert reply.lines[0].startswith("5.3.4")


def _quota_mailbox(target: Target, accounts: Accounts) -> None:
    """Skip (saying why) where the inventory makes no RCPT-time quota refusal to check."""
    if not target.quota_enabled:
        pytest.skip("quotas are off (mail_common_quota_enabled: false)")
    if not target.quota_check_enabled:
        pytest.skip("the RCPT-time quota check is off (postfix_quota_check_enabled: false)")
    if not accounts.quota_mailbox:
        pytest.skip("set mailstack_verify.quota_mailbox (a mailbox the suite may fill)")
    if not accounts.quota_limit_bytes:
        pytest.skip(f"{accounts.quota_mailbox} has no quota in mail_accounts_mailboxes")


@pytest.mark.offers("smtp")
def test_over_quota_is_refused_at_rcpt(target: Target, accounts: Accounts) -> None:
    _quota_mailbox(target, accounts)
    size = accounts.quota_limit_bytes * 2
    reply = _port25_rcpt(
        target, accounts.quota_mailbox, mail_from=f"<probe@client.test> SIZE={size}"
    )
    assert reply.code == 552, reply.text
    assert reply.lines[0].startswith("5.2.2")


def _submission(target: Target) -> SMTPDialogue:
    """A TLS session on 587 (STARTTLS), or on 465 where only that is switched on."""
    ctx = client_context(target.ca_file)
    if "submission" in target.services:
        d = SMTPDialogue(target.address, target.port("submission"))
        d.cmd("EHLO verify.test")
        assert d.starttls(ctx, target.tls_name).code == 220
    elif "submissions" in target.services:
        d = SMTPDialogue(
            target.address, target.port("submissions"), tls=ctx, server_name=target.tls_name
        )
    else:
        pytest.skip("submission and submissions are both switched off in the inventory")
    d.cmd("EHLO verify.test")
    return d


def _auth_plain(user: str, password: str) -> str:
    return "AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode()


@pytest.mark.offers("submission", "submissions")
def test_sender_not_owned_by_login_is_refused(target: Target, accounts: Accounts) -> None:
    if not accounts.other_mailbox:
        pytest.skip("set mailstack_verify.other_mailbox")
    with _submission(target) as d:
        assert d.cmd(_auth_plain(accounts.mailbox, accounts.password)).code == 235
        assert d.cmd(f"MAIL FROM:<{accounts.other_mailbox}>").code == 250
        reply = d.cmd(f"RCPT TO:<{accounts.mailbox}>")
    assert reply.code == 553, reply.text
    assert "not owned" in reply.text


@pytest.mark.offers("submission", "submissions")
def test_wrong_password_is_refused(target: Target, accounts: Accounts) -> None:
    with _submission(target) as d:
        reply = d.cmd(_auth_plain(accounts.mailbox, accounts.password + "-wrong"))
    assert reply.code == 535, reply.text


@pytest.mark.offers("submission", "submissions")
def test_auth_on_587_without_tls_is_refused(target: Target, accounts: Accounts) -> None:
    if "submission" not in target.services:
        pytest.skip("587 is switched off in the inventory (the port check covers it)")
    with SMTPDialogue(target.address, target.port("submission")) as d:
        d.cmd("EHLO verify.test")
        auth = d.cmd(_auth_plain(accounts.mailbox, accounts.password))
        mail = d.cmd(f"MAIL FROM:<{accounts.mailbox}>")
    assert 500 <= auth.code < 600, auth.text
    assert mail.code == 530, mail.text  # must STARTTLS first


@pytest.mark.offers("imap", "imaps")
def test_imap_login_without_tls_is_refused(target: Target, accounts: Accounts) -> None:
    imap = imaplib.IMAP4(target.address, target.port("imap"), timeout=30)
    try:
        assert "LOGINDISABLED" in imap.capabilities
        status, data = imap._simple_command("LOGIN", accounts.mailbox, accounts.password)
        assert status == "NO", data
        assert imap.state == "NONAUTH"
    finally:
        imap.shutdown()


@pytest.mark.offers("smtp")
def test_full_mailbox_is_refused_at_rcpt(target: Target, accounts: Accounts) -> None:
    """Fill the quota mailbox with messages of 60 % of its quota: by the second, at the latest,
    RCPT is refused (the mailbox stays full for later runs, which then refuse at once)."""
    _quota_mailbox(target, accounts)
    size = accounts.quota_limit_bytes * 6 // 10
    filler = token_message("probe@client.test", [accounts.quota_mailbox], "quota filler", size)
    data = dot_stuff(filler.as_bytes())
    for _attempt in range(3):
        with SMTPDialogue(target.address, target.port("smtp")) as d:
            assert d.cmd("EHLO client.test").code == 250
            assert d.cmd(f"MAIL FROM:<probe@client.test> SIZE={len(data)}").code == 250
            reply = d.cmd(f"RCPT TO:<{accounts.quota_mailbox}>")
            if reply.code != 250:
                assert reply.code == 552, reply.text
                assert reply.lines[0].startswith("5.2.2")
                return
            assert d.cmd("DATA").code == 354
            d.send_raw(data + b".\r\n")
            assert d.read().code == 250
        time.sleep(1)  # let LMTP deliver and the quota count it
    pytest.fail("the quota mailbox still accepted mail after two messages of 60 % of its quota")
