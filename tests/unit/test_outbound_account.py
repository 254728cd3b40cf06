"""Outbound accounting: the stack's Postfix log, the receivers' journals and ``postqueue -j``
joined by token, per destination domain. Log lines follow what the lab's Postfix writes
(log_adhoc.c, qmgr, bounce); journal lines are made by the receiver's own ``Attempt``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from harness.bench.gate import shortfall
from harness.bench.outbound_account import account
from harness.bench.outbound_log import (
    UNKNOWN,
    ReceiverAnswer,
    parse_postfix_log,
    parse_postqueue,
)
from harness.bench.outbound_view import plot_deliveries
from harness.bench.tables import outbound_report_table
from harness.errors import BenchError
from harness.receiver.journal import Attempt, Peer
from harness.receiver.replies import Reply

STARTED = 1795923780.0
T1, T2, T3, T4, T5, T6, T7, T8 = (f"0a1b2c3d4e5f0000000{i}" for i in range(1, 9))
ACCEPTED = {token: STARTED + 0.1 * i for i, token in enumerate((T1, T2, T3, T4, T5, T6, T7, T8))}
STACK_IP = "10.213.143.10"
RECEIVER_DOMAINS = {
    "gmail": ["bigmail.test"],
    "yahoo": ["yahoo-like.test"],
    "outlook": ["outlook-like.test", "hotmail-like.test"],
}

# T1 carol: through the content filter (two queue ids), then sent by smtp.
# T2 dave: bulk transport; deferred 451 4.7.28, then a lost 250 (sent twice), then sent.
# T3 erin: bounced 550 5.7.26, and the stack's DSN (another Message-ID) delivered locally.
# T4 frank: lost greeting, then the site is suspended; still queued.
# T5: accepted by the stack, nowhere in any log.  T6 heidi: sent, but no receiver saw it.
# T7 ivan: through the filter, then timed out; still queued.  T8 judy: greylisted, expired.
# A backslash at a line's end joins it to the next: each log line is kept verbatim.
POSTFIX_LOG = """\
-- Boot 3b1c0c3c2f5e4b3e9d1f2a3b4c5d6e7f --
1795923790.301022 mx1 postfix/cleanup[3039]: 5D1E21B04D2: \
message-id=<0a1b2c3d4e5f00000001@example.test>
1795923790.310455 mx1 postfix/qmgr[3005]: 5D1E21B04D2: \
from=<bounces+carol=bigmail.test@example.test>, size=912, nrcpt=1 (queue active)
1795923790.420118 mx1 postfix/smtp[3041]: 5D1E21B04D2: to=<carol@bigmail.test>, \
relay=127.0.0.1[127.0.0.1]:10025, delay=0.12, delays=0.01/0/0/0.11, dsn=2.0.0, status=sent (250 \
2.0.0 Ok: queued as 67EA91B04D4)
1795923790.421007 mx1 postfix/qmgr[3005]: 5D1E21B04D2: removed
1795923790.427138 mx1 postfix/cleanup[3039]: 67EA91B04D4: \
message-id=<0a1b2c3d4e5f00000001@example.test>
1795923790.470941 mx1 postfix/qmgr[3005]: 67EA91B04D4: \
from=<bounces+carol=bigmail.test@example.test>, size=963, nrcpt=1 (queue active)
1795923790.576794 mx1 postfix/smtp[3042]: 67EA91B04D4: to=<carol@bigmail.test>, \
relay=gmail.bigmail.test[10.213.143.12]:25, delay=0.15, delays=0.05/0/0.05/0.06, dsn=2.0.0, \
status=sent (250 2.0.0 OK 1795923790550-c1-1)
1795923790.577503 mx1 postfix/qmgr[3005]: 67EA91B04D4: removed
1795923790.601200 mx1 postfix/smtpd[3030]: connect from client.example.test[10.213.143.2]
1795923791.002311 mx1 postfix/cleanup[3039]: 6B2C41B04E0: \
message-id=<0a1b2c3d4e5f00000002@example.test>
1795923791.010874 mx1 postfix/qmgr[3005]: 6B2C41B04E0: \
from=<bounces+dave=bigmail.test@example.test>, size=963, nrcpt=1 (queue active)
1795923791.210442 mx1 postfix/bulk/smtp[3044]: 6B2C41B04E0: to=<dave@bigmail.test>, \
relay=gmail.bigmail.test[10.213.143.12]:25, delay=0.21, delays=0.05/0/0.05/0.11, dsn=4.7.28, \
status=deferred (host gmail.bigmail.test[10.213.143.12] said: 451 4.7.28 Messages from \
10.213.143.10 are rate limited, try again later (in reply to end of DATA command))
1795923792.100020 mx1 postfix/cleanup[3039]: 6C3D71B04E1: \
message-id=<0a1b2c3d4e5f00000003@example.test>
1795923792.108311 mx1 postfix/qmgr[3005]: 6C3D71B04E1: \
from=<bounces+erin=yahoo-like.test@example.test>, size=955, nrcpt=1 (queue active)
1795923792.701533 mx1 postfix/bulk/smtp[3045]: 6C3D71B04E1: to=<erin@yahoo-like.test>, \
relay=yahoo.yahoo-like.test[10.213.143.13]:25, delay=0.6, delays=0.01/0/0.05/0.54, dsn=5.7.26, \
status=bounced (host yahoo.yahoo-like.test[10.213.143.13] said: 550 5.7.26 Unauthenticated email \
from example.test is not accepted (in reply to end of DATA command))
1795923792.702810 mx1 postfix/cleanup[3039]: 6D4E81B04E3: \
message-id=<20261201120000.6D4E81B04E3@mx1.example.test>
1795923792.703004 mx1 postfix/bounce[3046]: 6C3D71B04E1: sender non-delivery notification: \
6D4E81B04E3
1795923792.703511 mx1 postfix/qmgr[3005]: 6C3D71B04E1: removed
1795923792.710300 mx1 postfix/qmgr[3005]: 6D4E81B04E3: from=<>, size=3012, nrcpt=1 (queue active)
1795923792.731120 mx1 postfix/lmtp[3047]: 6D4E81B04E3: \
to=<bounces+erin=yahoo-like.test@example.test>, relay=mx1.example.test[private/dovecot-lmtp], \
delay=0.03, delays=0.01/0/0/0.02, dsn=2.0.0, status=sent (250 2.0.0 \
<bounces+erin=yahoo-like.test@example.test> dK3pB8Ql3mUrAAAAm0d9Xw Saved)
1795923793.000100 mx1 postfix/cleanup[3039]: 7C3D51B04E2: \
message-id=<0a1b2c3d4e5f00000004@example.test>
1795923793.008000 mx1 postfix/qmgr[3005]: 7C3D51B04E2: \
from=<bounces+frank=yahoo-like.test@example.test>, size=961, nrcpt=1 (queue active)
1795923793.030400 mx1 postfix/bulk/smtp[3048]: 7C3D51B04E2: to=<frank@yahoo-like.test>, \
relay=none, delay=0.03, delays=0.01/0/0.02/0, dsn=4.4.2, status=deferred (lost connection with \
yahoo.yahoo-like.test[10.213.143.13] while receiving the initial server greeting)
1795923794.012000 mx1 postfix/error[3049]: 7C3D51B04E2: to=<frank@yahoo-like.test>, relay=none, \
delay=1, delays=1/0/0/0, dsn=4.7.0, status=deferred (delivery temporarily suspended: host \
yahoo.yahoo-like.test[10.213.143.13] refused to talk to me: 421 4.7.0 [TSS04] Messages from \
10.213.143.10 temporarily deferred due to unexpected volume or user complaints)
1795923794.500000 mx1 postfix/smtpd[3030]: NOQUEUE: reject: RCPT from unknown[10.213.143.99]: \
554 5.7.1 <x@y.test>: Relay access denied; from=<a@b.test> to=<x@y.test> proto=ESMTP helo=<b.test>
1795923795.300000 mx1 postfix/cleanup[3039]: 8A1B21B04F0: \
message-id=<0a1b2c3d4e5f00000006@example.test>
1795923795.308000 mx1 postfix/qmgr[3005]: 8A1B21B04F0: \
from=<bounces+heidi=outlook-like.test@example.test>, size=960, nrcpt=1 (queue active)
1795923795.400000 mx1 postfix/smtp[3050]: 8A1B21B04F0: to=<heidi@outlook-like.test>, \
relay=outlook.outlook-like.test[10.213.143.14]:25, delay=0.1, delays=0.01/0/0.04/0.05, \
dsn=2.0.0, status=sent (250 2.0.0 OK 1795923795390-c4-1)
1795923795.500000 mx1 postfix/cleanup[3039]: 8B2C31B04F1: \
message-id=<0a1b2c3d4e5f00000007@example.test>
1795923795.508000 mx1 postfix/qmgr[3005]: 8B2C31B04F1: \
from=<bounces+ivan=outlook-like.test@example.test>, size=958, nrcpt=1 (queue active)
1795923795.600000 mx1 postfix/smtp[3041]: 8B2C31B04F1: to=<ivan@outlook-like.test>, \
relay=127.0.0.1[127.0.0.1]:10025, delay=0.1, delays=0.01/0/0/0.09, dsn=2.0.0, status=sent (250 \
2.0.0 Ok: queued as 8E4F61B04F2)
1795923795.610000 mx1 postfix/cleanup[3039]: 8E4F61B04F2: \
message-id=<0a1b2c3d4e5f00000007@example.test>
1795923795.620000 mx1 postfix/qmgr[3005]: 8E4F61B04F2: \
from=<bounces+ivan=outlook-like.test@example.test>, size=1010, nrcpt=1 (queue active)
1795923825.700000 mx1 postfix/smtp[3052]: 8E4F61B04F2: to=<ivan@outlook-like.test>, relay=none, \
delay=30, delays=0.01/0/30/0, dsn=4.4.1, status=deferred (connect to \
outlook.outlook-like.test[10.213.143.14]:25: Connection timed out)
1795923796.000000 mx1 postfix/cleanup[3039]: 9A0B11B0500: \
message-id=<0a1b2c3d4e5f00000008@example.test>
1795923796.010000 mx1 postfix/qmgr[3005]: 9A0B11B0500: \
from=<bounces+judy=bigmail.test@example.test>, size=962, nrcpt=1 (queue active)
1795923796.200000 mx1 postfix/smtp[3053]: 9A0B11B0500: to=<judy@bigmail.test>, \
relay=gmail.bigmail.test[10.213.143.12]:25, delay=0.2, delays=0.01/0/0.05/0.14, dsn=4.7.1, \
status=deferred (host gmail.bigmail.test[10.213.143.12] said: 451 4.7.1 Greylisted, please try \
again later (in reply to RCPT TO command))
1795923855.305000 mx1 postfix/bulk/smtp[3051]: 6B2C41B04E0: to=<dave@bigmail.test>, \
relay=gmail.bigmail.test[10.213.143.12]:25, conn_use=2, delay=64, delays=64/0.01/0/0.3, \
dsn=4.4.2, status=deferred (lost connection with gmail.bigmail.test[10.213.143.12] while sending \
end of data -- message may be sent more than once)
1795923920.410000 mx1 postfix/bulk/smtp[3054]: 6B2C41B04E0: to=<dave@bigmail.test>, \
relay=gmail.bigmail.test[10.213.143.12]:25, delay=129, delays=129/0.01/0.05/0.06, dsn=2.0.0, \
status=sent (250 2.0.0 OK 1795923920380-c9-1)
1795923920.411000 mx1 postfix/qmgr[3005]: 6B2C41B04E0: removed
1795923990.000000 mx1 postfix/qmgr[3005]: 9A0B11B0500: \
from=<bounces+judy=bigmail.test@example.test>, status=expired, returned to sender
"""

POSTQUEUE = "\n".join(
    json.dumps(entry)
    for entry in (
        {
            "queue_name": "deferred",
            "queue_id": "7C3D51B04E2",
            "arrival_time": 1795923793,
            "message_size": 961,
            "forced_expire": False,
            "sender": "bounces+frank=yahoo-like.test@example.test",
            "recipients": [
                {
                    "address": "frank@yahoo-like.test",
                    "delay_reason": "delivery temporarily suspended: host "
                    "yahoo.yahoo-like.test[10.213.143.13] refused to talk to me: 421 4.7.0 "
                    "[TSS04] Messages from 10.213.143.10 temporarily deferred",
                }
            ],
        },
        {
            "queue_name": "deferred",
            "queue_id": "8E4F61B04F2",
            "arrival_time": 1795923795,
            "message_size": 1010,
            "forced_expire": False,
            "sender": "bounces+ivan=outlook-like.test@example.test",
            "recipients": [
                {
                    "address": "ivan@outlook-like.test",
                    "delay_reason": "connect to outlook.outlook-like.test[10.213.143.14]:25: "
                    "Connection timed out",
                }
            ],
        },
        {
            "queue_name": "active",
            "queue_id": "9F9F91B0600",
            "arrival_time": 1795923999,
            "message_size": 2900,
            "forced_expire": False,
            "sender": "",
            "recipients": [{"address": "postmaster@example.test"}],
        },
    )
)


def journal_line(
    receiver: str,
    offset: float,
    stage: str,
    reply: str,
    reason: str,
    *,
    connection: str = "c1",
    rcpts: tuple[str, ...] = (),
    token: str | None = None,
) -> dict[str, object]:
    """A journal line as the receiver writes it, from its own Attempt."""
    ts = dt.datetime.fromtimestamp(STARTED + offset, dt.UTC)
    sender = f"bounces+{rcpts[0].replace('@', '=')}@example.test" if rcpts else None
    parsed = Reply.parse(reply)
    attempt = Attempt(
        peer=Peer(connection, STACK_IP, 40112, "mx1.example.test" if stage != "connect" else None),
        stage=stage,
        reply=parsed,
        reason=reason,
        mail_from=sender if stage != "connect" else None,
        rcpts=rcpts,
        token=token,
        message_id=f"<{token}@example.test>" if token else None,
        size=963 if stage == "data" else None,
        stored=f"{round(ts.timestamp() * 1000)}-{connection}-1.eml" if parsed.code == 250 else None,
        ts=ts,
    )
    return attempt.as_json(receiver, "gmail-like")


GMAIL, YAHOO = "gmail.bigmail.test", "yahoo.yahoo-like.test"
OK = "250 2.0.0 OK stored"
JOURNALS = {
    "gmail": [
        # another run's line: before the start, so not this campaign's
        journal_line(GMAIL, -300, "data", OK, "accepted", rcpts=("carol@bigmail.test",), token=T1),
        journal_line(GMAIL, 10.55, "data", OK, "accepted", rcpts=("carol@bigmail.test",), token=T1),
        journal_line(
            GMAIL,
            11.2,
            "data",
            "451 4.7.28 Messages from 10.213.143.10 are rate limited",
            "rate-limit",
            connection="c2",
            rcpts=("dave@bigmail.test",),
            token=T2,
        ),
        journal_line(
            GMAIL,
            16.19,
            "rcpt",
            "451 4.7.1 Greylisted, please try again later",
            "greylist",
            connection="c3",
            rcpts=("judy@bigmail.test",),
        ),
        journal_line(
            GMAIL,
            75.30,
            "data",
            OK,
            "accepted",
            connection="c7",
            rcpts=("dave@bigmail.test",),
            token=T2,
        ),
        journal_line(
            GMAIL,
            140.38,
            "data",
            OK,
            "accepted",
            connection="c9",
            rcpts=("dave@bigmail.test",),
            token=T2,
        ),
        journal_line(
            GMAIL,
            20.0,
            "data",
            OK,
            "accepted",
            connection="c5",
            rcpts=("zed@bigmail.test",),
            token="ffffffffffffffff0001",
        ),
    ],
    "yahoo": [
        journal_line(
            YAHOO,
            12.69,
            "data",
            "550 5.7.26 Unauthenticated email from example.test is not accepted",
            "auth",
            rcpts=("erin@yahoo-like.test",),
            token=T3,
        ),
        journal_line(
            YAHOO,
            13.02,
            "connect",
            "421 4.7.0 Too many concurrent connections from 10.213.143.10",
            "connection-limit",
            connection="c2",
        ),
    ],
    "outlook": [],
}


@pytest.fixture
def report():
    return account(POSTFIX_LOG, JOURNALS, POSTQUEUE, ACCEPTED, RECEIVER_DOMAINS, STARTED)


def test_log_lines_become_typed_events():
    log = parse_postfix_log(POSTFIX_LOG.splitlines())
    assert (
        log.message_ids["5D1E21B04D2"] == log.message_ids["67EA91B04D4"] == (f"{T1}@example.test")
    )
    assert log.message_ids["6D4E81B04E3"] == "20261201120000.6D4E81B04E3@mx1.example.test"
    assert log.senders["6D4E81B04E3"] == ""
    assert log.expired == {"9A0B11B0500": "expired"}
    assert log.notifications == [("6C3D71B04E1", "sender non-delivery", "6D4E81B04E3")]
    by_qid = {(a.qid, a.status, a.reason): a for a in log.attempts}
    hop = by_qid["5D1E21B04D2", "sent", "250 2.0.0"]
    assert (hop.transport, hop.relay, hop.queued_as) == (
        "smtp",
        "127.0.0.1[127.0.0.1]:10025",
        "67EA91B04D4",
    )
    rate = by_qid["6B2C41B04E0", "deferred", "451 4.7.28"]
    assert (rate.transport, rate.recipient, rate.dsn, rate.code, rate.enhanced) == (
        "bulk",
        "dave@bigmail.test",
        "4.7.28",
        451,
        "4.7.28",
    )
    assert rate.time == pytest.approx(1795923791.210442)
    assert by_qid["6C3D71B04E1", "bounced", "550 5.7.26"].transport == "bulk"
    greeting = by_qid["7C3D51B04E2", "deferred", "connection lost"]
    assert (greeting.code, greeting.category, greeting.relay) == (None, "connection lost", "none")
    suspended = by_qid["7C3D51B04E2", "deferred", "421 4.7.0 (suspended)"]
    assert suspended.transport == "error"
    assert by_qid["8E4F61B04F2", "deferred", "timeout"].category == "timeout"
    assert len(log.attempts) == 13


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "host gmail-smtp-in.l.google.com[142.250.1.26] said: 550-5.7.26 This mail is "
            "unauthenticated 550-5.7.26 To protect 550 5.7.26 our users - gsmtp (in reply to "
            "end of DATA command)",
            "550 5.7.26",
        ),
        (
            "host x.test[10.0.0.1] refused to talk to me: 421 4.7.0 [TSS04] Messages from "
            "10.0.0.2 temporarily deferred",
            "421 4.7.0",
        ),
        ("host x.test[10.0.0.1] said: 550 User unknown (in reply to RCPT TO command)", "550"),
        ("connect to x.test[10.0.0.1]:25: Connection refused", "refused"),
        (
            "conversation with x.test[10.0.0.1] timed out while receiving the initial server "
            "greeting",
            "timeout",
        ),
        (
            "Host or domain name not found. Name service error for name=x.test type=MX: Host not "
            "found, try again",
            "dns",
        ),
        (
            "delivery temporarily suspended: connect to x.test[10.0.0.1]:25: Connection timed out",
            "timeout (suspended)",
        ),
        ("TLS is required, but was not offered by host x.test[10.0.0.1]", "tls"),
    ],
)
def test_reason_comes_from_the_reply_else_a_category(text, reason):
    line = (
        "1795923800.000001 mx1 postfix/smtp[1]: ABC123: to=<a@x.test>, relay=x.test[10.0.0.1]:25,"
        f" delay=1, delays=0/0/1/0, dsn=4.0.0, status=deferred ({text})"
    )
    [attempt] = parse_postfix_log([line]).attempts
    assert attempt.reason == reason


def test_postqueue_lines_become_queued_messages():
    entries = parse_postqueue([*POSTQUEUE.splitlines(), "not json", "{}"])
    assert [e.queue_id for e in entries] == ["7C3D51B04E2", "8E4F61B04F2", "9F9F91B0600"]
    assert entries[1].recipients[0][0] == "ivan@outlook-like.test"
    assert entries[2].recipients == (("postmaster@example.test", ""),)


def test_receiver_answer_reads_the_journal_schema():
    line = JOURNALS["yahoo"][1]
    answer = ReceiverAnswer.from_json("yahoo", line)
    assert (answer.stage, answer.rcpts, answer.token, answer.reason) == (
        "connect",
        (),
        None,
        "421 4.7.0",
    )
    assert answer.time == pytest.approx(STARTED + 13.02)


def test_every_token_is_in_exactly_one_place(report):
    totals = report.totals
    assert totals.accepted == len(ACCEPTED) == 8
    assert (totals.delivered, totals.bounced, totals.queued, totals.missing) == (2, 2, 2, 2)
    assert list(report.destinations) == [
        "bigmail.test",
        "outlook-like.test",
        "yahoo-like.test",
        UNKNOWN,
    ]


def test_bigmail_deliveries_duplicates_deferrals_and_expiry(report):
    big = report.destinations["bigmail.test"]
    assert (big.accepted, big.delivered, big.duplicates, big.bounced, big.missing) == (
        3,
        2,
        1,
        1,
        0,
    )
    assert big.deferred_stack == {"451 4.7.28": 1, "connection lost": 1, "451 4.7.1": 1}
    assert big.deferred_receivers == {"451 4.7.28": 1, "451 4.7.1": 1}
    assert big.bounced_reasons == {"expired": 1}
    # first copies only: the duplicate at +140 s is not the last delivery
    assert big.last_delivery_s == pytest.approx(75.30)
    assert (big.sent_unconfirmed, big.delivered_unlogged) == (0, 0)


def test_yahoo_bounce_queue_and_connection_stage_deferral(report):
    yahoo = report.destinations["yahoo-like.test"]
    assert (yahoo.accepted, yahoo.bounced, yahoo.queued, yahoo.missing) == (2, 1, 1, 0)
    assert yahoo.bounced_reasons == {"550 5.7.26": 1}
    assert yahoo.queued_reasons == {"421 4.7.0 (suspended)": 1}
    assert yahoo.deferred_stack == {"connection lost": 1, "421 4.7.0 (suspended)": 1}
    # the 421 at connect carries no token and no rcpts: the receiver's first domain
    assert yahoo.deferred_receivers == {"421 4.7.0": 1}
    assert yahoo.last_delivery_s is None


def test_sent_without_receiver_record_and_a_filter_hop(report):
    outlook = report.destinations["outlook-like.test"]
    # T6 was sent but no receiver saw it; T7's hop into the filter is not a delivery
    assert (outlook.sent_unconfirmed, outlook.missing_tokens) == (1, [T6])
    assert (outlook.queued, outlook.queued_reasons) == (1, {"timeout": 1})
    assert outlook.deferred_stack == {"timeout": 1}
    assert report.destinations[UNKNOWN].missing_tokens == [T5]


def test_foreign_mail_is_counted_apart(report):
    assert report.other == {
        "messages": 1,
        "sender non-delivery notifications": 1,
        "queued": 1,
        "foreign deliveries": 1,
    }


def test_to_json_is_plain_json(report):
    data = json.loads(json.dumps(report.to_json()))
    assert set(data) == {"started", "destinations", "totals", "other"}
    big = data["destinations"]["bigmail.test"]
    assert big["timeline"] == {
        "delivered": [[10, 1], [75, 1]],
        "deferred_stack": [[11, 1], [16, 1], [75, 1]],
        "deferred_receivers": [[11, 1], [16, 1]],
    }
    assert big["deferred_stack"] == {"451 4.7.28": 1, "connection lost": 1, "451 4.7.1": 1}
    assert big["last_delivery_s"] == 75.3
    totals = data["totals"]
    assert totals["missing"] == 2
    assert sorted(totals["missing_tokens"]) == [T5, T6]
    assert totals["timeline"]["delivered"] == [[10, 1], [75, 1]]
    assert totals["last_delivery_s"] == 75.3
    assert data["destinations"][UNKNOWN]["last_delivery_s"] is None


def test_delivery_the_stack_did_not_log():
    journals = {
        "gmail": [
            journal_line(GMAIL, 3, "data", OK, "accepted", rcpts=("carol@bigmail.test",), token=T1)
        ]
    }
    report = account("", journals, "", {T1: STARTED}, RECEIVER_DOMAINS, STARTED)
    big = report.destinations["bigmail.test"]
    assert (big.accepted, big.delivered, big.delivered_unlogged, big.missing) == (1, 1, 1, 0)


def test_table_and_plot(report, tmp_path):
    run = {"kind": "run", "name": "ob", "outbound": report.to_json()}
    table = outbound_report_table(run)
    text = " ".join(c.text for row in table.rows for c in row) + table.note
    for name in ("bigmail.test", "yahoo-like.test", UNKNOWN, "total", "duplicates 1"):
        assert name in text
    assert "75.3" in text
    png = plot_deliveries(report.to_json(), tmp_path / "plots" / "outbound.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_line_that_is_not_the_journal_schema_is_named():
    journals = {"gmail": [{"ts": "2026-11-30T10:00:00Z", "stage": "data"}]}
    with pytest.raises(BenchError, match=r"receiver gmail: journal line 1 .*KeyError: 'code'"):
        account("", journals, "", {}, RECEIVER_DOMAINS, STARTED)


def _outbound_run(missing: int, queued: int) -> dict[str, Any]:
    totals = {
        "missing": missing,
        "missing_tokens": ["t1"] * missing,
        "queued": queued,
        "queued_reasons": {"421 4.7.0": queued} if queued else {},
    }
    return {
        "outcomes": {"attempted": 5, "accepted": 5, "balanced": True},
        "outbound": {"totals": totals, "timeout_s": 300.0},
    }


def test_an_outbound_run_fails_on_a_lost_or_still_queued_message() -> None:
    assert shortfall("ob", _outbound_run(0, 0), None) is None  # type: ignore[arg-type]
    lost = shortfall("ob", _outbound_run(1, 0), None)  # type: ignore[arg-type]
    assert lost is not None
    assert "neither delivered, bounced nor queued" in lost
    late = shortfall("ob", _outbound_run(0, 2), None)  # type: ignore[arg-type]
    assert late is not None
    assert "2 messages still queued" in late
    assert "--drain-timeout" in late
