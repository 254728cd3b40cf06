"""A mail host's resolved settings (harness/resolve.yml) as the typed values DNS is made from.

Every value is checked here, so the zone code works on good data and a mistake is reported
once, naming the host, the variable and where to mend it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import partial
from typing import Any, TypeVar

from harness.dns.records import fqdn
from harness.errors import DnsError

__all__ = [
    "DKIM_STATES",
    "DkimKey",
    "DomainPolicy",
    "MailHost",
    "Nameserver",
    "agreed",
    "agreed_policy",
    "parse_host",
]

DKIM_STATES = ("future", "active", "expired", "revoked")
DKIM_ALGORITHMS = ("rsa", "ed25519")
_T = TypeVar("_T")
_NAME = re.compile(
    r"^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$"
)


@dataclass(frozen=True)
class Nameserver:
    name: str
    ipv4: str = ""


@dataclass(frozen=True)
class DkimKey:
    host: str
    domain: str
    selector: str
    state: str
    algorithm: str
    public_key: str

    @property
    def revoked(self) -> bool:
        return self.state == "revoked"


@dataclass(frozen=True)
class DomainPolicy:
    """The per-domain settings; each field is the variable ``mail_dns_<field>``."""

    spf_include: tuple[str, ...]
    spf_all: str
    dmarc_policy: str
    dmarc_subdomain_policy: str
    dmarc_rua: tuple[str, ...]
    dmarc_adkim: str
    dmarc_aspf: str
    dmarc_pct: int
    mta_sts_mode: str
    mta_sts_max_age: int
    tlsrpt_rua: tuple[str, ...]


@dataclass(frozen=True)
class MailHost:
    name: str
    hostname: str
    domains: tuple[str, ...]
    ipv4: str
    ipv6: str
    mx_priority: int
    ttl: int
    nameservers: tuple[Nameserver, ...]
    policy: DomainPolicy
    dkim: tuple[DkimKey, ...]
    #: the fleet tiers it plays (all of them on a server of its own): only the mx tier is an MX
    #: of its domains, and the backend (mailbox alone) sends nothing, so SPF leaves it out
    tiers: frozenset[str] = frozenset({"mx", "mailbox", "submission", "outbound"})

    @property
    def is_mx(self) -> bool:
        return "mx" in self.tiers

    @property
    def sends(self) -> bool:
        return bool(self.tiers - {"mailbox"})


class _Reader:
    """Reads one host's values; every complaint names the host and the variable."""

    def __init__(self, host: str, dns: Mapping[str, Any]) -> None:
        self.host = host
        self.dns = dns

    def fail(self, variable: str, problem: str, mend: str = "") -> DnsError:
        where = f"set it in host_vars/{self.host}.yml or group_vars"
        return DnsError(f"{self.host}: {variable} {problem}; {mend or where}")

    def text(self, key: str) -> str:
        value = self.dns.get(key)
        value = "" if value is None else value
        if not isinstance(value, str | int):
            raise self.fail(f"mail_dns_{key}", f"is {value!r}, not a string")
        return str(value).strip()

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.dns.get(key)
        try:
            number = int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise self.fail(f"mail_dns_{key}", f"is {value!r}, not a number") from None
        if not low <= number <= high:
            raise self.fail(f"mail_dns_{key}", f"is {number}, outside {low}..{high}")
        return number

    def choice(self, key: str, choices: Sequence[str]) -> str:
        value = self.text(key)
        if value not in choices:
            raise self.fail(f"mail_dns_{key}", f"is {value!r}, not one of {', '.join(choices)}")
        return value

    def strings(self, key: str, pattern: str = "", meaning: str = "") -> tuple[str, ...]:
        value = self.dns.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"mail_dns_{key}", f"is {value!r}, not a list of strings")
        items = tuple(v.strip() for v in value if v.strip())
        bad = [v for v in items if pattern and not re.match(pattern, v)]
        if bad:
            raise self.fail(f"mail_dns_{key}", f"holds {bad[0]!r}, not {meaning}")
        return items

    def address(self, key: str, version: int, required: bool) -> str:
        value = self.text(key)
        if not value:
            if required:
                raise self.fail(
                    f"mail_dns_{key}",
                    "is empty",
                    f"set it in host_vars/{self.host}.yml (the host's public IPv{version})",
                )
            return ""
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            ip = None
        if ip is None or ip.version != version:
            raise self.fail(f"mail_dns_{key}", f"{value!r} is not an IPv{version} address")
        return str(ip)


def _name(reader: _Reader, value: object, variable: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value.strip()):
        raise reader.fail(variable, f"holds {value!r}, not a domain name")
    return fqdn(value)


def _nameservers(reader: _Reader) -> tuple[Nameserver, ...]:
    raw = reader.dns.get("nameservers") or []
    if not isinstance(raw, list) or not all(isinstance(n, Mapping) for n in raw):
        raise reader.fail("mail_dns_nameservers", f"is {raw!r}, not a list of {{name, ipv4}}")
    servers = []
    for entry in raw:
        name = _name(reader, entry.get("name"), "mail_dns_nameservers")
        ipv4 = str(entry.get("ipv4") or "").strip()
        if ipv4:
            try:
                ipaddress.IPv4Address(ipv4)
            except ValueError:
                raise reader.fail("mail_dns_nameservers", f"gives {name} ipv4 {ipv4!r}") from None
        servers.append(Nameserver(name, ipv4))
    return tuple(servers)


