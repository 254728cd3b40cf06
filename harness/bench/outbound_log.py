"""The raw sources of outbound accounting, parsed: the stack's Postfix log
(``journalctl -o short-unix``; formats from Postfix's log_adhoc.c and qmgr), ``postqueue -j``
and the provider-like receivers' journal lines (harness/receiver/journal.py)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "UNKNOWN",
    "DeliveryAttempt",
    "PostfixLog",
    "QueuedMessage",
    "ReceiverAnswer",
    "domain_of",
    "parse_postfix_log",
    "parse_postqueue",
    "reply_reason",
]

# `journalctl -o short-unix`: "1795923790.427138 mx1 postfix/bulk/smtp[3042]: 67EA91B04D4: ..."
_LINE = re.compile(
    r"^(?P<ts>\d+(?:\.\d+)?)\s+\S+\s+(?P<prog>postfix[^\s\[]*)\[\d+\]:\s+"
    r"(?P<qid>[0-9A-Za-z]+):\s+(?P<rest>.*)$"
)
_MESSAGE_ID = re.compile(r"^message-id=<?(?P<mid>[^<>]*)>?\s*$")
# qmgr: "from=<s>, size=963, nrcpt=1 (queue active)" or "from=<s>, status=expired, returned..."
_FROM = re.compile(
    r"^from=<(?P<sender>[^>]*)>, (?:size=|status=(?P<expired>(?:force-)?expired), returned)"
)
# log_adhoc.c: to=<a>[, orig_to=<b>], relay=R[, conn_use=N], delay=.., delays=..[, tls=..],
# dsn=X.Y.Z, status=S (text)
_TO = re.compile(
    r"^to=<(?P<rcpt>[^>]*)>, .*?relay=(?P<relay>[^,\s]+), .*?dsn=(?P<dsn>[\d.]+), "
    r"status=(?P<status>sent|deferred|bounced) \((?P<text>.*)\)$"
)
_NOTICE = re.compile(
    r"^(?P<kind>(?:sender|postmaster) (?:non-delivery|delay|delivery status)) "
    r"notification: (?P<new>[0-9A-Za-z]+)$"
)
# A reply opens the text (sent) or follows "said:" / "refused to talk to me:"; multi-line
# replies are logged as "550-5.7.26 ... 550 5.7.26 ...".
_REPLY = re.compile(
    r"(?:^|(?:said|to me):\s*)(?P<code>[245]\d\d)(?:[ -](?P<enh>[245]\.\d{1,3}\.\d{1,3}))?(?!\S)"
)
_QUEUED_AS = re.compile(r"\bqueued as (?P<qid>[0-9A-Za-z]+)")
# Failures without a reply, by a fragment of Postfix's wording (first match wins).
_CATEGORIES = (
    ("lost connection", "connection lost"),
    ("timed out", "timeout"),
    ("connection refused", "refused"),
    ("unreachable", "unreachable"),
    ("no route to host", "unreachable"),
    ("name service error", "dns"),
    ("not found", "dns"),
    ("tls", "tls"),
)
_SUSPENDED = "delivery temporarily suspended"


#: The destination of tokens whose recipient no source names.
UNKNOWN = "(unknown)"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower() if "@" in address else UNKNOWN


@dataclass(frozen=True)
class DeliveryAttempt:
    """One ``to=`` line: a recipient sent, deferred or bounced by ``transport``, the service
    in the syslog tag (``smtp``; ``bulk`` for postfix/bulk/smtp; ``error`` or ``qmgr`` when a
    dead site was skipped without connecting)."""

    time: float
    qid: str
    recipient: str
    relay: str
    transport: str
    status: str
    dsn: str
    text: str
    code: int | None = None
    enhanced: str | None = None
    #: "reply" when the text holds one, else connection lost, timeout, refused, dns, ...
    category: str = "reply"

    @property
    def reason(self) -> str:
        """``451 4.7.28``, ``550``, or the category; `` (suspended)`` when the queue manager
        deferred it without a connection, repeating an earlier answer."""
        return _reason(self.code, self.enhanced, self.category, self.text)

    @property
    def queued_as(self) -> str | None:
        match = _QUEUED_AS.search(self.text) if self.status == "sent" else None
        return match["qid"] if match else None


@dataclass
class PostfixLog:
    #: queue id -> Message-ID without the angle brackets
    message_ids: dict[str, str] = field(default_factory=dict)
    #: queue id -> envelope sender (the queue manager's from= line)
    senders: dict[str, str] = field(default_factory=dict)
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    #: queue id -> "expired" / "force-expired": returned to sender (logged once per message)
    expired: dict[str, str] = field(default_factory=dict)
    #: (queue id, notification kind such as "sender non-delivery", the notification's queue id)
    notifications: list[tuple[str, str, str]] = field(default_factory=list)


def _classify(text: str) -> tuple[int | None, str | None, str]:
    """(reply code, enhanced code, category) of a status text or a queue's delay reason."""
    if reply := _REPLY.search(text):
        return int(reply["code"]), reply["enh"], "reply"
    lower = text.lower()
    return None, None, next((name for frag, name in _CATEGORIES if frag in lower), "other")


