"""The preflight checks DNS answers for a sending domain and its mail hosts: SPF, DKIM keys,
DMARC, forward-confirmed reverse DNS of each sending address, the HELO name, and TXT values
that were published unsplit (cut at 255 characters).

The rules receivers apply to each record are harness/dns/policy.py's, shared with
`mailstack dns check`; what the inventory expects comes from the hosts' resolved settings.
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.rdatatype
import dns.reversename

from harness.dns.policy import (
    dkim_problems,
    dkim_rsa_bits,
    dmarc_problems,
    fcrdns_problems,
    is_spf,
    spf_problems,
)
from harness.dns.query import Answer, Querier
from harness.dns.records import parse_tags
from harness.dns.settings import MailHost
from harness.preflight.rules import Finding, finding

__all__ = ["check_domain", "check_hosts"]

_TXT_STRING_MAX = 255
#: Below this a DKIM RSA key fails verification at receivers (RFC 8301).
_DKIM_MIN_BITS = 1024


def _cut_strings(answer: Answer) -> list[str]:
    """TXT records whose last character-string is exactly 255 long: a longer value pasted
    as one string that the publisher cut, instead of splitting it."""
    cut = []
    for rdata in answer.rdatas:
        if rdata.rdtype != dns.rdatatype.TXT:
            continue
        strings: tuple[bytes, ...] = rdata.strings  # type: ignore[attr-defined]
        if strings and len(strings[-1]) == _TXT_STRING_MAX:
            cut.append(b"".join(strings).decode(errors="replace")[:40] + "...")
    return cut


def _spf(domain: str, querier: Querier) -> Finding:
    answer = querier.ask(domain, "TXT")
    records = [t for t in answer.texts() if is_spf(t)]
    if len(records) != 1:
        served = f"{len(records)} v=spf1 records" if records else answer.show()
        return finding("spf.record", False, f"{domain} TXT: {served}")
    errors = [m for severity, m in spf_problems(domain, records[0], querier) if severity == "error"]
    return finding("spf.record", not errors, "; ".join(errors) or f"{domain}: {records[0]}")


def _dkim_key(domain: str, selector: str, querier: Querier) -> tuple[Finding, Answer]:
    name = f"{selector}._domainkey.{domain}"
    answer = querier.ask(name, "TXT")
    keys = [t for t in answer.texts() if t.lower().startswith("v=dkim1") or "p=" in t]
    if not keys:
        return finding("dkim.key", False, f"{name} TXT: {answer.show()}"), answer
    problems = [m for _s, m in dkim_problems(keys[0])]
    bits = dkim_rsa_bits(keys[0])
    if bits is not None and bits >= _DKIM_MIN_BITS:
        # 1024..2047 bits still verify; dkim_problems calls them weak, the rule a warning.
        problems = [p for p in problems if "bits" not in p]
    shown = f"{bits}-bit RSA" if bits else "a non-RSA key"
    return finding("dkim.key", not problems, "; ".join(problems) or f"{name}: {shown}"), answer


def _dmarc(domain: str, querier: Querier) -> tuple[list[Finding], Answer]:
    name = f"_dmarc.{domain}"
    answer = querier.ask(name, "TXT")
    records = [t for t in answer.texts() if t.lower().startswith("v=dmarc1")]
    if len(records) != 1:
        served = f"{len(records)} v=DMARC1 records" if records else answer.show()
        return [
            finding("dmarc.record", False, f"{name} TXT: {served}"),
            finding("dmarc.rua", None, "no DMARC record"),
        ], answer
    problems = [m for _s, m in dmarc_problems(records[0])]
    tags = parse_tags(records[0]) if not problems else {}
    return [
        finding("dmarc.record", not problems, "; ".join(problems) or f"{name}: {records[0]}"),
        finding("dmarc.rua", bool(tags.get("rua")), f"rua={tags.get('rua', '(none)')}")
        if tags
        else finding("dmarc.rua", None, "the record does not parse"),
    ], answer


def check_domain(
    domain: str, envelope_domain: str, selectors: Sequence[str], querier: Querier
) -> list[Finding]:
    """The From domain's (and the envelope domain's) records as ``querier`` serves them;
    ``selectors``: the domain's active DKIM selectors in the inventory."""
    findings = [_spf(domain, querier)]
    if envelope_domain != domain:
        findings.append(_spf(envelope_domain, querier))
    answers: list[Answer] = [querier.ask(domain, "TXT")]
    if not selectors:
        findings.append(
            finding("dkim.key", False, f"no active key for {domain} in rspamd_dkim_keys")
        )
    for selector in selectors:
        key, answer = _dkim_key(domain, selector, querier)
        findings.append(key)
        answers.append(answer)
    dmarc, answer = _dmarc(domain, querier)
    findings += dmarc
    answers.append(answer)
    cut = [c for a in answers for c in _cut_strings(a)]
    findings.append(
        finding(
            "dns.txt-strings",
            not cut,
            f"cut at 255 characters: {'; '.join(cut)}" if cut else "no TXT string cut short",
        )
    )
    return findings


def _fcrdns(address: str, querier: Querier) -> Finding:
    ptr = dns.reversename.from_address(address).to_text()
    answer = querier.ask(ptr, "PTR")
    if not answer.rdatas:
        return finding("rdns.fcrdns", False, f"{address}: no PTR ({answer.show()})")
    problems = [m for _s, m in fcrdns_problems(ptr, answer.texts(), querier)]
    return finding(
        "rdns.fcrdns", not problems, "; ".join(problems) or f"{address} -> {answer.show()}"
    )


def _helo(host: MailHost, querier: Querier) -> Finding:
    name = host.hostname.rstrip(".")
    if "." not in name:
        return finding("helo.name", False, f"{host.name} greets as {name!r}: not fully qualified")
    forward = querier.ask(name, "A").texts()
    return finding(
        "helo.name", host.ipv4 in forward, f"{host.name} greets as {name}; A: {forward or 'none'}"
    )


def check_hosts(hosts: Sequence[MailHost], querier: Querier) -> list[Finding]:
    """FCrDNS of every sending address and the HELO name of every sending host."""
    findings: list[Finding] = []
    for host in hosts:
        findings += [_fcrdns(a, querier) for a in (host.ipv4, host.ipv6) if a]
        findings.append(_helo(host, querier))
    return findings
