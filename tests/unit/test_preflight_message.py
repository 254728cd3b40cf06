"""Preflight's message rules on real messages: a campaign message as `bench campaign` renders
it passes; each deliberately broken one fails exactly the rule it breaks, with evidence and a
fix; a copy signed by dkimpy is checked for what its h= covers."""

from __future__ import annotations

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.bench.campaign import Campaign
from harness.preflight.message import CLIP_BYTES, MESSAGE_RULES, check_message
from harness.preflight.rules import Finding, Severity, Status

LIMIT = 26_214_400
BODY = "Hello {{ name }},\n\nOur news.\n\nUnsubscribe: https://example.test/u?id={{ token }}\n"


def _campaign_message(body: str = BODY) -> bytes:
    campaign = Campaign.build(
        [{"email": "carol@peer.test", "name": "Carol"}],
        subject="News for {{ name }}",
        body=body,
        from_address="news@example.test",
        return_domain="example.test",
        unsubscribe_url="https://example.test/unsubscribe?id={{ token }}",
        unsubscribe_mailto="unsubscribe@example.test",
    )
    wire = campaign.render(0, "tok123", 1_800_000_000.0)
    return wire.removesuffix(b".\r\n")  # the message, without SMTP's end of data


def _by_rule(raw: bytes) -> dict[str, Finding]:
    return {f.rule.id: f for f in check_message(raw, size_limit=LIMIT)}


def _failed(raw: bytes) -> set[str]:
    return {rule for rule, f in _by_rule(raw).items() if f.status is Status.FAIL}


def _replace(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert old in raw
    return raw.replace(old, new, 1)


def test_a_campaign_message_passes_every_rule_it_can_answer() -> None:
    found = _by_rule(_campaign_message())
    assert list(found) == list(MESSAGE_RULES)
    assert {r for r, f in found.items() if f.status is Status.PASS} == set(MESSAGE_RULES) - {
        "unsubscribe.signed"
    }
    assert found["unsubscribe.signed"].status is Status.NOT_APPLICABLE  # not signed yet
    assert not any(f.blocks for f in found.values())


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        (
            b"From: <news@example.test>",
            b"From: <news@example.test>, <b@example.test>",
            "format.from",
        ),
        (b"From: <news@example.test>", b"From: <news@gmail.com>", "from.provider-domain"),
        (b"Message-ID: <tok123@example.test>", b"Message-ID: tok123", "format.message-id"),
        (b"Date: ", b"X-Date: ", "format.date"),
        (b"Subject: ", b"Subject: again\r\nSubject: ", "format.single-headers"),
        (
            b"<https://example.test/unsubscribe",
            b"<http://example.test/unsubscribe",
            "unsubscribe.header",
        ),
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", b"", "unsubscribe.one-click"),
        (
            b"Unsubscribe: https://example.test/u",
            b"Read more: https://example.test/u",
            "unsubscribe.visible",
        ),
    ],
)
def test_each_broken_message_fails_the_rule_it_breaks(old: bytes, new: bytes, rule: str) -> None:
    raw = _replace(_campaign_message(), old, new)
    assert _failed(raw) == {rule}
    finding = _by_rule(raw)[rule]
    assert finding.blocks
    data = finding.to_json()
    assert data["fix"]
    assert data["source"].startswith("https://")
    assert data["evidence"]


def test_size_beyond_the_limit_blocks_and_beyond_gmails_clip_warns() -> None:
    big = _campaign_message(BODY + "x" * (CLIP_BYTES + 10) + "\n")
    found = _by_rule(big)
    assert found["size.clipped"].status is Status.FAIL
    assert found["size.clipped"].rule.severity is Severity.WARNING
    assert not found["size.clipped"].blocks
    assert found["size.limit"].status is Status.PASS
    small_limit = {f.rule.id: f for f in check_message(big, size_limit=1000)}
    assert small_limit["size.limit"].blocks


def _signed(raw: bytes, headers: list[bytes]) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    signature = dkim.sign(raw, b"s1", b"example.test", pem, include_headers=headers)
    return signature + raw


def test_a_signed_copy_must_cover_both_unsubscribe_headers() -> None:
    raw = _campaign_message()
    covered = _signed(
        raw, [b"from", b"to", b"subject", b"list-unsubscribe", b"list-unsubscribe-post"]
    )
    assert _by_rule(covered)["unsubscribe.signed"].status is Status.PASS
    partial = _signed(raw, [b"from", b"to", b"subject", b"list-unsubscribe"])
    assert _failed(partial) == {"unsubscribe.signed"}
