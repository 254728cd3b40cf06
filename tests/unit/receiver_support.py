"""A real receiver on 127.0.0.1 (ephemeral port) in an event-loop thread of its own, a client
that reports the decisive reply, and a lab-like DNS table with a DKIM key."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib
import dkim
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from harness.receiver import Config, Receiver, StaticResolver, config_from_mapping
from harness.smtp.message import TOKEN_HEADER, TokenMessage, token_message

HOSTNAME = "mx.bigmail.test"
HELO = "mx1.example.test"


def receiver_config(tmp_path: Path, profile: dict[str, Any], **extra: Any) -> Config:
    data: dict[str, Any] = {
        "hostname": HOSTNAME,
        "listen": {"host": "127.0.0.1", "port": 0},
        "journal": str(tmp_path / "journal.jsonl"),
        "store": str(tmp_path / "store"),
        "seed": 7,
        "profile": {"name": "test", **profile},
    }
    data.update(extra)
    return config_from_mapping(data)


class RunningReceiver:
    """``with RunningReceiver(config, resolver) as rx:`` then ``rx.port``, ``rx.journal()``."""

    def __init__(self, config: Config, resolver: StaticResolver | None = None) -> None:
        self.config = config
        self.receiver = Receiver(config, resolver=resolver or StaticResolver({}))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> RunningReceiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self._loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def port(self) -> int:
        return self.receiver.port

    def journal(self) -> list[dict[str, Any]]:
        text = self.config.journal.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]


@dataclass(frozen=True)
class Answer:
    code: int
    text: str


def client(port: int, **options: Any) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=port,
        local_hostname=HELO,
        start_tls=False,
        timeout=5,
        **options,
    )


async def send(smtp: aiosmtplib.SMTP, sender: str, rcpts: list[str], data: bytes) -> Answer:
    """One message on an open connection: the reply that decided it (250, or the refusal)."""
    try:
        await smtp.mail(sender)
        for rcpt in rcpts:
            await smtp.rcpt(rcpt)
        response = await smtp.data(data)
    except aiosmtplib.SMTPResponseException as exc:
        if smtp.is_connected:
            await smtp.rset()
        return Answer(exc.code, exc.message)
    return Answer(response.code, response.message)


async def send_one(port: int, sender: str, rcpts: list[str], data: bytes) -> Answer:
    """One message on a fresh connection."""
    smtp = client(port)
    await smtp.connect()
    try:
        return await send(smtp, sender, rcpts, data)
    finally:
        if smtp.is_connected:
            await smtp.quit()


def message(sender: str = "news@example.test", rcpt: str = "u1@bigmail.test") -> TokenMessage:
    return token_message(sender, [rcpt], "Campaign", body_bytes=256)


@dataclass(frozen=True)
class DkimKey:
    selector: str
    domain: str
    private_pem: bytes
    public_b64: str

    def sign(self, data: bytes) -> bytes:
        headers = [
            b"from",
            b"to",
            b"subject",
            b"date",
            b"message-id",
            TOKEN_HEADER.lower().encode(),
        ]
        signature = dkim.sign(
            data,
            self.selector.encode(),
            self.domain.encode(),
            self.private_pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=headers,
        )
        return bytes(signature) + data

    @property
    def record(self) -> str:
        return f"v=DKIM1; k=rsa; p={self.public_b64}"


def new_dkim_key(domain: str = "example.test", selector: str = "sel", bits: int = 2048) -> DkimKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption())
    public_der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return DkimKey(selector, domain, private_pem, base64.b64encode(public_der).decode())


def lab_dns(key: DkimKey, failing: tuple[str, ...] = ()) -> StaticResolver:
    """example.test: SPF for 127.0.0.1, DMARC p=none, the DKIM key. other.test: DMARC only."""
    return StaticResolver(
        {
            (f"{key.selector}._domainkey.{key.domain}", "TXT"): [key.record],
            ("example.test", "TXT"): ["v=spf1 ip4:127.0.0.1 -all", "google-site-verification=x"],
            ("_dmarc.example.test", "TXT"): ["v=DMARC1; p=none; rua=mailto:d@example.test"],
            ("_dmarc.other.test", "TXT"): ["v=DMARC1; p=reject"],
        },
        failing=failing,
    )
