"""The records the mail hosts need, wherever they end up being published.

Each :class:`Needed` record names the hosted domains it concerns and says why, so a record
outside every zone we write (a host name under someone else's domain, a PTR set by whoever owns
the address) becomes a note in those domains' zones rather than vanishing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.dns.records import (
    SPF_MAX_LOOKUPS,
    Record,
    RecordType,
    dkim_value,
    dmarc_value,
    in_domain,
    mta_sts_policy,
    mta_sts_value,
    spf_lookups,
    spf_value,
    tlsrpt_value,
)
from harness.dns.settings import DkimKey, MailHost, agreed_policy
from harness.errors import DnsError

__all__ = ["Needed", "Needs", "needed_records"]


@dataclass(frozen=True)
class Needed:
    record: Record
    #: the hosted domains whose mail depends on the record
    concerns: tuple[str, ...]
    #: the note to give when no zone here holds the record
    why: str


@dataclass
class Needs:
    records: list[Needed] = field(default_factory=list)
    #: (domains concerned, text): advice that goes with those domains' zones
    notes: list[tuple[tuple[str, ...], str]] = field(default_factory=list)


def _bare(name: str) -> str:
    return name.rstrip(".")


def _ip_key(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address)


def needed_records(hosts: Sequence[MailHost], domains: Sequence[str], ttl: int) -> Needs:
    needs = Needs()
    for domain in domains:
        _domain(needs, domain, [h for h in hosts if domain in h.domains], ttl)
    domain_spf = {n.record.name for n in needs.records if n.record.value.startswith("v=spf1")}
    for hostname in sorted({h.hostname for h in hosts}):
        _host(needs, [h for h in hosts if h.hostname == hostname], domain_spf, ttl)
    _dkim(needs, hosts, domains, ttl)
    return needs


def _domain(needs: Needs, domain: str, serving: Sequence[MailHost], ttl: int) -> None:
    policy = agreed_policy(serving, _bare(domain))
    concerns = (domain,)

    def add(name: str, rtype: RecordType, value: str) -> None:
        needs.records.append(Needed(Record(name, rtype, value, ttl), concerns, ""))

    mx = sorted({(h.mx_priority, h.hostname) for h in serving if h.is_mx})
    for preference, exchange in mx:
        add(domain, "MX", f"{preference} {exchange}")
    senders = [h for h in serving if h.sends]
    ipv4 = sorted({h.ipv4 for h in senders}, key=_ip_key)
    ipv6 = sorted({h.ipv6 for h in senders if h.ipv6}, key=_ip_key)
    spf = spf_value(ipv4, ipv6, policy.spf_include, policy.spf_all)
    lookups = spf_lookups(spf)
    if lookups > SPF_MAX_LOOKUPS:
        names = ", ".join(h.name for h in serving)
        raise DnsError(
            f"{_bare(domain)}: its SPF record needs {lookups} DNS lookups (include, a, mx, ptr, "
            f"exists, redirect), more than the {SPF_MAX_LOOKUPS} RFC 7208 allows; shorten "
            f"mail_dns_spf_include ({names}) or flatten its entries into ip4:/ip6:"
        )
    add(domain, "TXT", spf)
    dmarc = dmarc_value(
        policy=policy.dmarc_policy,
        subdomain_policy=policy.dmarc_subdomain_policy,
        rua=policy.dmarc_rua,
        adkim=policy.dmarc_adkim,
        aspf=policy.dmarc_aspf,
        pct=policy.dmarc_pct,
    )
    add(f"_dmarc.{domain}", "TXT", dmarc)
    for uri in policy.dmarc_rua:
        # RFC 7489 7.1: a report domain outside the domain says it takes the reports.
        receiver = uri.rpartition("@")[2].rstrip(".").lower() + "."
        if not in_domain(domain, receiver):
            name = f"{domain}_report._dmarc.{receiver}"
            why = (
                f"{_bare(domain)} sends DMARC reports to {_bare(receiver)} "
                f'(mail_dns_dmarc_rua): publish {name} TXT "v=DMARC1" at {_bare(receiver)}\'s '
                "DNS so it accepts them"
            )
            record = Record(name, "TXT", "v=DMARC1", ttl)
            needs.records.append(Needed(record, concerns, why))
    if policy.mta_sts_mode != "none":
        text = mta_sts_policy(policy.mta_sts_mode, policy.mta_sts_max_age, [n for _, n in mx])
        add(f"_mta-sts.{domain}", "TXT", mta_sts_value(text))
    if policy.tlsrpt_rua:
        add(f"_smtp._tls.{domain}", "TXT", tlsrpt_value(policy.tlsrpt_rua))


def _host(needs: Needs, hosts: Sequence[MailHost], domain_spf: set[str], ttl: int) -> None:
    """A/AAAA, the HELO name's SPF and the PTRs of the hosts that share one host name."""
    hostname = hosts[0].hostname
    names = ", ".join(h.name for h in hosts)
    concerns = tuple(sorted({d for h in hosts for d in h.domains}))
    ipv4 = sorted({h.ipv4 for h in hosts}, key=_ip_key)
    ipv6 = sorted({h.ipv6 for h in hosts if h.ipv6}, key=_ip_key)
    outside = (
        f"{names}: the host name {_bare(hostname)} (postfix_hostname) lies outside every zone "
        f"here: publish its {'A/AAAA' if ipv6 else 'A'} and SPF (TXT) records in the zone that "
        "holds it"
    )
    address_types: tuple[tuple[RecordType, list[str]], ...] = (("A", ipv4), ("AAAA", ipv6))
    for rtype, addresses in address_types:
        for address in addresses:
            record = Record(hostname, rtype, address, ttl)
            needs.records.append(Needed(record, concerns, outside))
    if hostname in domain_spf:
        # The host name is a hosted domain too: one SPF record, the domain's, must cover it.
        terms = next(
            n.record.value.split()
            for n in needs.records
            if n.record.name == hostname and n.record.value.startswith("v=spf1")
        )
        missing = [ip for ip in (*ipv4, *ipv6) if f"ip{6 if ':' in ip else 4}:{ip}" not in terms]
        if missing:
            raise DnsError(
                f"{names}: the host name {_bare(hostname)} is also a hosted domain whose SPF "
                f"record does not list {missing[0]}; give the host a name of its own "
                "(postfix_hostname) or let it serve that domain (mail_accounts_domains)"
            )
    else:
        # Null-sender mail (bounces) is checked against the HELO name: only these hosts use it,
        # so its record is strict whatever mail_dns_spf_all says for the domains.
        helo = spf_value(ipv4, ipv6, (), "-all")
        record = Record(hostname, "TXT", helo, ttl)
        needs.records.append(Needed(record, concerns, outside))
    for host in hosts:
        for address in filter(None, (host.ipv4, host.ipv6)):
            name = ipaddress.ip_address(address).reverse_pointer + "."
            why = (
                f"{host.name}: ask whoever owns {address} (your hosting provider) to set its PTR "
                f"to {_bare(hostname)}"
            )
            needs.records.append(Needed(Record(name, "PTR", hostname, ttl), concerns, why))


