"""The rotation steps as actions on an inventory: edit the keys file(s), converge the rspamd
role (it makes new keys and writes their public halves), and get DNS to serve the result —
a lab's DNS at once; a real domain's at the admin's DNS provider, which a step waits for.

Each step is safe to run again: publish with a future key already there does nothing new,
activate waits for DNS before it lets a key sign, revoke touches only expired keys.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.dkim.keysfile import KeysFile
from harness.dkim.plan import Change, plan_activate, plan_publish, plan_revoke
from harness.dns.query import Querier
from harness.dns.records import parse_tags
from harness.errors import DkimError
from harness.hosts import resolve_hosts
from harness.ui import step

__all__ = ["Rotation", "StepReport", "served_key"]


def served_key(resolver: tuple[str, int], domain: str, selector: str) -> str | None:
    """The ``p=`` DNS serves for the selector now ("" when revoked), None when no record."""
    answer = Querier(resolver).ask(f"{selector}._domainkey.{domain}", "TXT")
    for text in answer.texts():
        tags = parse_tags(text)
        if "p" in tags:
            return tags["p"].replace(" ", "")
    return None


@dataclass
class StepReport:
    """What one step did: the edits, the files, and how long it waited for DNS."""

    step: str
    domain: str
    changes: list[Change] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    waited_seconds: float = 0.0
    seconds: float = 0.0
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "domain": self.domain,
            "changes": [c.describe() for c in self.changes],
            "files": self.files,
            "waited_seconds": round(self.waited_seconds, 1),
            "seconds": round(self.seconds, 1),
            "note": self.note,
        }


@dataclass
class Rotation:
    """One domain's keys in ``files`` of ``inventory``; ``publish_dns`` makes DNS serve the
    inventory's zones (a lab's) or is None (the admin publishes them); ``converge`` applies
    the rspamd role."""

    inventory: str
    domain: str
    files: Sequence[KeysFile]
    resolver: tuple[str, int]
    converge: Callable[[], object]
    publish_dns: Callable[[], object] | None = None
    #: how long activate waits for DNS to serve a new key
    served_timeout: float = 600.0
    #: waits, in seconds (tests pass a recorder; the CLI shows a progress bar)
    sleep: Callable[[float], None] = time.sleep

    def domain_keys(self) -> list[dict[str, str]]:
        return self.files[0].domain_keys(self.domain)

    def _edit(self, report: StepReport, changes: list[Change]) -> None:
        report.changes = changes
        report.files = [str(f.path) for f in self.files]
        if not changes:
            return
        for f in self.files:
            f.apply(changes)
            f.save()
        self.converge()

    def _published(self, hosts: dict[str, dict[str, Any]]) -> dict[str, str]:
        """selector -> public half of the domain's keys, as the inventory resolves them."""
        halves: dict[str, str] = {}
        for host in hosts.values():
            for key in host.get("dkim") or []:
                if key["domain"] == self.domain:
                    halves[str(key["selector"])] = str(key["public_key"])
        return halves

    def ttl(self, hosts: dict[str, dict[str, Any]] | None = None) -> int:
        """The zones' TTL (the longest the hosts name)."""
        resolved = hosts if hosts is not None else resolve_hosts(self.inventory)
        ttls = {int(h["dns"]["ttl"]) for h in resolved.values()}
        return max(ttls) if ttls else 0

    def _serve(self, report: StepReport, what: str) -> None:
        """DNS serves the inventory's zones now (a lab), or the report says to publish them."""
        if self.publish_dns is not None:
            self.publish_dns()
        else:
            report.note = (
                f"publish {what} at your DNS provider (mailstack dns zone --domain {self.domain})"
            )

    def publish(self, selector: str | None = None, today: dt.date | None = None) -> StepReport:
        started = time.monotonic()
        report = StepReport("publish", self.domain)
        changes = plan_publish(
            self.domain_keys(), self.domain, today or dt.date.today(), selector=selector
        )
        self._edit(report, changes)
        self._serve(report, "the new record")
        if not changes:
            report.note = "a future key is there already: activate it next"
        report.seconds = time.monotonic() - started
        return report

    def activate(self) -> StepReport:
        """Wait until DNS serves every future key as made, then a TTL more (resolvers that
        cached "no such record" forget it), then let them sign."""
        started = time.monotonic()
        report = StepReport("activate", self.domain)
        changes = plan_activate(self.domain_keys(), self.domain)
        hosts = resolve_hosts(self.inventory)  # one Ansible run for the halves and the TTL
        halves = self._published(hosts)
        for change in changes:
            if change.state != "active":
                continue
            wanted = halves.get(change.selector)
            if not wanted:
                raise DkimError(
                    f"{self.domain} {change.selector} has no public half yet",
                    hint="converge (or run `mailstack dkim publish`) first: the role makes it",
                )
            report.waited_seconds += self._wait_served(change.selector, wanted)
        ttl = self.ttl(hosts)
        with step(f"wait one TTL ({ttl} s) past the first answer"):
            self.sleep(ttl)
        report.waited_seconds += ttl
        self._edit(report, changes)
        report.seconds = time.monotonic() - started
        return report

    def _wait_served(self, selector: str, wanted: str) -> float:
        started = time.monotonic()
        name = f"{selector}._domainkey.{self.domain}"
        with step(f"wait until {self.resolver[0]}:{self.resolver[1]} serves {name}"):
            while (served := served_key(self.resolver, self.domain, selector)) != wanted:
                if time.monotonic() - started > self.served_timeout:
                    raise DkimError(
                        f"after {self.served_timeout:.0f} s DNS serves "
                        f"{'no record' if served is None else 'another key'} at {name}",
                        hint="publish the zone's record (mailstack dns zone), then run again",
                    )
                self.sleep(min(5.0, self.served_timeout / 20))
        return time.monotonic() - started

    def revoke(self, selector: str | None = None) -> StepReport:
        started = time.monotonic()
        report = StepReport("revoke", self.domain)
        changes = plan_revoke(self.domain_keys(), self.domain, selector)
        self._edit(report, changes)
        if not changes:
            report.note = "no expired key to revoke"
        else:
            self._serve(report, "the revoked record (p= empty)")
        report.seconds = time.monotonic() - started
        return report
