"""What each rotation step changes in a domain's ``rspamd_dkim_keys``, as pure functions.

The procedure (RFC 6376 3.6.1; M3AAWG's key rotation practice):

1. **publish** — a new key, ``future``: generated, published in DNS, not signing;
2. **activate** — once DNS serves it (and a TTL has passed): the new key ``active``, the key
   it replaces ``expired`` (still published, so mail in flight verifies);
3. **revoke** — later: the expired key ``revoked`` (published with an empty ``p=``, the
   private half removed), so a stolen copy signs nothing any receiver accepts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import DkimError

__all__ = ["Change", "new_selector", "plan_activate", "plan_publish", "plan_revoke"]

Key = Mapping[str, Any]


@dataclass(frozen=True)
class Change:
    """One edit of the key list: a key added (``add``) or a key's state set."""

    domain: str
    selector: str
    state: str
    algorithm: str = "rsa"
    add: bool = False

    def describe(self) -> str:
        verb = "add" if self.add else "set"
        return f"{verb} {self.domain} {self.selector} ({self.algorithm}) {self.state}"


def _mine(keys: Sequence[Key], domain: str) -> list[Key]:
    return [k for k in keys if str(k.get("domain")) == domain]


def _algorithm(key: Key) -> str:
    return str(key.get("algorithm") or "rsa")


def new_selector(keys: Sequence[Key], domain: str, algorithm: str, today: dt.date) -> str:
    """A selector named by date and type that the domain has not used: s202612-rsa, or with
    the day (s20261203-rsa), or the minute, when a rotation already took the month."""
    taken = {str(k.get("selector")) for k in _mine(keys, domain)}
    now = dt.datetime.now(dt.UTC)
    for stamp in (f"{today:%Y%m}", f"{today:%Y%m%d}", f"{today:%Y%m%d}{now:%H%M}"):
        name = f"s{stamp}-{algorithm}"
        if name not in taken:
            return name
    raise DkimError(f"{domain}: selectors for {today} are all taken; pass --selector")


def plan_publish(
    keys: Sequence[Key],
    domain: str,
    today: dt.date,
    *,
    selector: str | None = None,
    algorithm: str | None = None,
) -> list[Change]:
    """Step 1: a new ``future`` key, of the algorithm of the key it will replace. Nothing
    when a future key is already there (the step was taken: go on with activate)."""
    mine = _mine(keys, domain)
    if not mine:
        raise DkimError(
            f"{domain} has no key in rspamd_dkim_keys to rotate from",
            hint="list its first key (state: active) in the inventory and converge",
        )
    future = [k for k in mine if k.get("state") == "future"]
    if future:
        return []
    active = [k for k in mine if k.get("state") == "active"]
    algo = algorithm or (_algorithm(active[0]) if active else "rsa")
    name = selector or new_selector(keys, domain, algo, today)
    if any(str(k.get("selector")) == name for k in mine):
        raise DkimError(
            f"--selector {name}: {domain} already has a key with that selector",
            hint="a selector is never reused: receivers may cache the old record",
        )
    return [Change(domain, name, "future", algo, add=True)]


def plan_activate(keys: Sequence[Key], domain: str) -> list[Change]:
    """Step 2: each future key active; the active key of the same algorithm expired."""
    mine = _mine(keys, domain)
    future = [k for k in mine if k.get("state") == "future"]
    if not future:
        raise DkimError(
            f"{domain} has no future key to activate",
            hint=f"run `mailstack dkim publish --domain {domain}` first",
        )
    changes = []
    for key in future:
        algo = _algorithm(key)
        changes += [
            Change(domain, str(old["selector"]), "expired", algo)
            for old in mine
            if old.get("state") == "active" and _algorithm(old) == algo
        ]
        changes.append(Change(domain, str(key["selector"]), "active", algo))
    return changes


def plan_revoke(keys: Sequence[Key], domain: str, selector: str | None = None) -> list[Change]:
    """Step 3: the expired keys (or the one named) revoked. Never an active or future key:
    mail signed with it would fail at once."""
    mine = _mine(keys, domain)
    if selector:
        named = [k for k in mine if str(k.get("selector")) == selector]
        if not named:
            raise DkimError(f"--selector {selector}: {domain} has no such key")
        if named[0].get("state") == "revoked":
            return []
        if named[0].get("state") != "expired":
            raise DkimError(
                f"--selector {selector} of {domain} is {named[0].get('state')}, not expired",
                hint="only a key that no longer signs may be revoked: activate its successor",
            )
        candidates = named
    else:
        candidates = [k for k in mine if k.get("state") == "expired"]
    return [Change(domain, str(k["selector"]), "revoked", _algorithm(k)) for k in candidates]
