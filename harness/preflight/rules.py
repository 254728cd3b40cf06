"""The bulk-sender rules a preflight checks, each with its severity, its fix and the public
source it comes from; and the finding a check makes of one rule."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["RULES", "Finding", "Rule", "Severity", "Status", "finding", "not_checked"]

_GOOGLE = "https://support.google.com/a/answer/81126"
_YAHOO = "https://senders.yahooinc.com/best-practices/"
_RFC5322 = "https://www.rfc-editor.org/rfc/rfc5322#section-3.6"
_RFC8058 = "https://www.rfc-editor.org/rfc/rfc8058"
_RFC7208 = "https://www.rfc-editor.org/rfc/rfc7208"
_RFC7489 = "https://www.rfc-editor.org/rfc/rfc7489"
_RFC8301 = "https://www.rfc-editor.org/rfc/rfc8301"
_RFC5321_HELO = "https://www.rfc-editor.org/rfc/rfc5321#section-4.1.1.1"
_RFC1035_TXT = "https://www.rfc-editor.org/rfc/rfc1035#section-3.3.14"
_JINJA = "https://jinja.palletsprojects.com/en/stable/templates/#variables"


class Severity(Enum):
    BLOCKER = "blocker"  # the big receivers reject or junk the campaign
    WARNING = "warning"  # mail goes, with a known cost


class Status(Enum):
    PASS = "pass"  # noqa: S105 -- a check's outcome, not a secret
    FAIL = "fail"
    NOT_APPLICABLE = "n/a"
    NOT_CHECKED = "not checked"


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
        Rule(
            "template.variables",
            "every template variable is a recipient column (or token)",
            Severity.BLOCKER,
            "add the missing column to the recipients CSV, or fix the name in the template",
            _JINJA,
        ),
        Rule(
            "spf.record",
            "the domain serves one SPF record of at most 10 lookups",
            Severity.BLOCKER,
            "publish the v=spf1 record `mailstack dns zone` makes (mail_dns_spf_*)",
            _RFC7208,
        ),
        Rule(
            "spf.pass",
            "a receiver finds SPF pass for mail the stack sends",
            Severity.BLOCKER,
            "list every sending address in the SPF record (mail_dns_ipv4/ipv6, "
            "mail_dns_spf_include) and publish it",
            _GOOGLE,
        ),
        Rule(
            "dkim.key",
            "the domain serves an active DKIM key of 1024 bits or more (2048 advised)",
            Severity.BLOCKER,
            "give the domain a key in rspamd_dkim_keys, converge, and publish its TXT record "
            "split into strings of at most 255 characters (`mailstack dns zone` does)",
            _RFC8301,
        ),
        Rule(
            "dkim.pass",
            "a receiver finds DKIM pass, signed for the From domain",
            Severity.BLOCKER,
            "sign with a key of the From domain (rspamd_dkim_keys) and publish it",
            _GOOGLE,
        ),
        Rule(
            "dmarc.record",
            "the From domain serves one valid DMARC record (p=none at least)",
            Severity.BLOCKER,
            "publish the _dmarc record `mailstack dns zone` makes (mail_dns_dmarc_*)",
            _RFC7489,
        ),
        Rule(
            "dmarc.rua",
            "the DMARC record asks for aggregate reports (rua=)",
            Severity.WARNING,
            "set mail_dns_dmarc_rua to a mailbox that reads the reports",
            _YAHOO,
        ),
        Rule(
            "dmarc.pass",
            "a receiver finds DMARC pass: From aligned with SPF or DKIM",
            Severity.BLOCKER,
            "send From the domain that signs (DKIM d=) or the envelope domain (SPF)",
            _GOOGLE,
        ),
        Rule(
            "rdns.fcrdns",
            "each sending address has a PTR whose name resolves back to it",
            Severity.BLOCKER,
            "ask the address's owner (hosting provider) for a PTR naming the host, "
            "and publish that name's A/AAAA",
            _GOOGLE,
        ),
        Rule(
            "helo.name",
            "each host greets with a fully qualified name that resolves to it",
            Severity.WARNING,
            "set postfix_hostname to the host's FQDN and publish its A/AAAA",
            _RFC5321_HELO,
        ),
        Rule(
            "tls.offered",
            "each sending host offers STARTTLS on port 25 with TLS 1.2 or newer",
            Severity.BLOCKER,
            "keep the tls role's certificate and Postfix's smtpd_tls_security_level=may",
            _GOOGLE,
        ),
        Rule(
            "tls.key",
            "the host certificate's key is RSA of 2048 bits or more, or EC",
            Severity.WARNING,
            "issue the certificate for a 2048-bit RSA or a P-256 key",
            _RFC8301,
        ),
        Rule(
            "tls.used",
            "the sample reached the receiver over TLS",
            Severity.BLOCKER,
            "keep smtp_tls_security_level at may (or dane/encrypt) for outbound mail",
            _GOOGLE,
        ),
        Rule(
            "reply.receives",
            "the From and Reply-To addresses receive mail",
            Severity.WARNING,
            "create the mailbox or alias (mail_accounts_*), or publish an MX for its domain",
            _YAHOO,
        ),
        Rule(
            "dns.txt-strings",
            "no TXT string longer than 255 characters was cut short",
            Severity.BLOCKER,
            "split long TXT values into quoted strings of at most 255 characters",
            _RFC1035_TXT,
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


def not_checked(rule_id: str, why: str) -> Finding:
    """A rule this run could not check (``why`` says what would let it)."""
    return Finding(RULES[rule_id], Status.NOT_CHECKED, why)
