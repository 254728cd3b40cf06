"""Where each campaign message went after the stack's 250, per destination domain. Three
sources are joined by token: the stack's Postfix log (what it tried), the receivers' journals
(what the providers answered) and ``postqueue -j`` (what still waits). Pure functions over text
and dicts the orchestrator collected; nothing here talks to a host."""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from harness.bench.outbound_log import (
    UNKNOWN,
    PostfixLog,
    QueuedMessage,
    ReceiverAnswer,
    domain_of,
    parse_postfix_log,
    parse_postqueue,
    reply_reason,
)
from harness.errors import BenchError

__all__ = ["UNKNOWN", "DestinationReport", "OutboundReport", "account"]

_MISSING_LISTED = 100


@dataclass
class DestinationReport:
    """The accepted tokens of one recipient domain. Each is in exactly one of delivered,
    bounced, queued and missing, in that order of precedence; missing must be 0."""

    accepted: int = 0
    #: distinct tokens a receiver journalled as accepted
    delivered: int = 0
    #: further accepted copies of delivered tokens (the stack lost a 250 and sent again)
    duplicates: int = 0
    #: the stack logged status=sent, but no receiver journalled the token (also missing)
    sent_unconfirmed: int = 0
    #: a receiver accepted the token, but the stack's log holds no status=sent for it
    delivered_unlogged: int = 0
    bounced: int = 0
    queued: int = 0
    #: attempts by "451 4.7.28" (reply) or category ("connection lost", "timeout", ...)
    deferred_stack: Counter[str] = field(default_factory=Counter)
    deferred_receivers: Counter[str] = field(default_factory=Counter)
    bounced_reasons: Counter[str] = field(default_factory=Counter)
    queued_reasons: Counter[str] = field(default_factory=Counter)
    missing_tokens: list[str] = field(default_factory=list)
    #: seconds from the campaign start to the last first-copy delivery
    last_delivery_s: float | None = None
    #: whole seconds since the start -> count
    delivered_per_s: Counter[int] = field(default_factory=Counter)
    deferred_stack_per_s: Counter[int] = field(default_factory=Counter)
    deferred_receivers_per_s: Counter[int] = field(default_factory=Counter)

    @property
    def missing(self) -> int:
        return len(self.missing_tokens)

    def add(self, other: DestinationReport) -> None:
        for name in (f.name for f in dataclasses.fields(self)):
            mine, theirs = getattr(self, name), getattr(other, name)
            if name == "last_delivery_s":
                known = [v for v in (mine, theirs) if v is not None]
                self.last_delivery_s = max(known) if known else None
            elif isinstance(mine, Counter | list):
                mine += theirs
            else:
                setattr(self, name, mine + theirs)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in (f.name for f in dataclasses.fields(self)):
            value = getattr(self, name)
            if isinstance(value, Counter) and not name.endswith("_per_s"):
                out[name] = dict(value.most_common())
            elif not isinstance(value, Counter | list):
                out[name] = value
        out["missing"] = self.missing
        out["missing_tokens"] = self.missing_tokens[:_MISSING_LISTED]
        if self.last_delivery_s is not None:
            out["last_delivery_s"] = round(self.last_delivery_s, 3)
        out["timeline"] = {
            series: sorted(getattr(self, f"{series}_per_s").items())
            for series in ("delivered", "deferred_stack", "deferred_receivers")
        }
        return out


@dataclass
class OutboundReport:
    started: float
    destinations: dict[str, DestinationReport] = field(default_factory=dict)
    #: what is not the campaign's: "messages" (other Message-IDs, such as the stack's own
    #: DSNs), "<kind> notifications", "queued" and "foreign deliveries" (unknown tokens)
    other: Counter[str] = field(default_factory=Counter)

    @property
    def totals(self) -> DestinationReport:
        total = DestinationReport()
        for report in self.destinations.values():
            total.add(report)
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "destinations": {name: r.to_json() for name, r in self.destinations.items()},
            "totals": self.totals.to_json(),
            "other": dict(self.other),
        }


