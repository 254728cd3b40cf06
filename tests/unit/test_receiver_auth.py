"""The receiver's SPF/DKIM/DMARC checks: signed with dkimpy (a key made with cryptography), DNS
answers from a StaticResolver, delivered over SMTP to a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
from email import message_from_bytes
from email.policy import compat32

import pytest

from harness.receiver import StaticResolver
from harness.receiver.auth import authenticate, check_dkim, check_spf, verdict
from harness.receiver.dmarc import organisational_domain, parse_record
from harness.receiver.message import read_facts
from tests.unit.receiver_support import (
    HELO,
    HOSTNAME,
    RunningReceiver,
    lab_dns,
    message,
    new_dkim_key,
    receiver_config,
    send_one,
)

DMARC_ALIGNED = {"auth": {"require": "dmarc-aligned"}}


@pytest.fixture(scope="module")
def key():
    return new_dkim_key()


def deliver(tmp_path, profile, resolver, sender, data):
    with RunningReceiver(receiver_config(tmp_path, profile), resolver) as rx:
        answer = asyncio.run(send_one(rx.port, sender, ["u1@bigmail.test"], data))
        return answer, rx.journal()


def test_signed_spf_passing_aligned_mail_is_accepted_with_authentication_results(tmp_path, key):
    msg = message(sender="news@example.test")
    answer, journal = deliver(
        tmp_path, DMARC_ALIGNED, lab_dns(key), "bounces@example.test", key.sign(msg.as_bytes())
    )
    assert answer.code == 250
    [line] = journal
    assert (line["outcome"], line["reason"], line["token"]) == ("accepted", "accepted", msg.token)
    assert line["auth"]["dkim"] == [
        {"result": "pass", "domain": "example.test", "selector": "sel", "reason": ""}
    ]
    assert line["auth"]["spf"]["result"] == "pass"
    assert line["auth"]["dmarc"] == {
        "result": "pass",
        "domain": "example.test",
        "policy": "none",
        "aligned": ["dkim", "spf"],
    }
    stored = (tmp_path / "store" / line["stored"]).read_bytes()
    parsed = message_from_bytes(stored, policy=compat32)
    assert parsed["Return-Path"] == "<bounces@example.test>"
    assert parsed["X-Envelope-To"] == "<u1@bigmail.test>"
    results = " ".join(parsed["Authentication-Results"].split())
    assert results == (
        f"{HOSTNAME}; dkim=pass header.d=example.test header.s=sel;"
        " spf=pass smtp.mailfrom=bounces@example.test;"
        " dmarc=pass (p=none) header.from=example.test"
    )
    assert stored.startswith(b"Return-Path: <bounces@example.test>\r\n")
    assert msg.token.encode() in stored


def test_unsigned_mail_from_a_domain_without_spf_is_rejected_5_7_26(tmp_path, key):
    msg = message(sender="news@other.test")
    answer, [line] = deliver(
        tmp_path, DMARC_ALIGNED, lab_dns(key), "bounces@other.test", msg.as_bytes()
    )
    assert answer.code == 550
    assert answer.text.startswith("5.7.26 Unauthenticated email from other.test")
    assert (line["outcome"], line["reason"], line["token"]) == ("rejected", "auth", msg.token)
    assert line["auth"]["dkim"] == []
    assert line["auth"]["spf"]["result"] == "none"
    assert line["auth"]["dmarc"]["result"] == "fail"
    assert line["stored"] is None
    assert not list((tmp_path / "store").iterdir())


def test_signed_but_unaligned_mail_is_rejected_under_dmarc_aligned(tmp_path, key):
    """DKIM passes for example.test and SPF passes for example.test, but From is other.test."""
    msg = message(sender="news@other.test")
    answer, [line] = deliver(
        tmp_path, DMARC_ALIGNED, lab_dns(key), "bounces@example.test", key.sign(msg.as_bytes())
    )
    assert (answer.code, answer.text[:7]) == (550, "5.7.26 ")
    assert line["auth"]["dkim"][0]["result"] == "pass"
    assert line["auth"]["spf"]["result"] == "pass"
    assert line["auth"]["dmarc"] == {
        "result": "fail",
        "domain": "other.test",
        "policy": "reject",
        "aligned": [],
    }


def test_spf_or_dkim_accepts_the_unaligned_mail_that_dmarc_aligned_refuses(tmp_path, key):
    msg = message(sender="news@other.test")
    profile = {"auth": {"require": "spf-or-dkim"}}
    answer, [line] = deliver(
        tmp_path, profile, lab_dns(key), "bounces@example.test", key.sign(msg.as_bytes())
    )
    assert answer.code == 250
    assert line["auth"]["dmarc"]["result"] == "fail"


def test_microsoft_rule_needs_dkim_too(tmp_path, key):
    """SPF passes and aligns (DMARC passes through SPF), but nothing is signed: 550 5.7.515."""
    msg = message(sender="news@example.test")
    profile = {
        "auth": {
            "require": "spf-and-dkim-and-dmarc",
            "reply": "550 5.7.515 Access denied, sending domain {domain} does not meet the level",
        }
    }
    answer, [line] = deliver(
        tmp_path, profile, lab_dns(key), "bounces@example.test", msg.as_bytes()
    )
    assert answer.code == 550
    assert (
        answer.text == "5.7.515 Access denied, sending domain example.test does not meet the level"
    )
    assert line["auth"]["dmarc"]["result"] == "pass"
    assert line["auth"]["dmarc"]["aligned"] == ["spf"]


def test_a_dns_failure_defers_instead_of_rejecting(tmp_path, key):
    msg = message(sender="news@example.test")
    resolver = lab_dns(key, failing=("_dmarc.example.test",))
    answer, [line] = deliver(
        tmp_path, DMARC_ALIGNED, resolver, "bounces@example.test", key.sign(msg.as_bytes())
    )
    assert (answer.code, answer.text[:6]) == (451, "4.4.3 ")
    assert (line["outcome"], line["reason"]) == ("deferred", "auth-temperror")
    assert line["auth"]["dmarc"]["result"] == "temperror"


def test_require_none_accepts_and_still_reports(tmp_path, key):
    msg = message(sender="news@other.test")
    answer, [line] = deliver(tmp_path, {}, lab_dns(key), "bounces@other.test", msg.as_bytes())
    assert answer.code == 250
    stored = (tmp_path / "store" / line["stored"]).read_bytes()
    assert b"dkim=none;\r\n spf=none smtp.mailfrom=bounces@other.test;" in stored


def test_a_key_below_the_minimum_is_a_dkim_policy_result():
    small = new_dkim_key(selector="small", bits=1024)
    data = small.sign(message().as_bytes())
    resolver = StaticResolver({("small._domainkey.example.test", "TXT"): [small.record]})
    [result] = check_dkim(data, resolver, min_key_bits=2048, timeout=1)
    assert (result.result, result.domain, result.selector) == ("policy", "example.test", "small")
    [result] = check_dkim(data, resolver, min_key_bits=1024, timeout=1)
    assert result.result == "pass"


@pytest.mark.parametrize(
    ("bend", "expected"),
    [
        (lambda data: data.replace(b"Subject: Campaign", b"Subject: Changed"), "fail"),
        (lambda data: data[:-10] + b"tampered\n", "fail"),
        (lambda data: data.replace(b"s=sel;", b"s=gone;"), "fail"),  # no key published
        (lambda data: data.replace(b"v=1;", b"v=9;"), "permerror"),
    ],
    ids=["header", "body", "no-key", "bad-version"],
)
def test_dkim_failures_are_named_as_rfc_8601_does(key, bend, expected):
    data = bend(key.sign(message().as_bytes()))
    [result] = check_dkim(data, lab_dns(key), min_key_bits=1024, timeout=1)
    assert result.result == expected


def test_a_message_with_two_signatures_gets_two_results(key):
    other = new_dkim_key(domain="esp.test", selector="s2", bits=1024)
    data = other.sign(key.sign(message().as_bytes()))
    resolver = StaticResolver(
        {
            ("sel._domainkey.example.test", "TXT"): [key.record],
            ("s2._domainkey.esp.test", "TXT"): [other.record],
        }
    )
    results = check_dkim(data, resolver, min_key_bits=1024, timeout=1)
    assert [(r.result, r.domain) for r in results] == [
        ("pass", "esp.test"),
        ("pass", "example.test"),
    ]


def test_spf_for_a_null_sender_checks_the_helo_name(key):
    resolver = StaticResolver({(HELO, "TXT"): ["v=spf1 ip4:127.0.0.1 -all"]})
    result = check_spf("127.0.0.1", "<>", HELO, resolver)
    assert (result.result, result.identity, result.domain) == ("pass", "helo", HELO)
    result = check_spf("192.0.2.9", "<>", HELO, resolver)
    assert result.result == "fail"


def test_spf_follows_includes_and_mx_through_the_resolver():
    resolver = StaticResolver(
        {
            ("example.test", "TXT"): ["v=spf1 include:_spf.example.test mx -all"],
            ("_spf.example.test", "TXT"): ["v=spf1 ip4:192.0.2.0/24 ~all"],
            ("example.test", "MX"): ["10 mx.example.test"],
            ("mx.example.test", "A"): ["198.51.100.7"],
        }
    )
    assert check_spf("192.0.2.44", "a@example.test", HELO, resolver).result == "pass"
    assert check_spf("198.51.100.7", "a@example.test", HELO, resolver).result == "pass"
    assert check_spf("203.0.113.1", "a@example.test", HELO, resolver).result == "fail"


def test_dmarc_record_parsing_and_the_lab_organisational_domain():
    assert organisational_domain("news.mail.example.test.") == "example.test"
    record = parse_record("v=DMARC1; p=quarantine; sp=reject; adkim=s")
    assert record is not None
    assert (record.policy, record.subdomain_policy, record.adkim, record.aspf) == (
        "quarantine",
        "reject",
        "s",
        "r",
    )
    assert parse_record("p=none; v=DMARC1") is None
    assert parse_record("v=spf1 -all") is None


def test_subdomain_from_uses_the_organisational_record_and_relaxed_alignment(key):
    """From news.example.test: no _dmarc there, so example.test's record applies; DKIM d=
    example.test aligns under relaxed alignment."""
    data = key.sign(message(sender="a@news.example.test").as_bytes())
    facts = read_facts(data)
    results = authenticate(
        data,
        facts.headers,
        client_ip="127.0.0.1",
        mail_from="bounces@example.test",
        helo=HELO,
        resolver=lab_dns(key),
        min_key_bits=1024,
        timeout=1,
    )
    assert results.dmarc.result == "pass"
    assert results.dmarc.domain == "news.example.test"
    assert verdict("dmarc-aligned", results) == "pass"
    assert verdict("spf-and-dkim-and-dmarc", results) == "pass"