def _dkim_key(reader: _Reader, entry: object) -> DkimKey:
    if not isinstance(entry, Mapping):
        raise reader.fail("dkim", f"holds {entry!r}, not a {{domain, selector, ...}} mapping")
    domain = _name(reader, entry.get("domain"), "dkim domain")
    selector = str(entry.get("selector") or "").strip().lower()
    where = f"dkim selector {selector!r} of {domain.rstrip('.')}"
    if not re.fullmatch(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?", selector):
        raise reader.fail(where, "is not a valid selector (letters, digits, - _ .)")
    state = str(entry.get("state") or "")
    if state not in DKIM_STATES:
        raise reader.fail(where, f"has state {state!r}, not one of {', '.join(DKIM_STATES)}")
    algorithm = str(entry.get("algorithm") or "rsa")
    if algorithm not in DKIM_ALGORITHMS:
        raise reader.fail(where, f"has algorithm {algorithm!r}, not rsa or ed25519")
    key = re.sub(r"-----[A-Z ]+-----|\s", "", str(entry.get("public_key") or ""))
    if key:
        try:
            base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            raise reader.fail(where, "has a public_key that is not base64") from None
    elif state != "revoked":
        raise reader.fail(where, "has no public_key")
    return DkimKey(reader.host, domain, selector, state, algorithm, key)


def parse_host(host: str, data: Mapping[str, Any]) -> MailHost:
    """The DNS view of one host's resolved settings; DnsError naming the variable if bad."""
    dns = data.get("dns")
    reader = _Reader(host, dns if isinstance(dns, Mapping) else {})
    if not isinstance(dns, Mapping):
        raise reader.fail("mail_dns_*", "settings are missing", "does resolve.yml include dns?")
    if not str(data.get("hostname") or "").strip():
        raise reader.fail("postfix_hostname", "is empty", "set the host's FQDN (its HELO name)")
    hostname = _name(reader, data.get("hostname"), "postfix_hostname")
    raw_domains = data.get("domains") or []
    if not isinstance(raw_domains, list):
        raise reader.fail("mail_accounts_domains", f"is {raw_domains!r}, not a list")
    domains = tuple(
        _name(reader, d.get("name") if isinstance(d, Mapping) else d, "mail_accounts_domains")
        for d in raw_domains
    )
    raw_dkim = data.get("dkim") or []
    if not isinstance(raw_dkim, list):
        raise reader.fail("dkim", f"is {raw_dkim!r}, not a list of keys")
    uri = r"^mailto:[^,!\s]+$"
    policy = DomainPolicy(
        spf_include=tuple(t for item in reader.strings("spf_include") for t in item.split()),
        spf_all=reader.choice("spf_all", ("-all", "~all", "?all")),
        dmarc_policy=reader.choice("dmarc_policy", ("none", "quarantine", "reject")),
        dmarc_subdomain_policy=reader.choice(
            "dmarc_subdomain_policy", ("", "none", "quarantine", "reject")
        ),
        dmarc_rua=reader.strings("dmarc_rua", uri, "a mailto: URI"),
        dmarc_adkim=reader.choice("dmarc_adkim", ("r", "s")),
        dmarc_aspf=reader.choice("dmarc_aspf", ("r", "s")),
        dmarc_pct=reader.integer("dmarc_pct", 0, 100),
        mta_sts_mode=reader.choice("mta_sts_mode", ("none", "testing", "enforce")),
        mta_sts_max_age=reader.integer("mta_sts_max_age", 0, 31557600),
        tlsrpt_rua=reader.strings(
            "tlsrpt_rua", r"^(mailto:|https:)[^,!\s]+$", "a mailto:/https: URI"
        ),
    )
    stray = [t for t in policy.spf_include if re.fullmatch(r"[-~?+]?all|v=spf1", t.lower())]
    if stray:
        raise reader.fail("mail_dns_spf_include", f"holds {stray[0]!r}", "use mail_dns_spf_all")
    return MailHost(
        name=host,
        hostname=hostname,
        domains=domains,
        ipv4=reader.address("ipv4", 4, required=True),
        ipv6=reader.address("ipv6", 6, required=False),
        mx_priority=reader.integer("mx_priority", 0, 65535),
        ttl=reader.integer("ttl", 1, 2147483647),
        nameservers=_nameservers(reader),
        policy=policy,
        dkim=tuple(_dkim_key(reader, entry) for entry in raw_dkim),
        **({"tiers": frozenset(str(t) for t in data["tiers"])} if data.get("tiers") else {}),
    )


def agreed(
    hosts: Sequence[MailHost], get: Callable[[MailHost], _T], variable: str, scope: str
) -> _T:
    """The one value of ``variable`` all ``hosts`` share, or DnsError naming two that differ."""
    first = get(hosts[0])
    for other in hosts[1:]:
        if get(other) != first:
            raise DnsError(
                f"{scope}: {variable} differs between {hosts[0].name} ({_show(first)}) and "
                f"{other.name} ({_show(get(other))}); set it once for all of them in "
                "group_vars/mail.yml"
            )
    return first


def agreed_policy(hosts: Sequence[MailHost], scope: str) -> DomainPolicy:
    """The domain policy the serving ``hosts`` agree on, field by field."""
    for field in fields(DomainPolicy):
        agreed(hosts, partial(_policy_value, field.name), f"mail_dns_{field.name}", scope)
    return hosts[0].policy


def _policy_value(name: str, host: MailHost) -> object:
    return getattr(host.policy, name)


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, Nameserver):
        return f"{value.name.rstrip('.')}" + (f" {value.ipv4}" if value.ipv4 else "")
    return str(value)
