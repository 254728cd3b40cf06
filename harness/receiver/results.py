"""Authentication results as values, and their two renderings: the Authentication-Results header
(RFC 8601) prepended to stored messages, and the ``auth`` object of a journal line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["AuthResults", "DkimResult", "DmarcResult", "SpfResult"]


@dataclass(frozen=True)
class DkimResult:
    """One DKIM-Signature's outcome: pass, fail, neutral, temperror or permerror."""

    result: str
    domain: str | None = None
    selector: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class SpfResult:
    """pyspf's result for the client IP and ``identity`` (mailfrom, or helo for a null sender)."""

    result: str
    domain: str
    identity: str
    address: str
    reason: str = ""


@dataclass(frozen=True)
class DmarcResult:
    """pass, fail, none (no record), temperror or permerror (no single From address)."""

    result: str
    domain: str | None = None
    policy: str | None = None
    aligned: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuthResults:
    dkim: tuple[DkimResult, ...]
    spf: SpfResult
    dmarc: DmarcResult

    def dkim_pass_domains(self) -> list[str]:
        return [r.domain for r in self.dkim if r.result == "pass" and r.domain]

    def header(self, authserv_id: str) -> str:
        """``Authentication-Results: <authserv_id>; dkim=...; spf=...; dmarc=...``, folded with
        CRLF + space between results, without the final CRLF."""
        parts = [f"Authentication-Results: {authserv_id}"]
        if not self.dkim:
            parts.append("dkim=none")
        for sig in self.dkim:
            props = f" header.d={sig.domain}" if sig.domain else ""
            props += f" header.s={sig.selector}" if sig.selector else ""
            parts.append(f"dkim={sig.result}{_comment(sig.reason)}{props}")
        spf_prop = (
            f"smtp.mailfrom={self.spf.address}"
            if self.spf.identity == "mailfrom"
            else f"smtp.helo={self.spf.domain}"
        )
        parts.append(f"spf={self.spf.result} {spf_prop}")
        dmarc = f"dmarc={self.dmarc.result}"
        if self.dmarc.policy:
            dmarc += f" (p={self.dmarc.policy})"
        if self.dmarc.domain:
            dmarc += f" header.from={self.dmarc.domain}"
        parts.append(dmarc)
        return ";\r\n ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "dkim": [
                {"result": r.result, "domain": r.domain, "selector": r.selector, "reason": r.reason}
                for r in self.dkim
            ],
            "spf": {
                "result": self.spf.result,
                "domain": self.spf.domain,
                "identity": self.spf.identity,
                "reason": self.spf.reason,
            },
            "dmarc": {
                "result": self.dmarc.result,
                "domain": self.dmarc.domain,
                "policy": self.dmarc.policy,
                "aligned": list(self.dmarc.aligned),
            },
        }


def _comment(reason: str) -> str:
    cleaned = reason.replace("(", "[").replace(")", "]").replace("\r", " ").replace("\n", " ")
    return f" ({cleaned[:80]})" if cleaned else ""
