"""DNS look-ups for the authentication checks, behind one small interface.

``lookup(name, rdtype)`` returns the answers in zone-file presentation form without quotes:
TXT as the record's strings joined, MX as ``"10 mx.example.test"``, A/AAAA as addresses, PTR as
a name. No data (NXDOMAIN or an empty answer) is ``[]``; a failure to get an answer raises
DnsTempError. The receiver uses the system resolver (in the lab containers: the lab DNS); tests
hand in a StaticResolver with the records they need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import dns.exception
import dns.rdata
import dns.resolver
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

__all__ = ["DnsTempError", "DnspythonResolver", "Resolver", "StaticResolver", "normalise"]


class DnsTempError(Exception):
    """No answer could be had (timeout, SERVFAIL): the check's result is ``temperror``."""


class Resolver(Protocol):
    def lookup(self, name: str, rdtype: str) -> list[str]: ...


def normalise(name: str) -> str:
    return name.rstrip(".").lower()


class StaticResolver:
    """Answers from a table ``{(name, rdtype): [answers]}``; names in ``failing`` raise
    DnsTempError, to exercise the temperror paths."""

    def __init__(
        self, records: Mapping[tuple[str, str], Iterable[str]], failing: Iterable[str] = ()
    ) -> None:
        self._records = {
            (normalise(name), rdtype.upper()): list(answers)
            for (name, rdtype), answers in records.items()
        }
        self._failing = {normalise(name) for name in failing}

    def lookup(self, name: str, rdtype: str) -> list[str]:
        if normalise(name) in self._failing:
            raise DnsTempError(f"no answer for {name} {rdtype} (StaticResolver.failing)")
        return list(self._records.get((normalise(name), rdtype.upper()), []))


class DnspythonResolver:
    """The system resolver (/etc/resolv.conf) through dnspython."""

    def __init__(self, timeout: float = 5.0) -> None:
        self._resolver = dns.resolver.Resolver()
        self._timeout = timeout

    def lookup(self, name: str, rdtype: str) -> list[str]:
        try:
            answer = self._resolver.resolve(
                name, rdtype, lifetime=self._timeout, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return []
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
            raise DnsTempError(f"{name} {rdtype}: {exc}") from exc
        if answer.rrset is None:
            return []
        return [_present(rdata) for rdata in answer.rrset]


def _present(rdata: dns.rdata.Rdata) -> str:
    if isinstance(rdata, TXT):
        return b"".join(rdata.strings).decode("utf-8", "surrogateescape")
    if isinstance(rdata, MX):
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
    if isinstance(rdata, PTR | CNAME):
        return rdata.target.to_text(omit_final_dot=True)
    if isinstance(rdata, A | AAAA):
        return str(rdata.address)
    return rdata.to_text()
