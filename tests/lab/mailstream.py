"""A steady stream of submissions while something changes on the server, and the accounting
of every message afterwards: what a real client does (retry a 4xx or a dropped connection
until the server says 250) and what the promise is (every 250 delivered exactly once)."""

from __future__ import annotations

import asyncio
import email
import re
import threading
import time
from dataclasses import dataclass, field

import aiosmtplib

from harness.dns.records import parse_tags
from harness.smtp.message import TOKEN_HEADER, token_message
from harness.verify.mail import TargetIMAP, submit
from harness.verify.targets import Target

__all__ = ["Delivered", "SubmissionStream", "delivered_by_token"]


@dataclass
class SubmissionStream:
    """Submits one message every ``interval`` seconds on a thread until stopped."""

    target: Target
    interval: float = 0.5
    accepted: list[str] = field(default_factory=list)
    retries: int = 0
    refused: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def _run(self) -> None:
        acc = self.target.accounts
        while not self._stop.is_set():
            msg = token_message(acc.mailbox, [acc.mailbox], "stream", 512)
            while True:  # until a 250, as a real client retries a 4xx
                try:
                    errors = asyncio.run(submit(self.target, acc.mailbox, acc.password, msg))
                except (aiosmtplib.SMTPException, OSError) as exc:
                    code = getattr(exc, "code", 0)
                    if 500 <= code < 600:
                        self.refused.append(f"{msg.token}: {exc}")
                        break
                    self.retries += 1
                    time.sleep(1)
                    continue
                if errors:
                    self.refused.append(f"{msg.token}: {errors}")
                else:
                    self.accepted.append(msg.token)
                break
            self._stop.wait(self.interval)


@dataclass(frozen=True)
class Delivered:
    """One stored copy: the selectors of its DKIM-Signatures by domain."""

    signatures: tuple[tuple[str, str], ...]


def delivered_by_token(target: Target) -> dict[str, list[Delivered]]:
    """Every message in the target's test mailbox that carries a token, by token."""
    acc = target.accounts
    found: dict[str, list[Delivered]] = {}
    with TargetIMAP(target, acc.mailbox, acc.password) as imap:
        imap.imap.noop()
        fields = f"({TOKEN_HEADER} DKIM-Signature)"
        status, data = imap.imap.fetch("1:*", f"(BODY.PEEK[HEADER.FIELDS {fields}])")
        assert status == "OK", data
        for part in data:
            if not isinstance(part, tuple):
                continue
            headers = email.message_from_bytes(part[1])
            token = str(headers.get(TOKEN_HEADER, "")).strip()
            if not token:
                continue
            sigs = tuple(
                (tags.get("d", ""), tags.get("s", ""))
                for tags in (
                    parse_tags(re.sub(r"\s+", " ", str(v)))
                    for v in headers.get_all("DKIM-Signature") or []
                )
            )
            found.setdefault(token, []).append(Delivered(sigs))
    return found
