"""The provider-like receiver, end to end on 127.0.0.1: a real aiosmtpd server in-process, driven
by aiosmtplib and smtplib; DNS answers come from a StaticResolver handed to it."""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections import Counter

import aiosmtplib
import pytest

from harness.lab.pki import LabCA
from harness.receiver.message import TOKEN_HEADER as RECEIVER_TOKEN_HEADER
from harness.receiver.state import Slowness
from harness.smtp import message as harness_message
from tests.unit.receiver_support import (
    HELO,
    HOSTNAME,
    RunningReceiver,
    client,
    message,
    receiver_config,
    send,
    send_one,
)

SENDER = "bounces@example.test"


@pytest.fixture
def tls_files(tmp_path):
    """A certificate for mx.bigmail.test from a lab CA, as PEM files."""
    issued = LabCA(tmp_path / "pki", "receiver-test", "http://pki.example.test/ca.crl").issue(
        HOSTNAME
    )
    return issued.certificate, issued.private_key


def test_token_header_is_the_harness_one():
    assert RECEIVER_TOKEN_HEADER == harness_message.TOKEN_HEADER


def test_connection_limit_answers_421_in_place_of_the_greeting(tmp_path):
    profile = {"connections": {"max_per_ip": 2, "reply": "421 4.7.0 Too many from {client_ip}"}}

    async def scenario(port):
        first, second = client(port), client(port)
        await first.connect()
        await second.connect()
        with pytest.raises(aiosmtplib.SMTPConnectResponseError) as refused:
            await client(port).connect()
        await first.quit()
        await asyncio.sleep(0.05)  # the server sees the close
        third = client(port)
        await third.connect()  # a freed slot is usable again
        await third.quit()
        await second.quit()
        return refused.value

    with RunningReceiver(receiver_config(tmp_path, profile)) as rx:
        refused = asyncio.run(scenario(rx.port))
        journal = rx.journal()
    assert refused.code == 421
    assert "4.7.0 Too many from 127.0.0.1" in refused.message
    [line] = journal
    assert line["stage"] == "connect"
    assert (line["code"], line["enhanced"], line["outcome"]) == (421, "4.7.0", "deferred")
    assert line["reason"] == "connection-limit"
    assert line["client_ip"] == "127.0.0.1"


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_rate_limit_defers_with_4_7_28_then_accepts_after_waiting(tmp_path, stage):
    profile = {"rate": {"per_second": 20, "burst": 1, "stage": stage}}
    messages = [message() for _ in range(3)]

    async def scenario(port):
        smtp = client(port)
        await smtp.connect()
        answers = [
            await send(smtp, SENDER, ["u1@bigmail.test"], m.as_bytes()) for m in messages[:2]
        ]
        await asyncio.sleep(0.1)  # two tokens' worth at 20/s
        answers.append(await send(smtp, SENDER, ["u1@bigmail.test"], messages[2].as_bytes()))
        await smtp.quit()
        return answers

    with RunningReceiver(receiver_config(tmp_path, profile)) as rx:
        answers = asyncio.run(scenario(rx.port))
        journal = rx.journal()
    assert [a.code for a in answers] == [250, 451, 250]
    assert answers[1].text.startswith("4.7.28 Messages from 127.0.0.1 are rate limited")
    deferred = [line for line in journal if line["outcome"] == "deferred"]
    assert [(d["stage"], d["reason"], d["enhanced"]) for d in deferred] == [
        (stage, "rate-limit", "4.7.28")
    ]
    # At end of DATA the deferral carries the message's token; at RCPT there is no message yet.
    assert deferred[0]["token"] == (messages[1].token if stage == "data" else None)
    accepted = [line["token"] for line in journal if line["outcome"] == "accepted"]
    assert accepted == [messages[0].token, messages[2].token]


