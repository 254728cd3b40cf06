"""check_dns against a real authoritative DNS server on 127.0.0.1 (UDP and TCP), serving the
generated zone files, as made and with mistakes put in."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest

from harness.dns import Record, Zone, build_zones
from harness.dns.check import Finding, check_dns
from harness.dns.records import txt_rdata
from harness.errors import DnsError
from tests.unit.test_dns_zone import SERIAL, resolved_hosts, rsa_key

Address = tuple[str, int]


class ZoneServer:
    """Answers from dnspython zones like an authoritative server: AA, NXDOMAIN, REFUSED for
    names outside its zones; UDP answers too big for the client are truncated (TC)."""

    def __init__(self, zones: list[dns.zone.Zone], *, truncate_udp: bool = False) -> None:
        self.zones = zones
        self.truncate_udp = truncate_udp
        self.questions: list[tuple[str, str, str]] = []

    def answer(self, wire: bytes, *, udp: bool) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        rtype = dns.rdatatype.to_text(question.rdtype)
        self.questions.append((question.name.to_text(), rtype, "udp" if udp else "tcp"))
        holders = [z for z in self.zones if question.name.is_subdomain(z.origin)]
        if not holders:
            response.set_rcode(dns.rcode.REFUSED)
        else:
            zone = max(holders, key=lambda z: len(z.origin))
            node = zone.get_node(question.name)
            if node is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                found = node.get_rdataset(dns.rdataclass.IN, question.rdtype)
                if found is not None:
                    rrset = response.find_rrset(
                        response.answer,
                        question.name,
                        dns.rdataclass.IN,
                        question.rdtype,
                        create=True,
                    )
                    rrset.update(found)
        try:
            if udp and self.truncate_udp:
                raise dns.exception.TooBig
            return response.to_wire(max_size=query.payload if udp and query.edns >= 0 else 0)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.AA | dns.flags.TC
            return truncated.to_wire()


@contextmanager
def serving(server: ZoneServer) -> Iterator[Address]:
    """Run ``server`` on 127.0.0.1, UDP and TCP on one port, in threads."""

    class Udp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            sock.sendto(server.answer(data, udp=True), self.client_address)

    class Tcp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            while header := self.request.recv(2):
                (length,) = struct.unpack("!H", header)
                data = b""
                while len(data) < length:
                    data += self.request.recv(length - len(data))
                reply = server.answer(data, udp=False)
                self.request.sendall(struct.pack("!H", len(reply)) + reply)

    tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tcp)
    tcp.daemon_threads = True
    port = tcp.server_address[1]
    udp = socketserver.ThreadingUDPServer(("127.0.0.1", port), Udp)
    udp.daemon_threads = True
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for s in (tcp, udp)
    ]
    for thread in threads:
        thread.start()
    try:
        yield ("127.0.0.1", port)
    finally:
        for s in (tcp, udp):
            s.shutdown()
            s.server_close()


def _load(text: str) -> dns.zone.Zone:
    return dns.zone.from_text(text, relativize=False)


def _holding(origin: str, records: list[Record]) -> dns.zone.Zone:
    """A zone of someone else's (a provider's) serving ``records``."""
    lines = [
        f"$ORIGIN {origin}",
        f"@ 60 IN SOA ns.{origin} hostmaster.{origin} 1 3600 900 1209600 60",
        f"@ 60 IN NS ns.{origin}",
        *(r.line() for r in records),
    ]
    return _load("\n".join(lines) + "\n")


def _provider(spf: str = "v=spf1 ip4:203.0.113.0/24 -all") -> dns.zone.Zone:
    return _holding("provider.test.", [Record("_spf.provider.test.", "TXT", spf, 60)])


def _world(
    zones: list[Zone], edit: Callable[[str, str], str] = lambda _o, t: t
) -> list[dns.zone.Zone]:
    """The zones as published (after ``edit(origin, text)``), plus what others publish:
    the IPv6 PTR and the provider's SPF include."""
    served = [_load(edit(z.origin, z.text())) for z in zones]
    ipv6_ptrs = [r for z in zones for r in z.elsewhere if r.name.endswith(".ip6.arpa.")]
    served.append(_holding("8.b.d.0.1.0.0.2.ip6.arpa.", list(dict.fromkeys(ipv6_ptrs))))
    served.append(_provider())
    return served


@pytest.fixture(scope="module")
def zones() -> list[Zone]:
    return build_zones(resolved_hosts(), serial=SERIAL, reverse=True)


def _check(zones: list[Zone], world: list[dns.zone.Zone], **server: Any) -> list[Finding]:
    with serving(ZoneServer(world, **server)) as address:
        return check_dns(zones, address)


def test_zones_served_as_made_have_no_findings(zones: list[Zone]) -> None:
    assert _check(zones, _world(zones)) == []


def test_truncated_udp_answers_are_read_over_tcp(zones: list[Zone]) -> None:
    server = ZoneServer(_world(zones), truncate_udp=True)
    with serving(server) as address:
        assert check_dns(zones, address) == []
    assert {proto for _, _, proto in server.questions} == {"udp", "tcp"}


def _replace_line(text: str, start: str, new: str | None) -> str:
    lines = text.splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.startswith(start)]
    if new is None:
        del lines[index]
    else:
        lines[index] = new
    return "\n".join(lines) + "\n"


