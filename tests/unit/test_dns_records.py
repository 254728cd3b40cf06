"""TXT values: split into character-strings of at most 255 bytes, quoted and escaped as a zone
file needs them; and the builders of SPF, DMARC, MTA-STS, TLS-RPT and DKIM values."""

from __future__ import annotations

import re

import dns.rdata
import dns.rdataclass
import pytest

from harness.dns.records import (
    dkim_value,
    dmarc_value,
    mta_sts_id,
    mta_sts_policy,
    parse_tags,
    spf_lookups,
    spf_terms,
    spf_value,
    tlsrpt_value,
    txt_rdata,
    txt_strings,
)


def _served(value: str) -> list[bytes]:
    """The character-strings a DNS server makes of the zone-file form."""
    rdata = dns.rdata.from_text(dns.rdataclass.IN, "TXT", txt_rdata(value))
    return list(rdata.strings)  # type: ignore[attr-defined]


@pytest.mark.parametrize("length", [0, 1, 254, 255, 256, 392, 510, 511, 1000])
def test_txt_values_split_into_strings_of_at_most_255_bytes(length: int) -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * length
    strings = _served(value)
    assert all(len(s) <= 255 for s in strings)
    assert b"".join(strings) == value.encode()
    assert len(strings) == max(1, -(-len(value) // 255))
    assert strings == txt_strings(value)


def test_quotes_backslashes_and_non_ascii_survive_the_zone_file() -> None:
    value = 'say "hi" \\ to caf\u00e9; ' + "x" * 300
    rdata = txt_rdata(value)
    assert rdata.startswith('"say \\"hi\\" \\\\ to caf\\195\\169; ')
    assert re.fullmatch(r'"[^"\\]*(\\.[^"\\]*)*"( "[^"\\]*(\\.[^"\\]*)*")+', rdata)
    assert b"".join(_served(value)) == value.encode()


def test_an_empty_value_is_one_empty_string() -> None:
    assert txt_rdata("") == '""'


def test_spf_counts_the_terms_that_cost_a_lookup() -> None:
    record = (
        "v=spf1 ip4:192.0.2.1 ip6:2001:db8::/32 a -a:x.test/24 mx:y.test ~include:_spf.z.test "
        "exists:%{i}.w.test ?ptr redirect=_spf.v.test exp=explain.test -all"
    )
    assert spf_lookups(record) == 7
    assert ("include", "_spf.z.test") in spf_terms(record)
    assert ("a", "/24") not in spf_terms(record)
    assert ("a", "") in spf_terms(record)
    assert spf_lookups("v=spf1 ip4:192.0.2.1 -all") == 0


def test_spf_value_in_order() -> None:
    assert (
        spf_value(["192.0.2.1"], ["2001:db8::1"], ["include:_spf.p.test"], "~all")
        == "v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 include:_spf.p.test ~all"
    )


def test_dmarc_leaves_out_what_defaults() -> None:
    assert dmarc_value(policy="none") == "v=DMARC1; p=none; adkim=r; aspf=r"
    assert (
        dmarc_value(
            policy="reject",
            subdomain_policy="quarantine",
            rua=["mailto:a@x.test", "mailto:b@x.test"],
            adkim="s",
            pct=50,
        )
        == "v=DMARC1; p=reject; sp=quarantine; rua=mailto:a@x.test,mailto:b@x.test; "
        "adkim=s; aspf=r; pct=50"
    )
    assert parse_tags(dmarc_value(policy="none"))["p"] == "none"


def test_mta_sts_id_follows_the_policy_text() -> None:
    policy = mta_sts_policy("enforce", 86400, ["mx2.x.test.", "mx1.x.test."])
    assert policy == (
        "version: STSv1\r\nmode: enforce\r\nmx: mx1.x.test\r\nmx: mx2.x.test\r\nmax_age: 86400\r\n"
    )
    same = mta_sts_policy("enforce", 86400, ["mx1.x.test.", "mx2.x.test.", "mx1.x.test."])
    assert mta_sts_id(same) == mta_sts_id(policy)
    assert re.fullmatch(r"[a-z0-9]{1,32}", mta_sts_id(policy))
    assert mta_sts_id(mta_sts_policy("testing", 86400, ["mx1.x.test."])) != mta_sts_id(policy)


def test_tlsrpt_and_dkim_values() -> None:
    assert tlsrpt_value(["mailto:r@x.test"]) == "v=TLSRPTv1; rua=mailto:r@x.test"
    assert dkim_value("rsa", "QUJD") == "v=DKIM1; k=rsa; p=QUJD"
    assert dkim_value("rsa", "QUJD", revoked=True) == "v=DKIM1; k=rsa; p="


@pytest.mark.parametrize("bad", ["v=DMARC1; p", "v=DMARC1; p=none; p=reject", "=x"])
def test_malformed_tag_lists_raise(bad: str) -> None:
    with pytest.raises(ValueError, match=r"tag|pair"):
        parse_tags(bad)
