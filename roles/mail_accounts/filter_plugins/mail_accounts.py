"""Filters behind the mail_accounts role: validation that names the field, and the derived views
(Dovecot passwd entries, Postfix lookup tables) the postfix and dovecot roles render."""

from __future__ import annotations

import hashlib
import re
from typing import Any

DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
LOCAL_PART = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
QUOTA = re.compile(r"^(0|[1-9][0-9]*[KMGT]?)$")
# The strong schemes Dovecot verifies, each with the crypt string it reads: a hash is accepted
# as "{SCHEME}<crypt>" or as a bare "<crypt>" (the scheme then follows from its prefix).
SCHEME_CRYPT = {
    "SHA512-CRYPT": re.compile(r"^\$6\$(rounds=[0-9]+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$"),
    "BLF-CRYPT": re.compile(r"^\$2[aby]\$[0-9]{2}\$[./0-9A-Za-z]{53}$"),
    "ARGON2I": re.compile(r"^\$argon2i\$v=[0-9]+\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[^$]+\$[^$]+$"),
    "ARGON2ID": re.compile(r"^\$argon2id\$v=[0-9]+\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[^$]+\$[^$]+$"),
}
_SCHEMED = re.compile(r"^\{([A-Z0-9-]+)\}(.*)$", re.DOTALL)


def hash_scheme(value: str) -> str | None:
    """The Dovecot scheme of a password hash, or None when Dovecot would not verify it."""
    prefixed = _SCHEMED.match(value)
    if prefixed:
        scheme, crypt = prefixed.groups()
        pattern = SCHEME_CRYPT.get(scheme)
        return scheme if pattern is not None and pattern.match(crypt) else None
    return next((s for s, pattern in SCHEME_CRYPT.items() if pattern.match(value)), None)


def _address_error(value: Any, where: str) -> str | None:
    if not isinstance(value, str) or value.count("@") != 1:
        return f"{where}: {value!r} is not an email address (local@domain)"
    local, domain = value.split("@")
    if value != value.lower():
        return f"{where}: {value!r} must be lower case"
    if not LOCAL_PART.match(local) or len(local) > 64:
        return f"{where}: {value!r} has an invalid local part {local!r}"
    if not DOMAIN.match(domain):
        return f"{where}: {value!r} has an invalid domain {domain!r}"
    return None


def _domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1]


def _as_dict(domains: Any, mailboxes: Any, aliases: Any) -> dict[str, list[Any]]:
    return {"domains": domains or [], "mailboxes": mailboxes or [], "aliases": aliases or []}