_VERP = re.compile(r"^[^+@]+\+(?P<local>[^@]+)=(?P<domain>[^=@]+)@")


class _Ledger:
    """The join: queue ids to tokens, tokens to recipients, and one report per destination."""

    def __init__(self, log: PostfixLog, accepted: Mapping[str, float], started: float) -> None:
        self.accepted = accepted
        self.started = started
        self.token_of = {
            qid: token
            for qid, mid in log.message_ids.items()
            if (token := mid.partition("@")[0]) in accepted
        }
        self.recipient: dict[str, str] = {}
        self.report = OutboundReport(started)

    def learn(
        self, log: PostfixLog, queue: Sequence[QueuedMessage], answers: Sequence[ReceiverAnswer]
    ) -> None:
        """Each token's recipient, from the first source that names it: the stack's to=, the
        queue, the VERP sender (bounces+carol=bigmail.test@...), a receiver's rcpts."""
        found = [(self.token_of.get(a.qid), a.recipient) for a in log.attempts]
        found += [(self.token_of.get(e.queue_id), a) for e in queue for a, _ in e.recipients]
        found += [
            (self.token_of.get(qid), f"{verp['local']}@{verp['domain']}")
            for qid, sender in log.senders.items()
            if (verp := _VERP.match(sender))
        ]
        found += [(a.token, r) for a in answers for r in a.rcpts]
        for token, address in found:
            if token is not None and token in self.accepted and "@" in address:
                self.recipient.setdefault(token, address)

    def at(self, token: str | None, fallback: str = UNKNOWN) -> DestinationReport:
        address = self.recipient.get(token) if token else None
        name = domain_of(address) if address else fallback
        return self.report.destinations.setdefault(name, DestinationReport())

    def second(self, ts: float) -> int:
        return math.floor(ts - self.started)


def _lines(text: Iterable[str]) -> Iterable[str]:
    return text.splitlines() if isinstance(text, str) else text


def account(
    postfix_log: Iterable[str],
    journals: Mapping[str, Iterable[Mapping[str, Any]]],
    postqueue: Iterable[str],
    accepted: Mapping[str, float],
    receiver_domains: Mapping[str, Sequence[str]],
    started: float,
) -> OutboundReport:
    """Join the stack's log lines (``journalctl -o short-unix``), each receiver's journal lines
    (receiver host -> parsed lines; lines before ``started`` are another run's) and the
    ``postqueue -j`` lines to the tokens the stack accepted (token -> epoch)."""
    log = parse_postfix_log(_lines(postfix_log))
    queue = parse_postqueue(_lines(postqueue))
    answers = sorted(
        (a for host, lines in journals.items() for a in _answers(host, lines) if a.time >= started),
        key=lambda a: a.time,
    )
    book = _Ledger(log, accepted, started)
    book.learn(log, queue, answers)
    for token in accepted:
        book.at(token).accepted += 1
    delivered = _receivers(book, answers, receiver_domains)
    sent, bounces = _stack(book, log)
    for answer in answers:
        if answer.outcome == "rejected" and answer.token in accepted:
            bounces.setdefault(str(answer.token), answer.reason)
    for token in sent - delivered.keys():
        book.at(token).sent_unconfirmed += 1
    for token in delivered.keys() - sent:
        book.at(token).delivered_unlogged += 1
    for token, reason in bounces.items():
        if token not in delivered:
            book.at(token).bounced += 1
            book.at(token).bounced_reasons[reason] += 1
    queued = _queued(book, queue, delivered.keys() | bounces.keys())
    for token in accepted:
        if token not in delivered and token not in bounces and token not in queued:
            book.at(token).missing_tokens.append(token)
    _others(book.report, log, book.token_of)
    return book.report


