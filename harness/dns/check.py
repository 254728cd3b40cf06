"""``check_dns``: what a resolver serves, compared with the zones, plus the rules receivers apply.

Every record of the zones (and every record they need from other zones: PTRs, host names
elsewhere) is asked for once. A, AAAA, MX, NS and PTR rrsets must equal the expected ones
(extra records are warnings); TXT records are compared joined, per kind (v=spf1, v=DMARC1,
...), so unrelated TXT records at a name do not count. SOA: the same primary and mailbox (the
serial is the publisher's). On top: one SPF record with at most 10 lookups counted through its
includes, a DMARC record that parses, published DKIM keys that parse (RSA of 2048 bits or
more), and forward-confirmed reverse DNS for every PTR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import dns.rdata
import dns.rdataclass
import dns.rdtypes.ANY.SOA

from harness.dns.policy import (
    Problem,
    dkim_problems,
    dmarc_problems,
    fcrdns_problems,
    spf_problems,
)
from harness.dns.query import Answer, Querier, system_resolver
from harness.dns.records import Record, parse_tags
from harness.dns.zone import Zone

__all__ = ["Finding", "Severity", "check_dns"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem with one record: what the zones say, what DNS serves, and why it matters."""

    severity: Severity
    name: str
    rtype: str
    expected: str
    served: str
    message: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def check_dns(
    zones: Sequence[Zone], resolver: tuple[str, int] | None = None, *, timeout: float = 2.0
) -> list[Finding]:
    """Findings for ``zones`` as ``resolver`` (ip, port) serves them; the system's resolver
    (/etc/resolv.conf, port 53) when none is given. No finding: all is as expected."""
    querier = Querier(resolver or system_resolver(), timeout)
    findings: list[Finding] = []
    for records in _expected(zones).values():
        findings += _check(records, querier.ask(records[0].name, records[0].rtype), querier)
    return findings


def _expected(zones: Sequence[Zone]) -> dict[tuple[str, str], list[Record]]:
    groups: dict[tuple[str, str], list[Record]] = {}
    for zone in zones:
        for record in (*zone.records, *zone.elsewhere):
            group = groups.setdefault((record.name, record.rtype), [])
            if record not in group:
                group.append(record)
    return groups


def _shown(record: Record) -> str:
    return record.value if record.rtype == "TXT" else record.rdata()


def _check(records: list[Record], answer: Answer, querier: Querier) -> list[Finding]:
    first = records[0]
    expected = " | ".join(_shown(r) for r in records)

    def finding(problem: Problem, wanted: str = expected) -> Finding:
        severity: Severity = "error" if problem[0] == "error" else "warning"
        return Finding(severity, first.name, first.rtype, wanted, answer.show(), problem[1])

    if answer.status not in ("NOERROR", "NXDOMAIN"):
        return [finding(("error", f"the resolver answered {answer.status}"))]
    problems: list[Problem] = []
    if answer.ttl is not None and answer.ttl > first.ttl:
        problems.append(("warning", f"served with TTL {answer.ttl}, more than {first.ttl}"))
    if first.rtype == "SOA":
        problems += _soa(first, answer)
    elif first.rtype == "TXT":
        return [finding(p, w) for p, w in _txt(records, answer, querier)] + [
            finding(p) for p in problems
        ]
    else:
        problems += _rrset(records, answer)
        if first.rtype == "PTR" and answer.rdatas:
            problems += fcrdns_problems(first.name, answer.texts(), querier)
    return [finding(p) for p in problems]


def _soa(record: Record, answer: Answer) -> list[Problem]:
    if not answer.rdatas:
        return [("error", "no SOA: the zone is not served by this resolver")]
    want = dns.rdata.from_text(dns.rdataclass.IN, "SOA", record.rdata())
    got = answer.rdatas[0]
    soa = dns.rdtypes.ANY.SOA.SOA
    if not (isinstance(want, soa) and isinstance(got, soa)):
        return [("error", "the SOA served is not an SOA")]
    if (got.mname, got.rname) != (want.mname, want.rname):
        return [("error", "the SOA names another primary name server or mailbox")]
    return []


def _rrset(records: list[Record], answer: Answer) -> list[Problem]:
    want = {dns.rdata.from_text(dns.rdataclass.IN, r.rtype, r.rdata()) for r in records}
    got = set(answer.rdatas)
    problems: list[Problem] = []
    missing = sorted(r.to_text() for r in want - got)
    if missing:
        problems.append(("error", f"not served: {', '.join(missing)}"))
    extra = sorted(r.to_text() for r in got - want)
    if extra:
        problems.append(("warning", f"served but not made from the inventory: {', '.join(extra)}"))
    return problems


def _kind(text: str) -> str:
    """``v=spf1``, ``v=dmarc1``, ``v=dkim1``...: what a TXT record is for."""
    head = text.split(";", 1)[0].split()
    return head[0].lower() if head else ""


def _txt(records: list[Record], answer: Answer, querier: Querier) -> list[tuple[Problem, str]]:
    """Problems with the TXT records of one name, each with the expected value it concerns."""
    name = records[0].name
    served = answer.texts()
    out: list[tuple[Problem, str]] = []
    for record in records:
        kind = _kind(record.value)
        same = [t for t in served if _kind(t) == kind]
        if record.value not in served:
            what = f"another {kind} record is served" if same else f"no {kind} record is served"
            out.append((("error", f"{what} (expected one from the inventory)"), record.value))
        if len(same) > 1:
            message = f"{len(same)} {kind} records at one name: there must be exactly one"
            out.append((("error", message), record.value))
        if len(same) != 1:
            continue
        if kind == "v=spf1":
            problems = spf_problems(name, same[0], querier)
        elif kind == "v=dmarc1" and name.startswith("_dmarc."):
            problems = dmarc_problems(same[0])
        elif kind == "v=dkim1" and parse_tags(record.value).get("p"):
            problems = dkim_problems(same[0])
        else:
            problems = []
        out += [(p, record.value) for p in problems]
    return out