def test_rate_limit_at_mail_with_421_closes_the_connection(tmp_path):
    profile = {
        "rate": {"per_second": 0.01, "burst": 1, "stage": "mail", "reply": "421 4.7.0 [TSS04] x"}
    }
    with RunningReceiver(receiver_config(tmp_path, profile)) as rx:
        smtp = smtplib.SMTP("127.0.0.1", rx.port, local_hostname=HELO, timeout=5)
        assert smtp.sendmail(SENDER, ["u1@bigmail.test"], message().as_bytes()) == {}
        code, text = smtp.docmd("MAIL FROM:<bounces@example.test>")
        assert (code, text) == (421, b"4.7.0 [TSS04] x")
        assert smtp.sock is not None
        assert smtp.sock.recv(1) == b""  # the server closed the connection
        smtp.close()
        assert rx.journal()[-1]["stage"] == "mail"


def test_greylisting_defers_the_first_attempt_and_accepts_a_retry_after_the_delay(tmp_path):
    profile = {"greylist": {"retry_min_seconds": 0.3}}
    msg = message()

    async def scenario(port):
        answers = [await send_one(port, SENDER, ["u1@bigmail.test"], msg.as_bytes())]
        answers.append(await send_one(port, SENDER, ["u1@bigmail.test"], msg.as_bytes()))
        await asyncio.sleep(0.35)
        answers.append(await send_one(port, SENDER, ["u1@bigmail.test"], msg.as_bytes()))
        # Once passed, a triplet is not greylisted again; a new recipient is.
        answers.append(await send_one(port, SENDER, ["u1@bigmail.test"], msg.as_bytes()))
        answers.append(await send_one(port, SENDER, ["u2@bigmail.test"], msg.as_bytes()))
        return answers

    with RunningReceiver(receiver_config(tmp_path, profile)) as rx:
        answers = asyncio.run(scenario(rx.port))
        journal = rx.journal()
    assert [a.code for a in answers] == [451, 451, 250, 250, 451]
    assert answers[0].text.startswith("4.7.1 Greylisted")
    assert [(line["stage"], line["reason"], line["rcpts"]) for line in journal] == [
        ("rcpt", "greylist", ["u1@bigmail.test"]),
        ("rcpt", "greylist", ["u1@bigmail.test"]),
        ("data", "accepted", ["u1@bigmail.test"]),
        ("data", "accepted", ["u1@bigmail.test"]),
        ("rcpt", "greylist", ["u2@bigmail.test"]),
    ]


def test_per_connection_cap_answers_421_to_the_next_mail_and_closes(tmp_path):
    profile = {"connections": {"max_messages": 2}}
    with RunningReceiver(receiver_config(tmp_path, profile)) as rx:
        smtp = smtplib.SMTP("127.0.0.1", rx.port, local_hostname=HELO, timeout=5)
        for _ in range(2):
            assert smtp.sendmail(SENDER, ["u1@bigmail.test"], message().as_bytes()) == {}
        code, text = smtp.docmd("MAIL FROM:<bounces@example.test>")
        assert code == 421
        assert text.startswith(b"4.7.0 Too many messages in this connection")
        assert smtp.sock is not None
        assert smtp.sock.recv(1) == b""
        smtp.close()
        # Postfix reconnects: a new connection starts a new count.
        again = smtplib.SMTP("127.0.0.1", rx.port, local_hostname=HELO, timeout=5)
        assert again.sendmail(SENDER, ["u1@bigmail.test"], message().as_bytes()) == {}
        again.quit()
        journal = rx.journal()
    assert [(line["stage"], line["code"], line["reason"]) for line in journal] == [
        ("data", 250, "accepted"),
        ("data", 250, "accepted"),
        ("mail", 421, "messages-per-connection"),
        ("data", 250, "accepted"),
    ]
    assert journal[2]["mail_from"] == SENDER
    assert journal[2]["connection"] == journal[0]["connection"] != journal[3]["connection"]