def _answers(host: str, lines: Iterable[Mapping[str, Any]]) -> Iterator[ReceiverAnswer]:
    for number, line in enumerate(lines, 1):
        try:
            yield ReceiverAnswer.from_json(host, line)
        except (KeyError, ValueError, TypeError) as exc:
            raise BenchError(
                f"receiver {host}: journal line {number} is not a receiver journal line "
                f"({type(exc).__name__}: {exc}): {str(line)[:200]}",
                hint="pass the lines of the receiver's journal.jsonl, parsed with json.loads",
            ) from None


def _receivers(
    book: _Ledger, answers: Sequence[ReceiverAnswer], domains: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """Deliveries (token -> time of the first accepted copy) and the receivers' deferrals;
    one without a token or rcpts (at connect, MAIL) goes to the receiver's first domain."""
    first: dict[str, float] = {}
    copies: Counter[str] = Counter()
    for answer in answers:
        token = answer.token if answer.token in book.accepted else None
        if answer.outcome == "deferred":
            own = domains.get(answer.receiver) or [UNKNOWN]
            where = domain_of(answer.rcpts[0]) if answer.rcpts else own[0].lower()
            report = book.at(token, where)
            report.deferred_receivers[answer.reason] += 1
            report.deferred_receivers_per_s[book.second(answer.time)] += 1
        elif answer.outcome == "accepted" and token:
            copies[token] += 1
            first.setdefault(token, answer.time)
        elif answer.outcome == "accepted" and answer.token:
            book.report.other["foreign deliveries"] += 1
    for token, ts in first.items():
        report = book.at(token)
        report.delivered += 1
        report.duplicates += copies[token] - 1
        report.delivered_per_s[book.second(ts)] += 1
        report.last_delivery_s = max(ts - book.started, report.last_delivery_s or 0.0)
    return first


def _stack(book: _Ledger, log: PostfixLog) -> tuple[set[str], dict[str, str]]:
    """Tokens the stack sent on to their destination, its bounce reason per token, and its
    deferrals. A status=sent whose reply names another queue id of the same token (a filter
    re-injecting the message) is a hop inside the stack, not a delivery."""
    sent: set[str] = set()
    bounces: dict[str, str] = {}
    for attempt in log.attempts:
        token = book.token_of.get(attempt.qid)
        if token is None:
            continue
        if attempt.status == "sent":
            if book.token_of.get(attempt.queued_as or "") != token:
                sent.add(token)
        elif attempt.status == "deferred":
            report = book.at(token)
            report.deferred_stack[attempt.reason] += 1
            report.deferred_stack_per_s[book.second(attempt.time)] += 1
        else:
            bounces.setdefault(token, attempt.reason)
    for qid, status in log.expired.items():
        if token := book.token_of.get(qid):
            bounces.setdefault(token, status)
    return sent, bounces


def _queued(book: _Ledger, queue: Sequence[QueuedMessage], settled: Set[str]) -> set[str]:
    """Tokens still in the queue (and not delivered or bounced), with why they wait."""
    queued: set[str] = set()
    for entry in queue:
        token = book.token_of.get(entry.queue_id)
        if token is None:
            book.report.other["queued"] += 1
        elif token not in settled and token not in queued:
            queued.add(token)
            why = entry.recipients[0][1] if entry.recipients else ""
            report = book.at(token)
            report.queued += 1
            report.queued_reasons[reply_reason(why) if why else entry.queue_name] += 1
    return queued


def _others(report: OutboundReport, log: PostfixLog, token_of: Mapping[str, str]) -> None:
    """Count what is not the campaign's, and put the destinations in order."""
    foreign = {mid for qid, mid in log.message_ids.items() if qid not in token_of}
    report.other["messages"] = len(foreign)
    report.other.update(f"{kind} notifications" for _, kind, _ in log.notifications)
    report.destinations = dict(
        sorted(report.destinations.items(), key=lambda kv: (kv[0] == UNKNOWN, kv[0]))
    )
