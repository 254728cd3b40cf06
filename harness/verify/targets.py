"""What the verify suite checks, read from an Ansible inventory: hosts, addresses, accounts, and
the settings each check depends on.

Everything comes from one run of harness/resolve.yml (see harness/hosts.py): the values the
roles themselves would use on that host — inventory over role defaults — so a check holds for
any valid inventory, never only for the defaults.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from typing import Any

from harness.hosts import resolve_hosts

__all__ = [
    "STANDARD_PORTS",
    "TIERS",
    "Accounts",
    "Mailboxes",
    "Target",
    "load_targets",
    "offered_services",
    "quota_bytes",
]

#: The IANA ports of each service (the roles listen on these; a lab maps them to others).
STANDARD_PORTS = {
    "ssh": 22,
    "smtp": 25,
    "submissions": 465,
    "submission": 587,
    "imap": 143,
    "imaps": 993,
}
#: The fleet tiers (inventory groups; roles/mail_common): a host in none plays all of them.
TIERS = ("mx", "mailbox", "submission", "outbound")
_QUOTA = re.compile(r"^([0-9]+)([KMGT]?)$")


def quota_bytes(text: str) -> int:
    """A Dovecot quota size ("1M", "2G", "0" for none) in bytes (Dovecot's units are 1024)."""
    m = _QUOTA.match(str(text).strip().upper())
    if not m:
        return 0
    return int(m[1]) * int(1024 ** " KMGT".index(m[2] or " "))


@dataclass(frozen=True)
class Accounts:
    """Test accounts named by ``mailstack_verify`` in the inventory, with what the accounts
    data says about them."""

    mailbox: str = ""
    password: str = ""
    other_mailbox: str = ""
    other_password: str = ""
    alias: str = ""
    alias_targets: tuple[str, ...] = ()
    quota_mailbox: str = ""
    #: the quota of quota_mailbox, from mail_accounts (0: none)
    quota_limit_bytes: int = 0

    @property
    def passwords(self) -> dict[str, str]:
        """The mailboxes whose password the suite knows."""
        known = {self.mailbox: self.password, self.other_mailbox: self.other_password}
        return {box: pw for box, pw in known.items() if box and pw}


@dataclass(frozen=True)
class Mailboxes:
    """Where a host's mailboxes are read over IMAPS: the host itself on a single server, the
    fleet's backend otherwise."""

    name: str
    address: str
    port: int
    tls_name: str


def offered_services(tiers: frozenset[str], submission: bool, submissions: bool) -> set[str]:
    """The services a host of ``tiers`` listens for: 25 on the mx and outbound tiers, 587/465
    on the submission tier where the inventory switches them on, IMAP on the mailbox tier."""
    services: set[str] = set()
    if tiers & {"mx", "outbound"}:
        services.add("smtp")
    if "submission" in tiers:
        services |= {
            s for s, on in (("submission", submission), ("submissions", submissions)) if on
        }
    if "mailbox" in tiers:
        services |= {"imap", "imaps"}
    return services


@dataclass(frozen=True)
class Target:
    """One mail host as the suite reaches it, and the settings its checks read."""

    name: str
    inventory: str
    address: str
    tls_name: str
    ports: dict[str, int]
    size_limit: int
    ca_file: str
    domains: tuple[str, ...]
    accounts: Accounts = field(default_factory=Accounts)
    ipv6_address: str = ""
    #: the container's own address on the lab bridge (lab hosts only)
    lab_ip: str = ""
    #: the lab the host runs in (lab hosts only)
    lab_name: str = ""
    #: root of the mailboxes on the host (<root>/<domain>/<user>/Maildir), from the inventory
    mail_root: str = ""
    #: the services the host offers (offered_services: its tiers and the inventory's switches)
    services: frozenset[str] = frozenset({"smtp", "submission", "submissions", "imap", "imaps"})
    #: the fleet tiers the host plays (all four on a server of its own)
    tiers: frozenset[str] = frozenset(TIERS)
    #: where its mailboxes are read (None: on the host itself)
    mailboxes: Mailboxes | None = None
    quota_enabled: bool = True
    quota_check_enabled: bool = True
    quota_status_address: str = ""
    quota_status_port: int = 0
    #: SASL mechanisms offered after TLS, upper case as EHLO shows them
    auth_mechanisms: frozenset[str] = frozenset()
    #: catch-all domain -> the address that receives its unknown local parts
    catch_alls: dict[str, str] = field(default_factory=dict)
    #: the host's own name (Postfix's myhostname, the authserv-id of its results)
    hostname: str = ""
    #: the resolver that serves this inventory's zones: a lab's DNS (its published port on
    #: 127.0.0.1), or None for the system's
    resolver: tuple[str, int] | None = None
    #: rspamd as Postfix's milter, where it listens, and whether it enforces DMARC policies
    milter_enabled: bool = False
    milter_address: str = ""
    milter_port: int = 0
    dmarc_enforce: bool = False
    #: domain -> the selectors of its active DKIM keys that DNS publishes
    dkim_active: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: domain -> its published DMARC policy (mail_dns_dmarc_policy of the hosts serving it)
    dmarc_policies: dict[str, str] = field(default_factory=dict)
    #: alias address -> where it sends mail (mail_accounts_aliases)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def forwarding_to(self, address: str) -> str:
        """An alias of this host that forwards off the server to ``address`` ('' if none)."""
        domain = address.rsplit("@", 1)[-1].lower()
        if domain in self.domains:
            return ""
        return next((a for a, to in self.aliases.items() if address in to), "")

    def port(self, service: str) -> int:
        return self.ports[service]

    @property
    def imap(self) -> Mailboxes:
        """Where this host's mail is read over IMAPS."""
        return self.mailboxes or Mailboxes(
            self.name, self.address, self.port("imaps"), self.tls_name
        )

    @property
    def domains_without_catch_all(self) -> tuple[str, ...]:
        return tuple(d for d in self.domains if d not in self.catch_alls)


def _accounts(raw: dict[str, Any], data: dict[str, Any]) -> Accounts:
    aliases = {a["address"]: list(a.get("to") or []) for a in data.get("aliases") or []}
    quotas = {b["address"]: str(b.get("quota") or "") for b in data.get("mailboxes") or []}
    alias = str(raw.get("alias", ""))
    quota_mailbox = str(raw.get("quota_mailbox", ""))
    quota = quotas.get(quota_mailbox) or str(data.get("default_quota", "0"))
    return Accounts(
        mailbox=str(raw.get("mailbox", "")),
        password=str(raw.get("password", "")),
        other_mailbox=str(raw.get("other_mailbox", "")),
        other_password=str(raw.get("other_password", raw.get("password", ""))),
        alias=alias,
        alias_targets=tuple(aliases.get(alias, [])),
        quota_mailbox=quota_mailbox,
        quota_limit_bytes=quota_bytes(quota) if quota_mailbox else 0,
    )


def _ipv6_of(address: str) -> str:
    """An IPv6 address of a real server's name, or '' when it has none."""
    try:
        infos = socket.getaddrinfo(address, 25, socket.AF_INET6, socket.SOCK_STREAM)
    except (socket.gaierror, OSError):
        return ""
    return str(infos[0][4][0]) if infos else ""


def _reach(data: dict[str, Any]) -> tuple[str, dict[str, int]]:
    """The address and service ports a host is reached at: a lab host's published ports on
    loopback, or a real server's standard ports at its ansible_host."""
    lab_ports = {int(k): int(v) for k, v in (data.get("lab_ports") or {}).items()}
    if lab_ports:
        return "127.0.0.1", {svc: lab_ports.get(p, p) for svc, p in STANDARD_PORTS.items()}
    return str(data["ansible_host"]), dict(STANDARD_PORTS)


def target_of(name: str, inventory: str, data: dict[str, Any]) -> Target:
    """A Target from one host's resolved settings (harness/resolve.yml)."""
    tiers = frozenset(str(t) for t in data.get("tiers") or TIERS)
    services = offered_services(tiers, bool(data.get("submission")), bool(data.get("submissions")))
    address, ports = _reach(data)
    ipv6 = "" if data.get("lab_ports") else _ipv6_of(address)
    backend = data.get("backend") or {}
    mailboxes = None
    if backend.get("name") and backend["name"] != name:
        b_address, b_ports = _reach(backend)
        b_name = str(backend.get("lab_fqdn") or backend["ansible_host"])
        mailboxes = Mailboxes(str(backend["name"]), b_address, b_ports["imaps"], b_name)
    domains = data.get("domains") or []
    return Target(
        name=name,
        inventory=inventory,
        address=address,
        tls_name=str(data.get("lab_fqdn") or data.get("hostname") or name),
        ports=ports,
        size_limit=int(data["size_limit"]),
        ca_file=str(data.get("ca_file") or ""),
        domains=tuple(str(d["name"]) for d in domains),
        accounts=_accounts(data.get("verify") or {}, data),
        ipv6_address=ipv6,
        lab_ip=str(data.get("lab_ip") or ""),
        lab_name=str(data.get("lab_name") or ""),
        mail_root=str(data["mail_root"]),
        services=frozenset(services),
        tiers=tiers,
        mailboxes=mailboxes,
        quota_enabled=bool(data["quota"]),
        quota_check_enabled=bool(data["quota_check"]),
        quota_status_address=str(data["quota_status_address"]),
        quota_status_port=int(data["quota_status_port"]),
        auth_mechanisms=frozenset(str(m).upper() for m in data.get("auth_mechanisms") or []),
        catch_alls={str(d["name"]): str(d["catch_all"]) for d in domains if d.get("catch_all")},
        hostname=str(data.get("hostname") or name),
        resolver=("127.0.0.1", int(data["lab_dns"]["port"])) if data.get("lab_dns") else None,
        milter_enabled=bool(data.get("milter")),
        milter_address=str(data.get("milter_address") or ""),
        milter_port=int(data.get("milter_port") or 0),
        dmarc_enforce=bool(data.get("dmarc_enforce")),
        dkim_active={
            str(d["name"]): tuple(
                str(k["selector"])
                for k in data.get("dkim") or []
                if k["domain"] == d["name"] and k["state"] == "active"
            )
            for d in domains
        },
        dmarc_policies={
            str(d["name"]): str((data.get("dns") or {}).get("dmarc_policy") or "none")
            for d in domains
        },
        aliases={
            str(a["address"]): tuple(str(t) for t in a.get("to") or [])
            for a in data.get("aliases") or []
        },
    )


def load_targets(inventory: str, limit: str | None = None) -> list[Target]:
    """The hosts of group ``mail`` in ``inventory`` (narrowed by ``limit``); an inventory that
    does not parse, or leaves no host, is an InventoryError."""
    return [
        target_of(name, inventory, data)
        for name, data in resolve_hosts(inventory, limit=limit).items()
    ]
