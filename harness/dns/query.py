"""Asking one resolver, and only that one: UDP with EDNS, TCP when an answer is truncated.

The resolver is the one given (a lab's DNS on 127.0.0.1) or the first one the system is
configured with (/etc/resolv.conf); nothing here picks a server of its own.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver

from harness.errors import DnsError

__all__ = ["Answer", "Querier", "parse_address", "system_resolver"]

_EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: no IP fragmentation


@dataclass(frozen=True)
class Answer:
    """What the resolver said: its status (NOERROR, NXDOMAIN, REFUSED, TIMEOUT, ...), the
    records of the type asked for (after any CNAME chain) and their TTL."""

    status: str
    rdatas: tuple[dns.rdata.Rdata, ...] = ()
    ttl: int | None = None

    def texts(self) -> list[str]:
        """Each record as text; a TXT record as its character-strings joined."""
        return [_text(rdata) for rdata in self.rdatas]

    def show(self) -> str:
        if not self.rdatas:
            return self.status if self.status != "NOERROR" else "(no record)"
        return " | ".join(sorted(self.texts()))


def _text(rdata: dns.rdata.Rdata) -> str:
    if rdata.rdtype == dns.rdatatype.TXT:
        strings: tuple[bytes, ...] = rdata.strings  # type: ignore[attr-defined]
        return b"".join(strings).decode(errors="replace")
    return str(rdata.to_text())


def parse_address(text: str, default_port: int = 53) -> tuple[str, int]:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` -> (ip, port); ValueError when it is none."""
    host, port = text.strip(), str(default_port)
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") or port
    elif host.count(":") == 1:
        host, port = host.split(":")
    ip = ipaddress.ip_address(host)
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"port {number} is outside 1..65535")
    return str(ip), number


def system_resolver() -> tuple[str, int]:
    """The first name server of /etc/resolv.conf, port 53."""
    try:
        servers = dns.resolver.Resolver(configure=True).nameservers
    except dns.exception.DNSException as exc:
        raise DnsError(f"no system resolver ({exc}); pass --resolver IP[:PORT]") from None
    if not servers:
        raise DnsError("/etc/resolv.conf names no name server; pass --resolver IP[:PORT]")
    return str(servers[0]), 53


class Querier:
    """Asks ``server`` (ip, port), each question once; raises DnsError when the server has
    never answered, so a dead resolver is one clear error rather than one per record."""

    def __init__(self, server: tuple[str, int], timeout: float = 2.0) -> None:
        self.server = server
        self.timeout = timeout
        self.answered = 0
        self._cache: dict[tuple[str, str], Answer] = {}

    def ask(self, name: str, rtype: str) -> Answer:
        key = (name.lower(), rtype)
        if key not in self._cache:
            self._cache[key] = self._ask(name, rtype)
        return self._cache[key]

    def _ask(self, name: str, rtype: str) -> Answer:
        ip, port = self.server
        query = dns.message.make_query(name, rtype, use_edns=0, payload=_EDNS_PAYLOAD)
        try:
            response, _tcp = dns.query.udp_with_fallback(query, ip, timeout=self.timeout, port=port)
        except (dns.exception.Timeout, OSError) as exc:
            if not self.answered:
                raise DnsError(
                    f"the resolver {ip}:{port} does not answer ({type(exc).__name__}: {exc}); "
                    "is it running? pass --resolver IP[:PORT] to ask another"
                ) from None
            return Answer("TIMEOUT")
        except dns.exception.DNSException as exc:
            return Answer(f"BAD RESPONSE ({exc})")
        self.answered += 1
        status = dns.rcode.to_text(response.rcode())
        if not isinstance(response, dns.message.QueryMessage) or status != "NOERROR":
            return Answer(status)
        try:
            rrset = response.resolve_chaining().answer
        except dns.exception.DNSException as exc:
            return Answer(f"BAD CHAIN ({exc})")
        if rrset is None:
            return Answer(status)
        return Answer(status, tuple(rrset), rrset.ttl)
