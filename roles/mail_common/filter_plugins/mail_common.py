"""Filters every mail role shares: read the files a role writes in one round trip, and tell
which of them differ from what the role would write; and the fleet a host belongs to (its
tiers, the other hosts' addresses), read from the inventory's groups."""

from __future__ import annotations

import hashlib
from typing import Any

#: The mode, owner and group every rendered configuration file gets unless a task says else.
_DEFAULT_ATTRS = "644:root:root"


#: Prints "<path> <mode>:<owner>:<group> <sha1 of content>" for each argument that is a file.
_DIGESTS = (
    'for f in "$@"; do [ -f "$f" ] || continue; '
    'printf \'%s %s %s\\n\' "$f" "$(stat -c \'%a:%U:%G\' "$f")" '
    '"$(sha1sum < "$f" | cut -d\' \' -f1)"; done'
)


def mail_common_digest_argv(paths: Any) -> list[str]:
    """The command (argv, no shell quoting to get wrong) that prints each of ``paths`` as it
    is on the host: "<path> <mode>:<owner>:<group> <sha1>"; a missing file prints nothing, so
    it differs."""
    return ["sh", "-c", _DIGESTS, "sh", *(str(p) for p in paths)]


def mail_common_file_differs(
    on_host: Any, path: str, content: str, attrs: str = _DEFAULT_ATTRS
) -> bool:
    """Whether ``path`` on the host (``on_host``: the digest command's output lines) lacks
    ``content`` with mode, owner and group ``attrs`` ("644:root:root")."""
    digest = hashlib.sha1(content.encode(), usedforsecurity=False).hexdigest()
    return f"{path} {attrs} {digest}" not in set(on_host or [])


#: The tiers of a fleet, each an inventory group. A host in none of these groups plays all of
#: them: the single-server layout needs no groups at all.
TIERS = ("mx", "mailbox", "submission", "outbound")
#: The tiers Postfix (and the rspamd milter beside it) serves.
POSTFIX_TIERS = frozenset({"mx", "submission", "outbound"})


def mail_common_tiers(group_names: Any) -> list[str]:
    """The tiers of a host in ``group_names`` (its inventory groups): those it is a member
    of, or all of them when it is in none."""
    mine = [t for t in TIERS if t in set(group_names or [])]
    return mine or list(TIERS)


def mail_common_fleet_hosts(groups: Any) -> list[str]:
    """The hosts of the inventory's tier groups, sorted ([] when the inventory has none: every
    mail host then stands alone)."""
    return sorted({h for t in TIERS for h in (groups or {}).get(t) or []})


def mail_common_tier_hosts(hosts: Any, hostvars: Any, tiers: Any) -> list[str]:
    """Those of ``hosts`` that play any of ``tiers`` (read from their inventory groups), in
    order: the hosts of a play that run Postfix, say, when the play spans the whole fleet."""
    wanted = set(tiers or [])
    return [
        h for h in hosts or [] if wanted & set(mail_common_tiers(hostvars[h].get("group_names")))
    ]


def mail_common_fleet_address(host: str, hostvars: Any) -> str:
    """The address other fleet hosts reach ``host`` at: its mail_common_fleet_address, else
    its public mail_dns_ipv4, else ansible_host, else its inventory name."""
    values = hostvars[host]
    for name in ("mail_common_fleet_address", "mail_dns_ipv4", "ansible_host"):
        value = str(values.get(name) or "").strip()
        if value:
            return value
    return str(host)


def mail_common_fleet_addresses(hosts: Any, hostvars: Any) -> list[str]:
    """The fleet addresses of ``hosts``, without repeats, in order."""
    return list(dict.fromkeys(mail_common_fleet_address(h, hostvars) for h in hosts or []))


def mail_common_cidr(address: str) -> str:
    """One address as a one-host network in Postfix's notation (IPv6 in brackets)."""
    return f"[{address}]/128" if ":" in address else f"{address}/32"


def mail_common_inet(address: str, port: Any) -> str:
    """``inet:address:port`` as Postfix names a TCP service (IPv6 in brackets)."""
    host = f"[{address}]" if ":" in address else address
    return f"inet:{host}:{port}"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "mail_common_digest_argv": mail_common_digest_argv,
            "mail_common_file_differs": mail_common_file_differs,
            "mail_common_tiers": mail_common_tiers,
            "mail_common_fleet_hosts": mail_common_fleet_hosts,
            "mail_common_tier_hosts": mail_common_tier_hosts,
            "mail_common_fleet_address": mail_common_fleet_address,
            "mail_common_fleet_addresses": mail_common_fleet_addresses,
            "mail_common_cidr": mail_common_cidr,
            "mail_common_inet": mail_common_inet,
        }