def test_journal_accounts_for_every_token(tmp_path):
    """Greylisting and rate limiting at end of DATA, so every attempt's line names its token:
    each token ends accepted once, and the deferrals can be counted by code."""
    profile = {
        "greylist": {"retry_min_seconds": 0.05, "stage": "data"},
        "rate": {"per_second": 50, "burst": 2, "stage": "data"},
    }
    messages = [message(rcpt=f"u{i}@bigmail.test") for i in range(4)]

    async def scenario(port):
        pending, attempts = list(messages), 0
        while pending:
            smtp = client(port)
            await smtp.connect()
            still = []
            for m in pending:
                attempts += 1
                answer = await send(smtp, SENDER, [m.message["To"]], m.as_bytes())
                if answer.code != 250:
                    still.append(m)
            await smtp.quit()
            pending = still
            await asyncio.sleep(0.06)
        return attempts

    with RunningReceiver(receiver_config(tmp_path, profile)) as rx:
        attempts = asyncio.run(scenario(rx.port))
        journal = rx.journal()
    assert len(journal) == attempts
    tokens = {m.token for m in messages}
    assert {line["token"] for line in journal} == tokens
    accepted = Counter(line["token"] for line in journal if line["outcome"] == "accepted")
    assert accepted == dict.fromkeys(tokens, 1)
    by_code = Counter(
        (line["code"], line["enhanced"]) for line in journal if line["outcome"] == "deferred"
    )
    assert by_code[(451, "4.7.1")] == 4  # every message's first attempt
    assert sum(by_code.values()) == attempts - 4
    for line in journal:
        assert line["stage"] == "data"
        assert line["message_id"]
        assert line["size"] > 0
        assert line["helo"] == HELO
    stored = sorted(p.name for p in (tmp_path / "store").iterdir())
    assert stored == sorted(line["stored"] for line in journal if line["stored"])


def test_slow_replies_come_from_a_seeded_rng(tmp_path):
    one, two, other = Slowness(0.3, 0.5, 7), Slowness(0.3, 0.5, 7), Slowness(0.3, 0.5, 8)
    draws = [one.draw() for _ in range(50)]
    assert draws == [two.draw() for _ in range(50)]
    assert draws != [other.draw() for _ in range(50)]
    assert set(draws) == {0.0, 0.5}
    assert {Slowness(0.0, 5, 1).draw() for _ in range(20)} == {0.0}
    # Through the server: every reply delayed a little, the mail still goes through.
    profile = {"slow": {"probability": 1, "delay_seconds": 0.01}}
    with RunningReceiver(receiver_config(tmp_path, profile)) as rx:
        started = time.monotonic()
        answer = asyncio.run(send_one(rx.port, SENDER, ["u1@bigmail.test"], message().as_bytes()))
        assert time.monotonic() - started >= 0.03  # MAIL, RCPT and DATA each waited
    assert answer.code == 250


def test_starttls_is_offered_when_the_config_names_a_certificate(tmp_path, tls_files):
    cert, key = tls_files

    async def scenario(port):
        smtp = client(port, validate_certs=False)
        await smtp.connect()
        await smtp.ehlo()
        offered = smtp.supports_extension("starttls")
        await smtp.starttls()
        answer = await send(smtp, SENDER, ["u1@bigmail.test"], message().as_bytes())
        await smtp.quit()
        return offered, answer

    config = receiver_config(tmp_path, {}, tls={"cert": str(cert), "key": str(key)})
    with RunningReceiver(config) as rx:
        offered, answer = asyncio.run(scenario(rx.port))
        journal = rx.journal()
    assert offered
    assert answer.code == 250
    assert journal[0]["tls"] is True


def test_no_starttls_without_a_certificate(tmp_path):
    async def scenario(port):
        smtp = client(port)
        await smtp.connect()
        await smtp.ehlo()
        offered = smtp.supports_extension("starttls")
        await smtp.quit()
        return offered

    with RunningReceiver(receiver_config(tmp_path, {})) as rx:
        assert asyncio.run(scenario(rx.port)) is False
