"""The preflight's DNS rules against a real authoritative server on 127.0.0.1 serving the
zones made from the inventory, as made and broken the ways admins break them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.dns import Zone, build_zones
from harness.dns.query import Querier
from harness.dns.settings import MailHost, parse_host
from harness.preflight.domain import check_domain, check_hosts
from harness.preflight.rules import Finding, Status
from tests.unit.test_dns_check import ZoneServer, _world, serving
from tests.unit.test_dns_zone import SERIAL, resolved_hosts

DOMAIN = "example.test"


def break_zones(domain: str, ipv4: str) -> Callable[[str, str], str]:
    """Zone-file edits: drop ``domain``'s DMARC record, publish its DKIM keys as one string
    cut at 255 characters (an unsplit paste), drop the PTR of ``ipv4``."""
    last_octet = ipv4.rsplit(".", 1)[1]

    def edit(origin: str, text: str) -> str:
        lines = []
        for line in text.splitlines():
            owner = line.split(" ", 1)[0]
            ours = origin == f"{domain}."
            if ours and owner == "_dmarc":
                continue
            if ours and "._domainkey" in owner and '" "' in line:
                lines.append(line.split('" "', 1)[0] + '"')
                continue
            if origin.endswith("in-addr.arpa.") and owner == last_octet and " PTR " in line:
                continue
            lines.append(line)
        return "\n".join(lines) + "\n"

    return edit


@pytest.fixture(scope="module")
def zones() -> list[Zone]:
    return build_zones(resolved_hosts(), serial=SERIAL, reverse=True)


@pytest.fixture(scope="module")
def hosts() -> list[MailHost]:
    return [parse_host(name, data) for name, data in resolved_hosts().items()]


def _checked(
    zones: list[Zone], hosts: list[MailHost], edit: Callable[[str, str], str] | None = None
) -> dict[str, list[Finding]]:
    world = _world(zones, edit) if edit else _world(zones)
    with serving(ZoneServer(world)) as address:
        querier = Querier(address)
        found = check_domain(DOMAIN, DOMAIN, ["s202611-rsa", "s202611-ed"], querier)
        found += check_hosts(hosts, querier)
    by_rule: dict[str, list[Finding]] = {}
    for f in found:
        by_rule.setdefault(f.rule.id, []).append(f)
    return by_rule


def test_the_zones_as_made_pass_every_dns_rule(zones: list[Zone], hosts: list[MailHost]) -> None:
    found = _checked(zones, hosts)
    assert set(found) == {
        *("spf.record", "dkim.key", "dmarc.record", "dmarc.rua", "dns.txt-strings"),
        *("rdns.fcrdns", "helo.name"),
    }
    failed = [f for fs in found.values() for f in fs if f.status is not Status.PASS]
    assert failed == []
    assert len(found["dkim.key"]) == 2  # each active selector
    assert "2048-bit RSA" in found["dkim.key"][0].evidence
    assert len(found["rdns.fcrdns"]) == 3  # mx1's IPv4 and IPv6, mx2's IPv4


def test_each_mistake_fails_its_rule(zones: list[Zone], hosts: list[MailHost]) -> None:
    found = _checked(zones, hosts, break_zones(DOMAIN, hosts[0].ipv4))
    status = {rule: [f.status for f in fs] for rule, fs in found.items()}
    assert status["dmarc.record"] == [Status.FAIL]
    assert status["dmarc.rua"] == [Status.NOT_APPLICABLE]
    assert status["dkim.key"][0] is Status.FAIL  # the RSA key, cut short
    assert "does not parse" in found["dkim.key"][0].evidence
    assert status["dns.txt-strings"] == [Status.FAIL]
    assert "cut at 255" in found["dns.txt-strings"][0].evidence
    ptr = [f for f in found["rdns.fcrdns"] if hosts[0].ipv4 in f.evidence]
    assert [f.status for f in ptr] == [Status.FAIL]
    assert "no PTR" in ptr[0].evidence
    assert status["spf.record"] == [Status.PASS]
    assert all(f.blocks for f in (found["dmarc.record"][0], ptr[0], found["dkim.key"][0]))


def test_a_domain_without_a_key_in_the_inventory_is_blocked(zones: list[Zone]) -> None:
    with serving(ZoneServer(_world(zones))) as address:
        found = check_domain("peer.test", "peer.test", [], Querier(address))
    dkim = [f for f in found if f.rule.id == "dkim.key"]
    assert [f.status for f in dkim] == [Status.FAIL]
    assert "rspamd_dkim_keys" in dkim[0].evidence
