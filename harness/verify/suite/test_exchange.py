"""Mail to another of the inventory's servers leaves as a receiver at Gmail or Yahoo wants it:
submitted at this host, delivered by its Postfix to the other host found by MX lookup, over
STARTTLS, signed with this domain's active DKIM key; the other host's own
Authentication-Results say spf, dkim and dmarc pass, and dkimpy agrees on the stored copy.

Every pair of hosts whose test mailboxes live in domains the other does not serve is checked,
both ways (the lab's default topology: mx1 for example.test, mx2 for peer.test)."""

from __future__ import annotations

import asyncio
import email
import secrets
import time

import dkim
import pytest

from harness.dns.records import parse_tags
from harness.smtp.message import TOKEN_HEADER, token_message
from harness.verify.exchange import auth_results, exchange
from harness.verify.mail import TargetIMAP, submit
from harness.verify.suite.helpers import assert_signed, send_inbound, txt_lookup
from harness.verify.targets import Accounts, Target


@pytest.mark.offers("submission", "submissions")
def test_mail_to_another_server_arrives_authenticated(
    target: Target, accounts: Accounts, peer: Target | None
) -> None:
    if peer is None:
        pytest.skip(
            "no other host of the inventory (or of --limit) has a test mailbox in a domain "
            "this host does not serve"
        )
    if not target.services & {"submission", "submissions"}:
        pytest.skip("submission and submissions are both switched off in the inventory")
    if not (target.milter_enabled and peer.milter_enabled):
        pytest.skip("no milter on one side (mail_common_milter_enabled: false)")
    domain = accounts.mailbox.rsplit("@", 1)[1]
    selectors = target.dkim_active.get(domain) or ()
    if not selectors:
        pytest.skip(f"no active DKIM key of {domain} is published (rspamd_dkim_keys)")
    sent = exchange(target, peer, subject=f"verify exchange {target.name} to {peer.name}")
    assert sent.received, (
        f"no Received header by {peer.hostname} from {target.hostname}: "
        "did the mail take another path than by MX?"
    )
    assert "ESMTPS" in sent.received, f"the hop was not encrypted: {sent.received}"
    # "from HELO (VERIFIED-NAME [IP])": the receiver found the sender's PTR and its A agreed
    assert f"({target.hostname} [" in sent.received, (
        f"{peer.hostname} did not verify {target.hostname} by its PTR and A records "
        f"(forward-confirmed reverse DNS): {sent.received}"
    )
    for method in ("spf", "dkim", "dmarc"):
        assert sent.results.get(method) == "pass", (
            f"{peer.hostname}'s Authentication-Results: {method}="
            f"{sent.results.get(method, 'absent')} (all: {sent.results})"
        )
    assert_signed(sent.raw, domain, selectors, peer.resolver)


@pytest.mark.offers("submission", "submissions")
def test_mail_forwarded_to_another_server_carries_a_valid_arc_set(
    target: Target, peer: Target | None
) -> None:
    """An alias of this host that forwards to the other host's mailbox: the message arrives
    there ARC-sealed by this host, the seal chain verifies (dkimpy: cv=pass), and the other
    host's Authentication-Results say arc=pass."""
    if peer is None:
        pytest.skip("no other host of the inventory (or of --limit) to forward to")
    alias = target.forwarding_to(peer.accounts.mailbox)
    if not alias:
        pytest.skip(f"no alias of {target.name} forwards to {peer.accounts.mailbox}")
    if not (target.milter_enabled and peer.milter_enabled):
        pytest.skip("no milter on one side (mail_common_milter_enabled: false)")
    domain = alias.rsplit("@", 1)[1]
    if not target.dkim_active.get(domain):
        pytest.skip(f"no active DKIM key of {domain} to seal with (rspamd_dkim_keys)")
    sender = f"sender-{secrets.token_hex(3)}@client.test"
    msg = token_message(sender, [alias], "verify forward", 1024)
    reply = send_inbound(target, sender, alias, msg)
    assert reply.code == 250, reply.text
    box = peer.accounts
    with TargetIMAP(peer, box.mailbox, box.password) as imap:
        found = imap.wait_for_token(msg.token, timeout=60)
        assert len(found) == 1, f"{msg.token} arrived {len(found)} times at {box.mailbox}"
        raw = imap.fetch_raw(imap.search_header(TOKEN_HEADER, msg.token)[0])
    seals = [
        parse_tags(" ".join(str(v).split()))
        for v in email.message_from_bytes(raw).get_all("ARC-Seal") or []
    ]
    assert any(s.get("d") == domain for s in seals), (
        f"no ARC-Seal by {domain} (seals: {[s.get('d') for s in seals]})"
    )
    cv, _results, reason = dkim.arc_verify(raw, dnsfunc=txt_lookup(peer.resolver))
    assert cv == dkim.CV_Pass, f"dkimpy: ARC chain {cv!r}: {reason}"
    results = auth_results(email.message_from_bytes(raw), peer.hostname)
    assert results.get("arc") == "pass", f"{peer.hostname}: arc={results.get('arc')} ({results})"


@pytest.mark.offers("submission", "submissions")
def test_bounce_of_mail_the_other_server_refuses_comes_back_signed(
    target: Target, accounts: Accounts, peer: Target | None
) -> None:
    """Mail to an unknown mailbox at the other server is refused there (5xx at RCPT); this
    host's bounce (DSN) to the sender comes back signed by the sender's domain, as Gmail and
    Yahoo want of every message a domain sends (bounces go through the milter too)."""
    if peer is None:
        pytest.skip("no other host of the inventory (or of --limit) to send to")
    if not target.services & {"submission", "submissions"}:
        pytest.skip("submission and submissions are both switched off in the inventory")
    domain = accounts.mailbox.rsplit("@", 1)[1]
    selectors = target.dkim_active.get(domain) or ()
    if not (target.milter_enabled and selectors):
        pytest.skip(f"no milter or no active DKIM key of {domain} (rspamd_dkim_keys)")
    peer_domain = peer.accounts.mailbox.rsplit("@", 1)[1]
    nobody = f"nobody-{secrets.token_hex(4)}@{peer_domain}"
    msg = token_message(accounts.mailbox, [nobody], "verify bounce", 512)
    errors = asyncio.run(
        submit(target, accounts.mailbox, accounts.password, msg, recipients=[nobody])
    )
    assert errors == {}
    with TargetIMAP(target, accounts.mailbox, accounts.password) as imap:
        deadline = time.monotonic() + 60
        while not (found := imap.search_text(msg.token)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert found, f"no bounce of {msg.token} (to {nobody}) came back to {accounts.mailbox}"
        raw = imap.fetch_raw(found[0])
    bounce = email.message_from_bytes(raw)
    assert bounce.get_content_type() == "multipart/report", bounce.get_content_type()
    assert_signed(raw, domain, selectors, target.resolver)
