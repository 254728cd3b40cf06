"""DNS serves what the inventory says for this host's domains and name: MX and A records, SPF
for the domains and the HELO name, DMARC, MTA-STS and TLS-RPT records, DKIM keys, and a PTR
for the host's address that points back to its name (what `mailstack dns check` checks).
Against a lab, its own DNS answers; otherwise the system's resolver."""

from __future__ import annotations

import functools

import pytest

from harness.dns.check import Finding, check_dns
from harness.dns.zone import build_zones, utc_serial
from harness.hosts import resolve_hosts
from harness.verify.targets import Target


@functools.cache
def _findings(inventory: str, resolver: tuple[str, int] | None) -> tuple[Finding, ...]:
    """All hosts' zones (a --limit must not shrink the SPF or MX sets), checked once."""
    zones = build_zones(resolve_hosts(inventory), serial=utc_serial(), reverse=resolver is not None)
    return tuple(check_dns(zones, resolver))


def _concerns(finding: Finding, target: Target) -> bool:
    name = finding.name.rstrip(".").lower()
    if name == target.hostname.lower() or finding.expected.rstrip(".") == target.hostname:
        return True
    return any(name == d or name.endswith("." + d) for d in target.domains)


def test_dns_serves_the_records_the_inventory_makes(target: Target) -> None:
    findings = _findings(target.inventory, target.resolver)
    errors = [f for f in findings if f.severity == "error" and _concerns(f, target)]
    if not findings and not target.domains:
        pytest.skip("the host serves no domain")
    assert errors == [], "; ".join(
        f"{f.name} {f.rtype}: {f.message} (expected {f.expected!r}, served {f.served!r})"
        for f in errors
    )
