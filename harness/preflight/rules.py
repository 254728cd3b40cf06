"""The bulk-sender rules a preflight checks, each with its severity, its fix and the public
source it comes from; and the finding a check makes of one rule."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["RULES", "Finding", "Rule", "Severity", "Status", "finding"]

_GOOGLE = "https://support.google.com/a/answer/81126"
_YAHOO = "https://senders.yahooinc.com/best-practices/"
_RFC5322 = "https://www.rfc-editor.org/rfc/rfc5322#section-3.6"
_RFC8058 = "https://www.rfc-editor.org/rfc/rfc8058"


class Severity(Enum):
    BLOCKER = "blocker"  # the big receivers reject or junk the campaign
    WARNING = "warning"  # mail goes, with a known cost


class Status(Enum):
    PASS = "pass"  # noqa: S105 -- a check's outcome, not a secret
    FAIL = "fail"
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    fix: str
    source: str


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "format.from",
            "exactly one From header with exactly one address",
            Severity.BLOCKER,
            "give the message one From: header naming one mailbox",
            _RFC5322,
        ),
        Rule(
            "format.message-id",
            "one Message-ID of the form <left@right>",
            Severity.BLOCKER,
            "let the sending program add Message-ID: <unique@your.domain>",
            _RFC5322,
        ),
        Rule(
            "format.date",
            "one Date header a parser reads",
            Severity.BLOCKER,
            "add Date: in RFC 5322 form, e.g. 'Sun, 29 Nov 2026 10:00:00 +0000'",
            _RFC5322,
        ),
        Rule(
            "format.single-headers",
            "no header that may appear once appears twice",
            Severity.BLOCKER,
            "remove the duplicated header (From, Sender, Reply-To, To, Cc, Bcc, Message-ID, "
            "In-Reply-To, References, Subject, Date)",
            _RFC5322,
        ),
        Rule(
            "from.provider-domain",
            "From is not at a big mailbox provider's domain",
            Severity.BLOCKER,
            "send From an address at your own domain, one that passes DMARC",
            _GOOGLE,
        ),
        Rule(
            "unsubscribe.header",
            "List-Unsubscribe names an https URI",
            Severity.BLOCKER,
            "add List-Unsubscribe: <https://your.domain/unsubscribe?id=...> (a mailto: may "
            "follow, not replace it)",
            _RFC8058,
        ),
        Rule(
            "unsubscribe.one-click",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            Severity.BLOCKER,
            "add List-Unsubscribe-Post: List-Unsubscribe=One-Click and accept a POST at the URI",
            _RFC8058,
        ),
        Rule(
            "unsubscribe.signed",
            "DKIM signature covers List-Unsubscribe and List-Unsubscribe-Post",
            Severity.BLOCKER,
            "sign both headers (rspamd's default signed headers include them)",
            _RFC8058,
        ),
        Rule(
            "unsubscribe.visible",
            "a visible unsubscribe link in the body",
            Severity.BLOCKER,
            "put an 'unsubscribe' link in the message body, beside the one-click header",
            _YAHOO,
        ),
        Rule(
            "size.limit",
            "the message fits the sending server's size limit",
            Severity.BLOCKER,
            "shrink the message (link to large files) or raise the limit",
            _RFC5322,
        ),
        Rule(
            "size.clipped",
            "the message is under 102 KB, where Gmail clips the body",
            Severity.WARNING,
            "keep the HTML under 102 KB: Gmail hides the rest, the visible unsubscribe link too",
            _GOOGLE,
        ),
    )
}


@dataclass(frozen=True)
class Finding:
    """What a check found for one rule: pass, fail (with why) or not applicable."""

    rule: Rule
    status: Status
    evidence: str

    @property
    def blocks(self) -> bool:
        return self.status is Status.FAIL and self.rule.severity is Severity.BLOCKER

    def to_json(self) -> dict[str, str]:
        return {
            "rule": self.rule.id,
            "title": self.rule.title,
            "severity": self.rule.severity.value,
            "status": self.status.value,
            "evidence": self.evidence,
            "fix": self.rule.fix if self.status is Status.FAIL else "",
            "source": self.rule.source,
        }


def finding(rule_id: str, ok: bool | None, evidence: str) -> Finding:
    """``ok`` None: the rule does not apply to this message."""
    status = Status.NOT_APPLICABLE if ok is None else Status.PASS if ok else Status.FAIL
    return Finding(RULES[rule_id], status, evidence)