def _dkim(needs: Needs, hosts: Sequence[MailHost], domains: Sequence[str], ttl: int) -> None:
    chosen: dict[str, tuple[DkimKey, Record]] = {}
    for host in hosts:
        for key in host.dkim:
            name = f"{key.selector}._domainkey.{key.domain}"
            value = dkim_value(key.algorithm, key.public_key, revoked=key.revoked)
            record = Record(name, "TXT", value, ttl)
            first = chosen.setdefault(name, (key, record))
            if first[1] != record:
                raise DnsError(
                    f"{host.name}: dkim selector {key.selector} of {_bare(key.domain)} is "
                    f"{key.state} {key.algorithm} with another key than on {first[0].host} "
                    f"({first[0].state} {first[0].algorithm}); a selector has one key: give "
                    "every host the same key, or the new key a new selector"
                )
            concerns = (key.domain,) if key.domain in domains else host.domains
            why = (
                f"{host.name}: dkim selector {key.selector} is for {_bare(key.domain)}, which "
                f"no host here serves: publish {name} TXT at its DNS"
            )
            if first[0] is key:
                needs.records.append(Needed(record, concerns, why))
    published = [key for key, _ in chosen.values() if not key.revoked]
    for domain in sorted({k.domain for k in published}):
        algorithms = {k.algorithm for k in published if k.domain == domain}
        if algorithms == {"ed25519"}:
            needs.notes.append(
                (
                    (domain,),
                    f"{_bare(domain)} publishes only ed25519 DKIM keys, which many verifiers "
                    "cannot check: publish an rsa selector beside them",
                )
            )
