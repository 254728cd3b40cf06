"""Mail that arrives is checked: rspamd runs as Postfix's milter; every delivered message
carries this host's Authentication-Results and none that arrived with it; a message that
claims one of our domains from a host outside its SPF record fails DMARC — refused in the SMTP
session where the domain publishes p=reject and the host enforces policies, delivered marked
dmarc=fail otherwise."""

from __future__ import annotations

import secrets
from email.message import Message

import pytest
from testinfra.host import Host

from harness.smtp.message import token_message
from harness.verify.mail import TargetIMAP
from harness.verify.suite.helpers import send_inbound
from harness.verify.targets import Accounts, Target


def _require_milter(target: Target) -> None:
    if not target.milter_enabled:
        pytest.skip("no milter (mail_common_milter_enabled: false)")


def _results(message: Message) -> list[str]:
    """The Authentication-Results headers, unfolded."""
    return [" ".join(str(v).split()) for v in message.get_all("Authentication-Results") or []]


def _delivered(target: Target, accounts: Accounts, token: str) -> Message:
    with TargetIMAP(target, accounts.mailbox, accounts.password) as imap:
        found = imap.wait_for_token(token)
    assert len(found) == 1, f"{token} delivered {len(found)} times"
    return found[0]


@pytest.mark.offers("smtp", "submission", "submissions")
def test_milter_runs_on_its_configured_address_only(host: Host, target: Target) -> None:
    _require_milter(target)
    rspamd = host.service("rspamd")
    assert rspamd.is_running
    assert rspamd.is_enabled
    address, port = target.milter_address, target.milter_port
    assert host.socket(f"tcp://{address}:{port}").is_listening
    if address not in ("0.0.0.0", "::"):  # noqa: S104 -- checked, not bound
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


@pytest.mark.offers("smtp")
def test_delivered_mail_has_this_hosts_results_and_no_forged_ones(
    target: Target, accounts: Accounts
) -> None:
    _require_milter(target)
    sender = f"sender-{secrets.token_hex(3)}@client.test"
    msg = token_message(sender, [accounts.mailbox], "verify results", 1024)
    marker = f"forged-{secrets.token_hex(4)}.test"
    # A forgery claiming this very host's name, as a spammer would add it.
    msg.message["Authentication-Results"] = (
        f"{target.hostname}; dkim=pass header.d={marker}; spf=pass smtp.mailfrom={marker}"
    )
    reply = send_inbound(target, sender, accounts.mailbox, msg)
    assert reply.code == 250, reply.text
    results = _results(_delivered(target, accounts, msg.token))
    assert len(results) == 1, results
    assert marker not in results[0], "a forged Authentication-Results header survived"
    authserv_id = results[0].split(";", 1)[0].strip()
    assert authserv_id == target.hostname
    for method in ("spf=", "dkim=", "dmarc="):
        assert method in results[0], (method, results[0])


@pytest.mark.offers("smtp")
def test_our_domain_sent_from_outside_its_spf_fails_dmarc(
    target: Target, accounts: Accounts
) -> None:
    """This client is not in the domain's SPF record: the message fails SPF and (unsigned)
    DKIM, hence DMARC."""
    _require_milter(target)
    domain = accounts.mailbox.rsplit("@", 1)[1]
    sender = f"spoof-{secrets.token_hex(3)}@{domain}"
    msg = token_message(sender, [accounts.mailbox], "verify spoof", 1024)
    reply = send_inbound(target, sender, accounts.mailbox, msg)
    policy = target.dmarc_policies.get(domain, "none")
    if policy == "reject" and target.dmarc_enforce:
        assert 500 <= reply.code < 600, f"p=reject, yet the spoof got {reply.code} {reply.text}"
        return
    assert reply.code == 250, reply.text
    results = _results(_delivered(target, accounts, msg.token))
    assert len(results) == 1, results
    assert "spf=fail" in results[0] or "spf=softfail" in results[0], results[0]
    assert "dmarc=fail" in results[0], results[0]