def _reason(code: int | None, enhanced: str | None, category: str, text: str) -> str:
    key = category
    if code is not None:
        key = f"{code} {enhanced}" if enhanced else str(code)
    return f"{key} (suspended)" if text.startswith(_SUSPENDED) else key


def _attempt(ts: float, prog: str, qid: str, match: re.Match[str]) -> DeliveryAttempt:
    parts = prog.split("/")
    transport = parts[-2] if len(parts) > 2 else parts[-1]
    code, enhanced, category = _classify(match["text"])
    return DeliveryAttempt(
        time=ts,
        qid=qid,
        recipient=match["rcpt"],
        relay=match["relay"],
        transport=transport,
        status=match["status"],
        dsn=match["dsn"],
        text=match["text"],
        code=code,
        enhanced=enhanced,
        category=category,
    )


def parse_postfix_log(lines: Iterable[str]) -> PostfixLog:
    """The events of ``journalctl -o short-unix`` lines; other lines are skipped."""
    log = PostfixLog()
    for line in lines:
        if not (m := _LINE.match(line.strip())):
            continue
        ts, qid, rest = float(m["ts"]), m["qid"], m["rest"]
        if event := _TO.match(rest):
            log.attempts.append(_attempt(ts, m["prog"], qid, event))
        elif event := _MESSAGE_ID.match(rest):
            log.message_ids.setdefault(qid, event["mid"].strip())
        elif event := _FROM.match(rest):
            log.senders.setdefault(qid, event["sender"])
            if event["expired"]:
                log.expired[qid] = event["expired"]
        elif event := _NOTICE.match(rest):
            log.notifications.append((qid, event["kind"], event["new"]))
    return log


@dataclass(frozen=True)
class QueuedMessage:
    """One ``postqueue -j`` line: each recipient with why it waits."""

    queue_id: str
    queue_name: str
    sender: str
    recipients: tuple[tuple[str, str], ...]


def parse_postqueue(lines: Iterable[str]) -> list[QueuedMessage]:
    """The messages of ``postqueue -j`` lines; lines that are not such JSON are skipped."""
    out: list[QueuedMessage] = []
    for line in lines:
        try:
            entry = json.loads(line)
            rcpts = tuple(
                (str(r["address"]), str(r.get("delay_reason") or r.get("bounce_reason") or ""))
                for r in entry.get("recipients", [])
            )
            out.append(
                QueuedMessage(entry["queue_id"], entry["queue_name"], entry["sender"], rcpts)
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


@dataclass(frozen=True)
class ReceiverAnswer:
    """The parts of a receiver journal line (harness/receiver/journal.py) accounting reads."""

    time: float
    receiver: str
    stage: str
    rcpts: tuple[str, ...]
    code: int
    enhanced: str
    outcome: str
    token: str | None

    @classmethod
    def from_json(cls, receiver: str, line: Mapping[str, Any]) -> ReceiverAnswer:
        """``receiver``: the name ``account``'s ``receiver_domains`` knows the host by."""
        ts = dt.datetime.fromisoformat(str(line["ts"]).replace("Z", "+00:00")).timestamp()
        rcpts = tuple(str(r) for r in line.get("rcpts") or ())
        token = line.get("token")
        return cls(
            ts,
            receiver,
            str(line["stage"]),
            rcpts,
            int(line["code"]),
            str(line["enhanced"]),
            str(line["outcome"]),
            str(token) if token else None,
        )

    @property
    def reason(self) -> str:
        return f"{self.code} {self.enhanced}"


def reply_reason(text: str) -> str:
    """The key a status text or a queue's delay reason is counted under: "451 4.7.28",
    "550", or a category ("connection lost", ...)."""
    return _reason(*_classify(text), text)
