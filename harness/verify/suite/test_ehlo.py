"""The exact ESMTP extension set on every port, before and after TLS."""

from __future__ import annotations

import pytest

from harness.smtp.dialogue import Reply, SMTPDialogue
from harness.smtp.tls import client_context
from harness.verify.targets import Target

# Advertised everywhere. SMTPUTF8: Postfix accepts UTF-8 addresses; note that Dovecot's LMTP does
# not offer SMTPUTF8, so such a message for a local mailbox is bounced, not delivered.
BASE = {"PIPELINING", "SIZE", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"}
NEVER = {"VRFY", "ETRN", "XCLIENT", "XFORWARD"}


def _ehlo(target: Target, service: str, *, tls: bool) -> Reply:
    if service not in target.services:
        pytest.skip(f"{service} is not offered here (its tier or switch; the port check covers it)")
    implicit = service == "submissions"
    ctx = client_context(target.ca_file)
    with SMTPDialogue(
        target.address,
        target.port(service),
        tls=ctx if implicit else None,
        server_name=target.tls_name,
    ) as d:
        assert d.banner.code == 220
        reply = d.cmd("EHLO verify.test")
        if tls and not implicit:
            assert d.starttls(ctx, target.tls_name).code == 220
            reply = d.cmd("EHLO verify.test")
        assert reply.code == 250
        d.cmd("QUIT")
        return reply


def _check(reply: Reply, target: Target, expected: set[str]) -> None:
    assert reply.keywords == expected
    assert reply.param("SIZE") == str(target.size_limit)
    assert not reply.keywords & NEVER


@pytest.mark.parametrize("service", ["smtp", "submission"])
def test_ehlo_before_tls_offers_starttls_and_no_auth(target: Target, service: str) -> None:
    _check(_ehlo(target, service, tls=False), target, BASE | {"STARTTLS"})


@pytest.mark.offers("smtp")
def test_ehlo_port_25_after_tls_offers_no_auth(target: Target) -> None:
    _check(_ehlo(target, "smtp", tls=True), target, BASE)


@pytest.mark.parametrize("service", ["submission", "submissions"])
def test_ehlo_after_tls_offers_auth_on_submission_ports(target: Target, service: str) -> None:
    reply = _ehlo(target, service, tls=True)
    _check(reply, target, BASE | {"AUTH"})
    assert set((reply.param("AUTH") or "").split()) == target.auth_mechanisms
