"""The preflight checks one campaign message can answer by itself: RFC 5322 form, a From that
is the sender's own, one-click unsubscribe (RFC 8058) and a visible link, DKIM coverage of the
unsubscribe headers when the copy is signed, and size."""

from __future__ import annotations

import email.policy
import re
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from harness.preflight.rules import Finding, finding

__all__ = [
    "BIG_PROVIDER_DOMAINS",
    "CLIP_BYTES",
    "MESSAGE_RULES",
    "check_message",
    "header_addresses",
]

#: Mailbox providers whose domains a bulk sender must not put in From (DMARC p=reject or
#: quarantine on all of them: the mail fails alignment wherever it is sent from).
BIG_PROVIDER_DOMAINS = frozenset(
    {
        *("gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "rocketmail.com"),
        *("aol.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "icloud.com"),
        *("me.com", "mac.com", "gmx.com", "gmx.net", "web.de", "yandex.ru", "mail.ru"),
    }
)
#: The rules one message answers by itself (check_message's findings, in order).
MESSAGE_RULES = (
    *("format.from", "format.message-id", "format.date", "format.single-headers"),
    *("from.provider-domain", "unsubscribe.header", "unsubscribe.one-click"),
    *("unsubscribe.signed", "unsubscribe.visible", "size.limit", "size.clipped"),
)
#: Gmail clips a message body over this many bytes.
CLIP_BYTES = 102 * 1024

_SINGLE = (
    *("from", "sender", "reply-to", "to", "cc", "bcc", "message-id", "in-reply-to"),
    *("references", "subject", "date"),
)
_MESSAGE_ID = re.compile(r"^\s*<[^<>@\s]+@[^<>@\s]+>\s*$")
_URI = re.compile(r"<([^<>]+)>")
_BODY_LINK = re.compile(r"""(?:href\s*=\s*["']?|\b)(https?://[^\s"'<>]+)""", re.IGNORECASE)
_UNSUBSCRIBE_WORDS = re.compile(r"unsubscribe|opt[ -]?out|abmelden|désabonner", re.IGNORECASE)


def _parse(raw: bytes) -> Message:
    return BytesParser(policy=email.policy.compat32).parsebytes(raw)


def _raw_headers(raw: bytes) -> list[tuple[str, str]]:
    """(name, unfolded value) of every header, in order, as written."""
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    headers: list[tuple[str, str]] = []
    for line in head.decode("utf-8", "replace").splitlines():
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
        elif ":" in line:
            name, value = line.split(":", 1)
            headers.append((name.strip(), value.strip()))
    return headers


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in headers if n.lower() == name]


def header_addresses(raw: bytes, *names: str) -> list[str]:
    """The addresses in the headers ``names`` (lower case: "from", "reply-to"), in order."""
    headers = _raw_headers(raw)
    return [
        a for _n, a in getaddresses([v for n in names for v in _values(headers, n)]) if "@" in a
    ]


def _format(headers: list[tuple[str, str]]) -> list[Finding]:
    froms = _values(headers, "from")
    addresses = getaddresses(froms)
    one_from = len(froms) == 1 and len(addresses) == 1 and "@" in addresses[0][1]
    ids = _values(headers, "message-id")
    dates = _values(headers, "date")
    date_ok = len(dates) == 1
    if date_ok:
        try:
            parsedate_to_datetime(dates[0])
        except (TypeError, ValueError):
            date_ok = False
    doubled = sorted({n for n in _SINGLE if len(_values(headers, n)) > 1})
    return [
        finding("format.from", one_from, f"From: {' | '.join(froms) or '(none)'}"),
        finding(
            "format.message-id",
            len(ids) == 1 and bool(_MESSAGE_ID.match(ids[0])),
            f"Message-ID: {' | '.join(ids) or '(none)'}",
        ),
        finding("format.date", date_ok, f"Date: {' | '.join(dates) or '(none)'}"),
        finding(
            "format.single-headers",
            not doubled,
            "twice or more: " + ", ".join(doubled) if doubled else "each at most once",
        ),
    ]


def _from_domain(headers: list[tuple[str, str]]) -> Finding:
    addresses = getaddresses(_values(headers, "from"))
    domain = addresses[0][1].rpartition("@")[2].lower() if addresses else ""
    if not domain:
        return finding("from.provider-domain", None, "no From address")
    return finding(
        "from.provider-domain", domain not in BIG_PROVIDER_DOMAINS, f"From domain {domain}"
    )


def _unsubscribe(headers: list[tuple[str, str]]) -> list[Finding]:
    listed = " ".join(_values(headers, "list-unsubscribe"))
    uris = _URI.findall(listed)
    https = [u for u in uris if u.lower().startswith("https://")]
    post = [v.strip() for v in _values(headers, "list-unsubscribe-post")]
    return [
        finding(
            "unsubscribe.header",
            bool(https),
            f"List-Unsubscribe: {listed}" if listed else "no List-Unsubscribe header",
        ),
        finding(
            "unsubscribe.one-click",
            post == ["List-Unsubscribe=One-Click"],
            f"List-Unsubscribe-Post: {' | '.join(post)}" if post else "no List-Unsubscribe-Post",
        ),
    ]


def _signed(headers: list[tuple[str, str]]) -> Finding:
    """Whether some DKIM signature lists both unsubscribe headers in h= (not applicable to an
    unsigned copy: a sample before it went through the stack)."""
    signatures = _values(headers, "dkim-signature")
    if not signatures:
        return finding("unsubscribe.signed", None, "the copy carries no DKIM-Signature")
    for signature in signatures:
        tags = dict(part.strip().split("=", 1) for part in signature.split(";") if "=" in part)
        signed = {h.strip().lower() for h in re.sub(r"\s", "", tags.get("h", "")).split(":")}
        if {"list-unsubscribe", "list-unsubscribe-post"} <= signed:
            return finding(
                "unsubscribe.signed", True, f"d={tags.get('d', '?').strip()} h= has both"
            )
    return finding("unsubscribe.signed", False, "no DKIM-Signature's h= lists both headers")


def _text_parts(message: Message) -> str:
    texts = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                texts.append(payload.decode(charset, "replace"))
    return "\n".join(texts)


def _visible_link(message: Message) -> Finding:
    """An https/http link in the body with an unsubscribe word in it or just before it."""
    body = _text_parts(message)
    for match in _BODY_LINK.finditer(body):
        around = body[max(0, match.start() - 120) : match.end() + 120]
        if _UNSUBSCRIBE_WORDS.search(around):
            return finding("unsubscribe.visible", True, f"link {match.group(1)[:80]}")
    return finding("unsubscribe.visible", False, "no link near an unsubscribe word in the body")


def check_message(raw: bytes, *, size_limit: int) -> list[Finding]:
    """Every message-level rule for one message as it would be submitted (or, to check the
    signature's coverage, as a receiver stored it). ``size_limit``: the sending server's
    message size limit in bytes."""
    headers = _raw_headers(raw)
    message = _parse(raw)
    return [
        *_format(headers),
        _from_domain(headers),
        *_unsubscribe(headers),
        _signed(headers),
        _visible_link(message),
        finding("size.limit", len(raw) <= size_limit, f"{len(raw)} of {size_limit} bytes"),
        finding("size.clipped", len(raw) <= CLIP_BYTES, f"{len(raw)} bytes"),
    ]
