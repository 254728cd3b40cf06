"""DKIM (dkimpy) and SPF (pyspf) checks of one message, DMARC on top of them, and whether a
profile's ``auth.require`` is met. Blocking (DNS): the handler runs it in a worker thread.

dkimpy takes a ``dnsfunc`` per call. pyspf has no per-query resolver hook: its query objects call
the module-level ``spf.DNSLookup``. This module installs, once, a forwarder there that answers
from the resolver bound to the calling thread by ``check_spf`` and otherwise calls pyspf's own
look-up, so other pyspf users in the same process see no change.
"""

from __future__ import annotations

import threading
from email.message import Message

import dkim
import spf

from .dmarc import check_dmarc, from_domain
from .lookup import DnsTempError, Resolver
from .results import AuthResults, DkimResult, SpfResult

__all__ = ["authenticate", "check_dkim", "check_spf", "verdict"]

#: Signatures verified per message at most (a message with more is odd, not worth the DNS).
MAX_SIGNATURES = 5

_bound = threading.local()
_pyspf_lookup = spf.DNSLookup


def _spf_dns(
    name: str, qtype: str, strict: object = True, timeout: float = 20
) -> list[tuple[tuple[str, str], object]]:
    resolver: Resolver | None = getattr(_bound, "resolver", None)
    if resolver is None:
        answers: list[tuple[tuple[str, str], object]] = _pyspf_lookup(name, qtype, strict, timeout)
        return answers
    try:
        found = resolver.lookup(name, qtype)
    except DnsTempError as exc:
        raise spf.TempError(f"DNS {exc}") from exc
    return [((name, qtype), _spf_value(qtype, answer)) for answer in found]


def _spf_value(qtype: str, answer: str) -> object:
    """pyspf's shapes: TXT as a list of byte strings, MX as (preference, exchange)."""
    if qtype in {"TXT", "SPF"}:
        return [answer.encode("utf-8", "surrogateescape")]
    if qtype == "MX":
        preference, _, exchange = answer.partition(" ")
        return (int(preference), exchange)
    return answer


spf.DNSLookup = _spf_dns


def check_spf(client_ip: str, mail_from: str, helo: str, resolver: Resolver) -> SpfResult:
    """SPF of the MAIL FROM identity, or of the HELO name for a null sender (RFC 7208 2.3)."""
    null = mail_from in {"", "<>"}
    domain = helo if null else mail_from.rpartition("@")[2].lower()
    _bound.resolver = resolver
    try:
        result, explanation = spf.check2(i=client_ip, s="" if null else mail_from, h=helo)
    finally:
        _bound.resolver = None
    return SpfResult(
        result=str(result),
        domain=domain,
        identity="helo" if null else "mailfrom",
        address="" if null else mail_from,
        reason="" if result == "pass" else str(explanation),
    )


def check_dkim(
    message: bytes, resolver: Resolver, *, min_key_bits: int, timeout: float
) -> tuple[DkimResult, ...]:
    """One result per DKIM-Signature (the first MAX_SIGNATURES); () when there is none."""

    def txt(name: bytes | str, timeout: float = timeout) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        answers = resolver.lookup(text, "TXT")
        return answers[0].encode("utf-8", "surrogateescape") if answers else None

    try:
        count = sum(
            1 for name, _ in dkim.DKIM(message).headers if name.lower() == b"dkim-signature"
        )
    except dkim.DKIMException as exc:
        return (DkimResult("permerror", reason=str(exc)),)
    results = []
    for idx in range(min(count, MAX_SIGNATURES)):
        verifier = dkim.DKIM(message, minkey=min_key_bits, timeout=timeout)
        try:
            result = "pass" if verifier.verify(idx=idx, dnsfunc=txt) else "fail"
            reason = ""
        except DnsTempError as exc:
            result, reason = "temperror", str(exc)
        except dkim.DKIMException as exc:
            result, reason = _dkim_failure(exc), str(exc)
        results.append(
            DkimResult(
                result=result,
                domain=_text(getattr(verifier, "domain", None)),
                selector=_text(getattr(verifier, "selector", None)),
                reason=reason,
            )
        )
    return tuple(results)


def _dkim_failure(exc: Exception) -> str:
    """RFC 8601's name for a dkimpy exception: a body that does not match its hash is ``fail``,
    a key below the minimum size is ``policy`` (signed, but not acceptably), the rest is
    ``permerror`` (a malformed signature or key). dkimpy says which only in the message."""
    text = str(exc)
    if isinstance(exc, dkim.ValidationError) and "body hash mismatch" in text:
        return "fail"
    if isinstance(exc, dkim.KeyFormatError) and "too small" in text:
        return "policy"
    return "permerror"


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").lower()
    return None


def authenticate(
    message: bytes,
    headers: Message,
    *,
    client_ip: str,
    mail_from: str,
    helo: str,
    resolver: Resolver,
    min_key_bits: int,
    timeout: float,
) -> AuthResults:
    dkim_results = check_dkim(message, resolver, min_key_bits=min_key_bits, timeout=timeout)
    spf_result = check_spf(client_ip, mail_from, helo, resolver)
    dmarc_result = check_dmarc(from_domain(headers), dkim_results, spf_result, resolver)
    return AuthResults(dkim=dkim_results, spf=spf_result, dmarc=dmarc_result)


def verdict(require: str, results: AuthResults) -> str:
    """``pass`` when ``require`` is met; else ``temperror`` if a check could not get an answer
    (the sender should retry), else ``fail``."""
    dkim_pass = bool(results.dkim_pass_domains())
    spf_pass = results.spf.result == "pass"
    dmarc_pass = results.dmarc.result == "pass"
    met = {
        "none": True,
        "spf-or-dkim": spf_pass or dkim_pass,
        "dmarc-aligned": dmarc_pass,
        "spf-and-dkim-and-dmarc": spf_pass and dkim_pass and dmarc_pass,
    }[require]
    if met:
        return "pass"
    temporary = (
        results.spf.result == "temperror"
        or results.dmarc.result == "temperror"
        or any(r.result == "temperror" for r in results.dkim)
    )
    return "temperror" if temporary else "fail"
