"""Mail our users submit leaves signed: a DKIM-Signature of the From domain with its active
selector, covering the headers receivers look at, that an independent verifier (dkimpy, asking
the same DNS a receiver would) accepts — not only rspamd itself."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from harness.smtp.message import token_message
from harness.verify.mail import TargetIMAP, submit
from harness.verify.suite.helpers import assert_signed, send_raw_inbound
from harness.verify.targets import Accounts, Target


@pytest.mark.offers("submission", "submissions")
def test_submitted_mail_is_signed_with_the_active_key(target: Target, accounts: Accounts) -> None:
    if not target.milter_enabled:
        pytest.skip("no milter (mail_common_milter_enabled: false)")
    if not target.services & {"submission", "submissions"}:
        pytest.skip("submission and submissions are both switched off in the inventory")
    domain = accounts.mailbox.rsplit("@", 1)[1]
    selectors = target.dkim_active.get(domain) or ()
    if not selectors:
        pytest.skip(f"no active DKIM key of {domain} is published (rspamd_dkim_keys)")
    msg = token_message(accounts.mailbox, [accounts.mailbox], "verify dkim", 2048)
    errors = asyncio.run(submit(target, accounts.mailbox, accounts.password, msg))
    assert errors == {}
    with TargetIMAP(target, accounts.mailbox, accounts.password) as imap:
        found = imap.wait_for_token(msg.token)
        assert len(found) == 1
        raw = imap.fetch_raw(imap.search_header("X-Mailstack-Token", msg.token)[0])
    assert_signed(raw, domain, selectors, target.resolver)


@pytest.mark.offers("submission", "submissions")
def test_signature_checked_on_arrival_fails_once_the_body_changed(
    target: Target, accounts: Accounts
) -> None:
    """Receiving side: our signed message offered again on port 25 verifies (dkim=pass);
    the same message with one body line changed fails (dkim=fail) — refused outright where
    the domain publishes p=reject and the host enforces it (it then fails DMARC too)."""
    if not target.milter_enabled:
        pytest.skip("no milter (mail_common_milter_enabled: false)")
    domain = accounts.mailbox.rsplit("@", 1)[1]
    if not target.dkim_active.get(domain) or not target.services & {"submission", "submissions"}:
        pytest.skip(f"no active DKIM key of {domain} published, or no submission port")
    signed = token_message(accounts.mailbox, [accounts.mailbox], "verify dkim body", 1024)
    asyncio.run(submit(target, accounts.mailbox, accounts.password, signed))
    with TargetIMAP(target, accounts.mailbox, accounts.password) as imap:
        assert len(imap.wait_for_token(signed.token)) == 1
        raw = imap.fetch_raw(imap.search_header("X-Mailstack-Token", signed.token)[0])
    # What the signer produced: drop what delivery added above the signature.
    start = raw.find(b"DKIM-Signature:")
    assert start >= 0, "the delivered message has no DKIM-Signature"
    original = raw[start:]
    head, sep, body = original.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = original.partition(b"\n\n")
    results = {}
    for name, text in (("intact", original), ("altered", head + sep + b"X" + body)):
        token = f"{name}-{secrets.token_hex(6)}"
        # a new token header below the signed ones: not covered, so it changes nothing signed
        message = text.replace(sep, f"\r\nX-Mailstack-Replay: {token}".encode() + sep, 1)
        reply = send_raw_inbound(target, accounts.mailbox, accounts.mailbox, message)
        if reply.code != 250:
            results[name] = f"refused {reply.code}"
            continue
        with TargetIMAP(target, accounts.mailbox, accounts.password) as imap:
            found = imap.wait_for_token(token, header="X-Mailstack-Replay")
        assert len(found) == 1, name
        results[name] = " ".join(str(found[0].get("Authentication-Results", "")).split())
    assert "dkim=pass" in results["intact"], results["intact"]
    reject = target.dmarc_policies.get(domain) == "reject" and target.dmarc_enforce
    if reject:
        assert results["altered"].startswith("refused 5"), results["altered"]
    else:
        assert "dkim=fail" in results["altered"], results["altered"]
