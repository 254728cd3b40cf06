"""DMARC (RFC 7489) for the lab: the From domain's record, and relaxed or strict alignment of the
passing DKIM d= and SPF domains with it.

Organisational domain = the last two labels of a name. That is right for the lab's ``.test``
domains (``news.example.test`` -> ``example.test``); real receivers use the Public Suffix List,
which would matter only for names under multi-label suffixes such as ``co.uk``.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

from .lookup import DnsTempError, Resolver, normalise
from .results import DkimResult, DmarcResult, SpfResult

__all__ = ["DmarcRecord", "aligned", "check_dmarc", "from_domain", "organisational_domain"]


@dataclass(frozen=True)
class DmarcRecord:
    policy: str
    subdomain_policy: str | None
    adkim: str
    aspf: str


def organisational_domain(domain: str) -> str:
    return ".".join(normalise(domain).split(".")[-2:])


def aligned(domain: str, from_dom: str, mode: str) -> bool:
    if mode == "s":
        return normalise(domain) == normalise(from_dom)
    return organisational_domain(domain) == organisational_domain(from_dom)


def from_domain(headers: Message) -> str | None:
    """The domain of the one From address, or None when there is not exactly one."""
    addresses = [addr for _, addr in getaddresses(headers.get_all("From", [])) if addr]
    if len(addresses) != 1 or "@" not in addresses[0]:
        return None
    return normalise(addresses[0].rpartition("@")[2]) or None


def parse_record(text: str) -> DmarcRecord | None:
    """A ``v=DMARC1; p=...`` record (``v`` must be the first tag), or None for any other TXT."""
    pairs = [part.partition("=") for part in text.split(";")]
    tags: dict[str, str] = {}
    for key, sep, value in pairs:
        if sep:
            tags.setdefault(key.strip().lower(), value.strip())
    if pairs[0][0].strip().lower() != "v" or tags.get("v") != "DMARC1":
        return None
    policies = {"none", "quarantine", "reject"}
    policy = tags.get("p", "none").lower()
    sub = tags.get("sp", "").lower()
    return DmarcRecord(
        policy=policy if policy in policies else "none",
        subdomain_policy=sub if sub in policies else None,
        adkim="s" if tags.get("adkim", "r").lower() == "s" else "r",
        aspf="s" if tags.get("aspf", "r").lower() == "s" else "r",
    )


def find_record(domain: str, resolver: Resolver) -> DmarcRecord | None:
    """The record at ``_dmarc.<domain>``, else at ``_dmarc.<organisational domain>``; more than
    one DMARC record at a name counts as none (RFC 7489 6.6.3)."""
    names = [domain]
    if organisational_domain(domain) != domain:
        names.append(organisational_domain(domain))
    for name in names:
        records = [r for r in map(parse_record, resolver.lookup(f"_dmarc.{name}", "TXT")) if r]
        if len(records) == 1:
            record = records[0]
            if name != domain and record.subdomain_policy:
                return DmarcRecord(record.subdomain_policy, None, record.adkim, record.aspf)
            return record
    return None


def check_dmarc(
    from_dom: str | None, dkim: tuple[DkimResult, ...], spf: SpfResult, resolver: Resolver
) -> DmarcResult:
    if from_dom is None:
        return DmarcResult("permerror")
    try:
        record = find_record(from_dom, resolver)
    except DnsTempError:
        return DmarcResult("temperror", from_dom)
    if record is None:
        return DmarcResult("none", from_dom)
    how: list[str] = []
    if any(
        r.result == "pass" and r.domain and aligned(r.domain, from_dom, record.adkim) for r in dkim
    ):
        how.append("dkim")
    if spf.result == "pass" and aligned(spf.domain, from_dom, record.aspf):
        how.append("spf")
    return DmarcResult("pass" if how else "fail", from_dom, record.policy, tuple(how))
