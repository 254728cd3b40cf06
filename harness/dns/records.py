"""DNS records as values, and the TXT values mail needs: SPF, DMARC, MTA-STS, TLS-RPT, DKIM.

Names are absolute, lower case and end in a dot. A TXT record holds its text unsplit; its
zone-file form (:meth:`Record.rdata`) splits it into character-strings of at most 255 bytes,
quoted and escaped, because one string may not hold more (RFC 1035 3.3.14) and providers
reject unsplit values.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "SPF_MAX_LOOKUPS",
    "TYPE_ORDER",
    "Record",
    "RecordType",
    "dkim_value",
    "dmarc_value",
    "fqdn",
    "in_domain",
    "mta_sts_id",
    "mta_sts_policy",
    "mta_sts_value",
    "parse_tags",
    "spf_lookups",
    "spf_terms",
    "spf_value",
    "tlsrpt_value",
    "txt_rdata",
    "txt_strings",
]

RecordType = Literal["SOA", "NS", "A", "AAAA", "MX", "TXT", "PTR"]
#: The order records of one name are listed in.
TYPE_ORDER: tuple[RecordType, ...] = ("SOA", "NS", "A", "AAAA", "MX", "TXT", "PTR")
#: RFC 7208 4.6.4: more DNS lookups than this make the SPF result a permerror.
SPF_MAX_LOOKUPS = 10
_TXT_CHUNK = 255
_SPF_LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})


def fqdn(name: str) -> str:
    """``Mx1.Example.test`` -> ``mx1.example.test.``."""
    return name.strip().rstrip(".").lower() + "."


def in_domain(name: str, domain: str) -> bool:
    """Whether the absolute ``name`` is ``domain`` or lies under it."""
    return name == domain or name.endswith("." + domain)


@dataclass(frozen=True)
class Record:
    """One resource record. ``value`` is the rdata in zone-file syntax with absolute names,
    except for TXT, where it is the text itself (unsplit, unquoted)."""

    name: str
    rtype: RecordType
    value: str
    ttl: int

    def rdata(self) -> str:
        return txt_rdata(self.value) if self.rtype == "TXT" else self.value

    def line(self, owner: str | None = None, width: int = 0) -> str:
        return f"{(owner or self.name):<{width}} {self.ttl} IN {self.rtype:<5} {self.rdata()}"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.rtype,
            "ttl": self.ttl,
            "value": self.value,
            "rdata": self.rdata(),
        }


def txt_strings(value: str) -> list[bytes]:
    """``value`` as character-strings of at most 255 bytes each (one empty one for "")."""
    data = value.encode()
    return [data[i : i + _TXT_CHUNK] for i in range(0, len(data), _TXT_CHUNK)] or [b""]


def _quote(chunk: bytes) -> str:
    out = []
    for byte in chunk:
        if byte in b'"\\':
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def txt_rdata(value: str) -> str:
    """The zone-file form of a TXT value: ``"..." "..."``, escaped (RFC 1035 5.1)."""
    return " ".join(_quote(chunk) for chunk in txt_strings(value))


def spf_terms(value: str) -> list[tuple[str, str]]:
    """The terms after ``v=spf1`` as (mechanism or modifier name, argument): qualifiers dropped,
    ``include:_spf.x.test`` -> ("include", "_spf.x.test"), ``a/24`` -> ("a", "/24")."""
    terms = []
    for term in value.split()[1:]:
        bare = term.lstrip("+-~?")
        match = re.match(r"([A-Za-z][A-Za-z0-9_.-]*)([:=/]?)(.*)", bare)
        if not match:
            terms.append((bare.lower(), ""))
            continue
        name, sep, arg = match.groups()
        terms.append((name.lower(), arg if sep in ":=" else sep + arg))
    return terms


def spf_lookups(value: str) -> int:
    """DNS lookups the record itself causes (include, a, mx, ptr, exists, redirect); the
    records it includes count on top (RFC 7208 4.6.4)."""
    return sum(1 for name, _ in spf_terms(value) if name in _SPF_LOOKUP_TERMS)


def spf_value(
    ipv4: Iterable[str], ipv6: Iterable[str], mechanisms: Iterable[str], default: str
) -> str:
    """``v=spf1 ip4:... ip6:... <mechanisms> <default>``, addresses in the order given."""
    terms = ["v=spf1"]
    terms += [f"ip4:{ip}" for ip in ipv4]
    terms += [f"ip6:{ip}" for ip in ipv6]
    terms += list(mechanisms)
    terms.append(default)
    return " ".join(terms)


def dmarc_value(
    *,
    policy: str,
    subdomain_policy: str = "",
    rua: Sequence[str] = (),
    adkim: str = "r",
    aspf: str = "r",
    pct: int = 100,
) -> str:
    """``v=DMARC1; p=...; [sp=...;] [rua=...;] adkim=..; aspf=..[; pct=..]``.

    ``sp`` only when set (RFC 7489: subdomains default to ``p``), ``pct`` only when not the
    default 100; the alignment tags always, so the record says what it means.
    """
    tags = ["v=DMARC1", f"p={policy}"]
    if subdomain_policy:
        tags.append(f"sp={subdomain_policy}")
    if rua:
        tags.append("rua=" + ",".join(rua))
    tags += [f"adkim={adkim}", f"aspf={aspf}"]
    if pct != 100:
        tags.append(f"pct={pct}")
    return "; ".join(tags)


def mta_sts_policy(mode: str, max_age: int, mx_hosts: Iterable[str]) -> str:
    """The policy file served at ``https://mta-sts.<domain>/.well-known/mta-sts.txt``."""
    lines = ["version: STSv1", f"mode: {mode}"]
    lines += [f"mx: {host.rstrip('.')}" for host in sorted(set(mx_hosts))]
    lines.append(f"max_age: {max_age}")
    return "\r\n".join(lines) + "\r\n"


def mta_sts_id(policy: str) -> str:
    """A policy id (1-32 letters and digits, RFC 8461 3.1) that changes exactly when the
    policy text does."""
    return hashlib.sha256(policy.encode()).hexdigest()[:20]


def mta_sts_value(policy: str) -> str:
    return f"v=STSv1; id={mta_sts_id(policy)}"


def tlsrpt_value(rua: Sequence[str]) -> str:
    return "v=TLSRPTv1; rua=" + ",".join(rua)


def dkim_value(algorithm: str, public_key: str, *, revoked: bool = False) -> str:
    """``v=DKIM1; k=<algorithm>; p=<key>``; a revoked key keeps an empty ``p=`` (RFC 6376
    3.6.1), so verifiers see it was withdrawn rather than lost."""
    return f"v=DKIM1; k={algorithm}; p={'' if revoked else public_key}"


def parse_tags(value: str) -> dict[str, str]:
    """A DKIM/DMARC tag list (``v=DMARC1; p=none``) as a mapping; ValueError when malformed."""
    tags: dict[str, str] = {}
    for part in value.split(";"):
        if not part.strip():
            continue
        name, sep, tag_value = part.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise ValueError(f"{part.strip()!r} is not a tag=value pair")
        if name in tags:
            raise ValueError(f"tag {name} appears twice")
        tags[name] = "".join(tag_value.split())
    return tags