class _Checker:
    """Collects every problem of the accounts, each naming its variable and field."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.hosted: set[str] = set()
        #: hosted address -> the field that claimed it (as a mailbox or an alias)
        self.claimed: dict[str, str] = {}

    def address(self, value: Any, where: str) -> bool:
        problem = _address_error(value, where)
        if problem:
            self.errors.append(problem)
        return problem is None

    def hosted_address(self, value: Any, where: str) -> bool:
        if not self.address(value, where):
            return False
        if _domain_of(value) not in self.hosted:
            self.errors.append(
                f"{where}: {value!r} is in {_domain_of(value)!r}, which is not a hosted "
                f"domain (hosted: {', '.join(sorted(self.hosted)) or 'none'})"
            )
            return False
        return True

    def claim(self, value: Any, where: str) -> None:
        """A hosted address may be a mailbox or an alias, once."""
        if self.hosted_address(value, where):
            if value in self.claimed:
                self.errors.append(f"{where}: {value!r} is already {self.claimed[value]}")
            self.claimed[value] = where

    def domains(self, domains: list[Any]) -> None:
        for i, dom in enumerate(domains):
            name, where = dom.get("name"), f"mail_accounts_domains[{i}]"
            if not isinstance(name, str) or not DOMAIN.match(name):
                self.errors.append(f"{where}.name: {name!r} is not a lower-case domain name")
            elif name in self.hosted:
                self.errors.append(f"{where}.name: {name!r} is listed twice")
            self.hosted.add(name)
            if dom.get("catch_all"):
                self.address(dom["catch_all"], f"{where}.catch_all")
        if not self.hosted:
            self.errors.append("mail_accounts_domains: empty; name at least one hosted domain")

    def mailbox(self, box: Any, where: str) -> None:
        self.claim(box.get("address"), f"{where}.address")
        has_hash, has_plain = bool(box.get("password_hash")), bool(box.get("password"))
        if has_hash == has_plain:
            self.errors.append(f"{where}: set exactly one of password_hash and password")
        if has_hash and hash_scheme(str(box["password_hash"])) is None:
            self.errors.append(
                f"{where}.password_hash: not a hash Dovecot verifies (plaintext, a weak scheme, "
                "or a scheme that does not match its crypt string?); use the output of "
                "`doveadm pw -s SHA512-CRYPT` (or BLF-CRYPT, ARGON2I, ARGON2ID), or put the "
                "plaintext in a vault and set password instead"
            )
        quota = box.get("quota")
        if quota is not None and not QUOTA.match(str(quota)):
            self.errors.append(f"{where}.quota: {quota!r} is not a size like 500M, 2G or 0")
        for j, extra in enumerate(box.get("send_as") or []):
            self.hosted_address(extra, f"{where}.send_as[{j}]")

    def alias(self, alias: Any, where: str) -> None:
        self.claim(alias.get("address"), f"{where}.address")
        targets = alias.get("to") or []
        if not targets:
            self.errors.append(f"{where}.to: empty; name at least one address")
        for j, target in enumerate(targets):
            self.address(target, f"{where}.to[{j}]")


def mail_accounts_errors(domains: Any, mailboxes: Any = None, aliases: Any = None) -> list[str]:
    """Every problem in the accounts, each naming its variable and field
    (``mail_accounts_mailboxes[2].address``)."""
    accounts = _as_dict(domains, mailboxes, aliases)
    checker = _Checker()
    checker.domains(accounts["domains"])
    for i, box in enumerate(accounts["mailboxes"]):
        checker.mailbox(box, f"mail_accounts_mailboxes[{i}]")
    for i, alias in enumerate(accounts["aliases"]):
        checker.alias(alias, f"mail_accounts_aliases[{i}]")
    return checker.errors


def _scheme_prefixed(crypt: str) -> str:
    """``crypt`` with its {SCHEME} prefix (validated hashes only)."""
    if crypt.startswith("{"):
        return crypt
    scheme = hash_scheme(crypt)
    if scheme is None:
        raise ValueError("not a hash Dovecot verifies (validate the accounts first)")
    return "{" + scheme + "}" + crypt


def _hash_password(password: str, address: str, seed: str) -> str:
    from passlib.hash import sha512_crypt  # noqa: PLC0415 -- only needed for vault-held passwords

    salt = hashlib.sha256(f"{seed}:{address}".encode()).hexdigest()[:16]
    # 5000 rounds: the glibc default that `doveadm pw -s SHA512-CRYPT` also produces.
    return "{SHA512-CRYPT}" + str(sha512_crypt.using(salt=salt, rounds=5000).hash(password))


def mail_accounts_users(mailboxes: Any, default_quota: str, seed: str) -> list[dict[str, str]]:
    """Mailboxes as {user, domain, local, hash, quota}, hashes with a {SCHEME} prefix."""
    users = []
    for box in mailboxes or []:
        address = box["address"]
        if box.get("password_hash"):
            crypt = _scheme_prefixed(box["password_hash"])
        else:
            crypt = _hash_password(box["password"], address, seed)
        local, domain = address.split("@")
        quota = str(box.get("quota") or default_quota)
        users.append(
            {"user": address, "local": local, "domain": domain, "hash": crypt, "quota": quota}
        )
    return users


def mail_accounts_postfix_tables(
    domains: Any, mailboxes: Any = None, aliases: Any = None
) -> dict[str, list[list[str]]]:
    """Postfix lookup tables as [key, value] rows: domains, mailboxes, aliases, sender logins."""
    accounts = _as_dict(domains, mailboxes, aliases)
    boxes = [b["address"] for b in accounts["mailboxes"]]
    rows: list[list[str]] = []
    # A catch-all is a wildcard in virtual_alias_maps, which is read before mailboxes; every
    # mailbox maps to itself first so the wildcard takes only unknown local parts.
    catch_alls = [d for d in accounts["domains"] if d.get("catch_all")]
    if catch_alls:
        rows += [[b, b] for b in boxes]
    rows += [[a["address"], ", ".join(a["to"])] for a in accounts["aliases"]]
    rows += [["@" + d["name"], d["catch_all"]] for d in catch_alls]
    owners: dict[str, list[str]] = {}
    for box in accounts["mailboxes"]:
        for sender in [box["address"], *(box.get("send_as") or [])]:
            owners.setdefault(sender, []).append(box["address"])
    return {
        "domains": [[d["name"], "OK"] for d in accounts["domains"]],
        "mailboxes": [[b, f"{_domain_of(b)}/{b.split('@')[0]}/"] for b in boxes],
        "aliases": rows,
        "senders": [[s, ", ".join(logins)] for s, logins in owners.items()],
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "mail_accounts_errors": mail_accounts_errors,
            "mail_accounts_users": mail_accounts_users,
            "mail_accounts_postfix_tables": mail_accounts_postfix_tables,
            "mail_accounts_hash_scheme": hash_scheme,
        }
