"""Filters behind the rspamd role's DKIM keys: their checks (naming the entry at fault), the
keys to make and the host that makes each (across every host's keys), and the public halves
`mailstack dns zone` publishes."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

STATES = ("future", "active", "expired", "revoked")


def rspamd_dkim_errors(keys: Any, hosted: Any) -> list[str]:
    """Every problem of ``rspamd_dkim_keys``, each naming its entry."""
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    active: dict[tuple[str, str], int] = {}
    algorithms: dict[str, set[str]] = {}
    for i, key in enumerate(keys or []):
        where = f"rspamd_dkim_keys[{i}]"
        domain, selector = str(key.get("domain", "")), str(key.get("selector", ""))
        algorithm, state = str(key.get("algorithm") or "rsa"), str(key.get("state", ""))
        if domain not in (hosted or []):
            errors.append(f"{where}.domain: {domain!r} is not a domain any mail host serves")
        if (domain, selector) in seen:
            errors.append(
                f"{where}.selector: {selector!r} of {domain} is already "
                f"rspamd_dkim_keys[{seen[domain, selector]}]"
            )
        seen[domain, selector] = i
        if state == "active":
            if (domain, algorithm) in active:
                errors.append(
                    f"{where}.state: a second active {algorithm} key for {domain} (the first is "
                    f"rspamd_dkim_keys[{active[domain, algorithm]}]); make one expired"
                )
            active[domain, algorithm] = i
        if state != "revoked":
            algorithms.setdefault(domain, set()).add(algorithm)
    for domain, algos in algorithms.items():
        if algos == {"ed25519"}:
            errors.append(
                f"rspamd_dkim_keys: {domain} has ed25519 keys only; many verifiers lack ed25519, "
                "so publish and sign with an rsa key too"
            )
    return errors


def rspamd_dkim_key_host(domain: str, play_hosts: Any, hostvars: Any) -> str:
    """The host that generates ``domain``'s keys: the first (by name) serving the domain."""
    for host in sorted(play_hosts):
        names = [d.get("name") for d in hostvars[host].get("mail_accounts_domains") or []]
        if domain in names:
            return str(host)
    raise ValueError(f"no host of this play serves {domain}")


def rspamd_dkim_parent(domains: Any, hostname: str) -> str:
    """The domain of ``domains`` the host name lies under (the longest), '' when none or when
    the host name is itself one of them. Mail the host makes itself (bounces: From
    MAILER-DAEMON@<host name>) is signed with that domain's key, aligned under relaxed DMARC."""
    name = str(hostname).lower().rstrip(".")
    names = {str(d).lower().rstrip(".") for d in domains or []}
    if name in names:
        return ""
    parents = [d for d in names if name.endswith("." + d)]
    return max(parents, key=len) if parents else ""


def rspamd_dkim_to_generate(play_hosts: Any, hostvars: Any) -> list[dict[str, str]]:
    """The keys the play's hosts need made (no private_key given, not revoked), one entry per
    (domain, selector) across every host's rspamd_dkim_keys — hosts may list different keys
    (each its own domains) — each with the host that makes it."""
    wanted: dict[tuple[str, str], dict[str, str]] = {}
    for host in sorted(play_hosts):
        for key in hostvars[host].get("rspamd_dkim_keys") or []:
            if key.get("state") == "revoked" or key.get("private_key"):
                continue
            ident = (str(key["domain"]), str(key["selector"]))
            if ident not in wanted:
                wanted[ident] = {
                    "domain": ident[0],
                    "selector": ident[1],
                    "algorithm": str(key.get("algorithm") or "rsa"),
                    "host": rspamd_dkim_key_host(ident[0], play_hosts, hostvars),
                }
    return [wanted[k] for k in sorted(wanted)]


def rspamd_dkim_published(keys: Any, domains: Any, public_dir: str) -> list[dict[str, str]]:
    """The keys of ``domains`` as DNS publishes them: with the public half the role put in
    ``public_dir`` (a key not yet generated is left out: converge first), revoked ones with
    none."""
    published = []
    for key in keys or []:
        if key.get("domain") not in (domains or []):
            continue
        entry = {
            "domain": str(key["domain"]),
            "selector": str(key["selector"]),
            "state": str(key["state"]),
            "algorithm": str(key.get("algorithm") or "rsa"),
            "public_key": "",
        }
        if entry["state"] != "revoked":
            path = Path(public_dir) / entry["domain"] / f"{entry['selector']}.pub"
            if not path.is_file():
                continue
            entry["public_key"] = path.read_text().strip()
        published.append(entry)
    return published


def rspamd_arc_forwards(aliases: Any, domains: Any) -> list[str]:
    """What mail this host passes on to other servers is addressed to: each alias with a target
    outside the hosted ``domains`` (mail_accounts_domains), and "@<domain>" for a catch-all
    domain whose catch-all address lies outside them. Lower case, sorted: ARC seals only
    mail to these."""
    hosted = {str(d["name"]).lower() for d in domains or []}

    def external(address: object) -> bool:
        return str(address).lower().rpartition("@")[2] not in hosted

    found = {
        str(alias["address"]).lower()
        for alias in aliases or []
        if any(external(target) for target in alias.get("to") or [])
    }
    found |= {
        "@" + str(d["name"]).lower()
        for d in domains or []
        if d.get("catch_all") and external(d["catch_all"])
    }
    return sorted(found)


def rspamd_file_pair(
    name: str, prefix: str, folder: str, template: str = "", suffix: str = ""
) -> dict[str, str]:
    """A file the role writes: ``dest`` (<folder><name><suffix>) and the template ``src`` it
    is rendered from (<template>.j2, default <prefix><name>.j2)."""
    return {"src": f"{template or prefix + name}.j2", "dest": f"{folder}{name}{suffix}"}


def rspamd_networks(networks: Any) -> list[str]:
    """``rspamd_controller_trusted_networks`` in CIDR notation, without repeats, in order; an
    entry that is not an address or a network is an error naming it."""
    if not isinstance(networks, list):
        raise ValueError(f"rspamd_controller_trusted_networks must be a list, got {networks!r}")
    found = []
    for i, entry in enumerate(networks):
        try:
            found.append(str(ipaddress.ip_network(str(entry).strip(), strict=False)))
        except ValueError:
            raise ValueError(
                f"rspamd_controller_trusted_networks[{i}]: {entry!r} is not an address or a "
                "network (e.g. 192.0.2.10, 192.0.2.0/24, 2001:db8::/64)"
            ) from None
    return list(dict.fromkeys(found))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "rspamd_arc_forwards": rspamd_arc_forwards,
            "rspamd_file_pair": rspamd_file_pair,
            "rspamd_networks": rspamd_networks,
            "rspamd_dkim_errors": rspamd_dkim_errors,
            "rspamd_dkim_key_host": rspamd_dkim_key_host,
            "rspamd_dkim_parent": rspamd_dkim_parent,
            "rspamd_dkim_published": rspamd_dkim_published,
            "rspamd_dkim_to_generate": rspamd_dkim_to_generate,
        }