def _mistakes(origin: str, text: str) -> str:
    if origin == "example.test.":
        text = _replace_line(text, "s202611-rsa._domainkey ", None)
        weak = f"v=DKIM1; k=rsa; p={rsa_key('weak', 1024)}"
        text = _replace_line(
            text, "s202705-rsa._domainkey ", f"s202705-rsa._domainkey 60 IN TXT {txt_rdata(weak)}"
        )
        text = text.replace("MX    20 mx2.example.test.", "MX    30 mx2.example.test.")
        text += '@ 60 IN TXT "v=spf1 a -all"\n'
    if origin == "peer.test.":
        text = text.replace("p=quarantine", "p=bogus")
    if origin == "2.0.192.in-addr.arpa.":
        text = text.replace("mx2.example.test.", "mx9.example.test.")
    return text


def _about(findings: list[Finding], name: str, rtype: str) -> list[tuple[str, str]]:
    return [(f.severity, f.message) for f in findings if (f.name, f.rtype) == (name, rtype)]


def test_mistakes_in_the_served_zones_are_found(zones: list[Zone]) -> None:
    findings = _check(zones, _world(zones, _mistakes))
    dkim = _about(findings, "s202611-rsa._domainkey.example.test.", "TXT")
    assert dkim == [("error", "no v=dkim1 record is served (expected one from the inventory)")]
    weak = _about(findings, "s202705-rsa._domainkey.example.test.", "TXT")
    assert ("error", "another v=dkim1 record is served (expected one from the inventory)") in weak
    assert any(s == "error" and "has 1024 bits, fewer than 2048" in m for s, m in weak)
    mx = _about(findings, "example.test.", "MX")
    assert mx == [
        ("error", "not served: 20 mx2.example.test."),
        ("warning", "served but not made from the inventory: 30 mx2.example.test."),
    ]
    spf = _about(findings, "example.test.", "TXT")
    assert spf == [("error", "2 v=spf1 records at one name: there must be exactly one")]
    dmarc = _about(findings, "_dmarc.peer.test.", "TXT")
    assert (
        "error",
        "the DMARC record is invalid: p='bogus' is not none, quarantine or reject",
    ) in dmarc
    ptr = _about(findings, "20.2.0.192.in-addr.arpa.", "PTR")
    assert ptr[:2] == [
        ("error", "not served: mx2.example.test."),
        ("warning", "served but not made from the inventory: mx9.example.test."),
    ]
    assert "forward-confirmed reverse DNS fails: mx9.example.test. A is NXDOMAIN" in ptr[2][1]
    wrong = next(f for f in findings if f.name == "example.test." and f.rtype == "MX")
    assert wrong.expected == "10 mx1.example.test. | 20 mx2.example.test."
    assert wrong.served == "10 mx1.example.test. | 30 mx2.example.test."
    flagged = {(f.name, f.rtype) for f in findings}
    assert flagged == {
        ("s202611-rsa._domainkey.example.test.", "TXT"),
        ("s202705-rsa._domainkey.example.test.", "TXT"),
        ("example.test.", "MX"),
        ("example.test.", "TXT"),
        ("_dmarc.peer.test.", "TXT"),
        ("20.2.0.192.in-addr.arpa.", "PTR"),
    }


def test_spf_lookups_are_counted_through_includes(zones: list[Zone]) -> None:
    nested = [f"include:{c}.provider.test" for c in "abcdefghij"]
    leaves = [
        Record(f"{c}.provider.test.", "TXT", "v=spf1 ip4:203.0.113.1 -all", 60)
        for c in "abcdefghij"
    ]
    provider = _holding(
        "provider.test.",
        [Record("_spf.provider.test.", "TXT", " ".join(["v=spf1", *nested, "-all"]), 60), *leaves],
    )
    world = [w for w in _world(zones) if w.origin.to_text() != "provider.test."] + [provider]
    findings = _check(zones, world)
    spf = {f.name for f in findings if "needs 11 DNS lookups" in f.message}
    assert spf == {"example.test.", "catchall.example.test.", "peer.test."}
    assert all(f.severity == "error" for f in findings)


def test_an_include_nobody_serves_is_a_warning(zones: list[Zone]) -> None:
    world = [w for w in _world(zones) if w.origin.to_text() != "provider.test."]
    findings = _check(zones, world)
    assert {f.severity for f in findings} == {"warning"}
    assert all("include:_spf.provider.test serves REFUSED" in f.message for f in findings)


def test_a_resolver_that_does_not_answer_is_one_error(zones: list[Zone]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        with pytest.raises(DnsError, match=r"the resolver 127\.0\.0\.1:\d+ does not answer"):
            check_dns(zones, silent.getsockname(), timeout=0.2)


def test_a_higher_ttl_than_configured_is_a_warning(zones: list[Zone]) -> None:
    def longer(origin: str, text: str) -> str:
        if origin != "example.test.":
            return text
        return text.replace(" 60 IN A     192.0.2.10", " 3600 IN A     192.0.2.10")

    findings = _check(zones, _world(zones, longer))
    assert [(f.severity, f.name, f.rtype, f.message) for f in findings] == [
        ("warning", "mx1.example.test.", "A", "served with TTL 3600, more than 60")
    ]


def test_a_name_server_that_refuses_the_zone(zones: list[Zone]) -> None:
    findings = _check(zones, [_provider()])
    soa = [f for f in findings if f.rtype == "SOA"]
    assert {f.name for f in soa} == {z.origin for z in zones}
    assert all(f.message == "the resolver answered REFUSED" for f in soa)


def test_finding_as_json() -> None:
    finding = Finding("error", "x.test.", "MX", "10 mx.x.test.", "NXDOMAIN", "not served")
    assert finding.to_json() == {
        "severity": "error",
        "name": "x.test.",
        "rtype": "MX",
        "expected": "10 mx.x.test.",
        "served": "NXDOMAIN",
        "message": "not served",
    }
    assert dns.name.from_text("x.test.").is_subdomain(dns.name.from_text("test."))
