"""Checks of served records beyond "as expected": the rules receivers apply to them.

Each returns problems as (severity, message) pairs; harness/dns/check.py turns them into
findings for a record.
"""

from __future__ import annotations

import base64
import binascii

import dns.exception
import dns.name
import dns.reversename
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from harness.dns.query import Querier
from harness.dns.records import SPF_MAX_LOOKUPS, fqdn, parse_tags, spf_lookups, spf_terms

__all__ = [
    "MIN_RSA_BITS",
    "Problem",
    "dkim_problems",
    "dkim_rsa_bits",
    "dmarc_problems",
    "fcrdns_problems",
    "is_spf",
    "spf_problems",
]

Problem = tuple[str, str]
#: Below this, receivers (Gmail, Yahoo) treat a DKIM RSA key as weak.
MIN_RSA_BITS = 2048
_MAX_INCLUDE_DEPTH = 10


def is_spf(text: str) -> bool:
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


def _count(value: str, querier: Querier, seen: frozenset[str]) -> tuple[int, list[Problem]]:
    """Lookups of ``value`` and of everything it includes or redirects to."""
    total, problems = spf_lookups(value), []
    for term, arg in spf_terms(value):
        if term not in ("include", "redirect") or not arg:
            continue
        if "%" in arg:
            problems.append(("warning", f"{term}:{arg} uses a macro; its lookups are not counted"))
            continue
        target = fqdn(arg)
        if target in seen or len(seen) > _MAX_INCLUDE_DEPTH:
            problems.append(("error", f"{term}:{arg} loops or nests too deep"))
            continue
        answer = querier.ask(target, "TXT")
        records = [t for t in answer.texts() if is_spf(t)]
        if len(records) != 1:
            served = f"{len(records)} v=spf1 records" if records else answer.show()
            problems.append(("warning", f"{term}:{arg} serves {served}; its lookups not counted"))
            continue
        more, deeper = _count(records[0], querier, seen | {target})
        total += more
        problems += deeper
    return total, problems


def spf_problems(name: str, value: str, querier: Querier) -> list[Problem]:
    """At most 10 DNS lookups, counted through includes and redirects (RFC 7208 4.6.4)."""
    lookups, problems = _count(value, querier, frozenset({fqdn(name)}))
    if lookups > SPF_MAX_LOOKUPS:
        problems.append(
            (
                "error",
                f"the SPF record needs {lookups} DNS lookups, more than {SPF_MAX_LOOKUPS} "
                "(receivers fail it with permerror); shorten mail_dns_spf_include",
            )
        )
    return problems


def dmarc_problems(value: str) -> list[Problem]:
    """A served v=DMARC1 record that parses and says something valid (RFC 7489 6.3)."""
    try:
        tags = parse_tags(value)
    except ValueError as exc:
        return [("error", f"the DMARC record does not parse: {exc}")]
    problems: list[str] = []
    if next(iter(tags), "") != "v" or tags["v"] != "DMARC1":
        problems.append("it must start with v=DMARC1")
    if tags.get("p") not in ("none", "quarantine", "reject"):
        problems.append(f"p={tags.get('p', '')!r} is not none, quarantine or reject")
    if tags.get("sp", "none") not in ("none", "quarantine", "reject"):
        problems.append(f"sp={tags['sp']!r} is not none, quarantine or reject")
    for tag in ("adkim", "aspf"):
        if tags.get(tag, "r") not in ("r", "s"):
            problems.append(f"{tag}={tags[tag]!r} is not r or s")
    if not tags.get("pct", "100").isdigit() or not 0 <= int(tags.get("pct", "100")) <= 100:
        problems.append(f"pct={tags['pct']!r} is not 0..100")
    bad = [u for u in tags.get("rua", "").split(",") if u and not u.startswith("mailto:")]
    if bad:
        problems.append(f"rua {bad[0]!r} is not a mailto: URI")
    return [("error", f"the DMARC record is invalid: {p}") for p in problems]


def _rsa_problem(public: object) -> str:
    if not isinstance(public, rsa.RSAPublicKey):
        return f"the DKIM key is k=rsa but holds a {type(public).__name__}"
    if public.key_size < MIN_RSA_BITS:
        return (
            f"the DKIM RSA key has {public.key_size} bits, fewer than {MIN_RSA_BITS}: receivers "
            "treat it as weak; rotate to a 2048-bit key under a new selector"
        )
    return ""


def _dkim_key_problem(algorithm: str, key: bytes) -> str:
    """What is wrong with a published DKIM key, or ""."""
    if not key:
        return "the DKIM key is revoked (empty p=) but should be published"
    try:
        if algorithm == "ed25519":
            ed25519.Ed25519PublicKey.from_public_bytes(key)
            return ""
        if algorithm != "rsa":
            return f"the DKIM key type k={algorithm} is neither rsa nor ed25519"
        return _rsa_problem(load_der_public_key(key))
    except (ValueError, UnsupportedAlgorithm) as exc:
        return f"the DKIM {algorithm} key does not parse: {exc}"


def dkim_rsa_bits(value: str) -> int | None:
    """The size of a published DKIM RSA key; None when it is no RSA key or does not parse."""
    try:
        tags = parse_tags(value)
        if tags.get("k", "rsa") != "rsa":
            return None
        public = load_der_public_key(base64.b64decode(tags.get("p", ""), validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        return None
    return public.key_size if isinstance(public, rsa.RSAPublicKey) else None


def dkim_problems(value: str) -> list[Problem]:
    """A served, not revoked v=DKIM1 key that parses; RSA keys of at least 2048 bits."""
    try:
        tags = parse_tags(value)
        key = base64.b64decode(tags.get("p", ""), validate=True)
    except (ValueError, binascii.Error) as exc:
        return [("error", f"the DKIM record does not parse: {exc}")]
    problem = _dkim_key_problem(tags.get("k", "rsa"), key)
    return [("error", problem)] if problem else []


def fcrdns_problems(ptr_name: str, targets: list[str], querier: Querier) -> list[Problem]:
    """Forward-confirmed reverse DNS: each PTR target's A/AAAA includes the address."""
    try:
        address = dns.reversename.to_address(dns.name.from_text(ptr_name))
    except (dns.exception.DNSException, ValueError):
        return []
    rtype = "AAAA" if ":" in address else "A"
    problems: list[Problem] = []
    for target in targets:
        forward = querier.ask(target, rtype)
        if address not in forward.texts():
            problems.append(
                (
                    "error",
                    f"forward-confirmed reverse DNS fails: {target} {rtype} is "
                    f"{forward.show()}, not {address}; receivers distrust the address",
                )
            )
    return problems
