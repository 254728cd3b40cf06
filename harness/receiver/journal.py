"""The journal: one JSON line per decided attempt, flushed (and fsynced before any 250).

A line (README.md beside this file has the full schema)::

    {"ts": "2025-06-01T12:00:00.123456Z", "receiver": "mx.bigmail.test",
     "profile": "gmail-like", "connection": "c17", "client_ip": "172.30.0.10",
     "client_port": 40112, "helo": "mx1.example.test", "tls": true, "stage": "data",
     "mail_from": "bounces@example.test", "rcpts": ["u1@bigmail.test"],
     "code": 250, "enhanced": "2.0.0", "text": "OK ...", "outcome": "accepted",
     "reason": "accepted", "token": "3f0c...", "message_id": "<...>", "size": 2048,
     "auth": {...}, "stored": "1717243200123-c17-1.eml"}
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .replies import Reply
from .results import AuthResults

__all__ = ["Attempt", "Journal", "Peer"]


@dataclass(frozen=True)
class Peer:
    """The connection an attempt came on."""

    connection: str
    ip: str
    port: int
    helo: str | None = None
    tls: bool = False


@dataclass(frozen=True)
class Attempt:
    """One decision the receiver answered with ``reply`` at ``stage`` (connect, mail, rcpt,
    data), and why (``reason``: accepted, connection-limit, messages-per-connection, rate-limit,
    greylist, auth, auth-temperror)."""

    peer: Peer
    stage: str
    reply: Reply
    reason: str
    mail_from: str | None = None
    rcpts: tuple[str, ...] = ()
    token: str | None = None
    message_id: str | None = None
    size: int | None = None
    auth: AuthResults | None = None
    stored: str | None = None
    ts: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def as_json(self, receiver: str, profile: str) -> dict[str, Any]:
        return {
            "ts": self.ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "receiver": receiver,
            "profile": profile,
            "connection": self.peer.connection,
            "client_ip": self.peer.ip,
            "client_port": self.peer.port,
            "helo": self.peer.helo,
            "tls": self.peer.tls,
            "stage": self.stage,
            "mail_from": self.mail_from,
            "rcpts": list(self.rcpts),
            "code": self.reply.code,
            "enhanced": self.reply.enhanced,
            "text": self.reply.text,
            "outcome": self.reply.outcome,
            "reason": self.reason,
            "token": self.token,
            "message_id": self.message_id,
            "size": self.size,
            "auth": self.auth.as_json() if self.auth else None,
            "stored": self.stored,
        }


class Journal:
    """Appends lines to ``path`` from the event loop and from worker threads alike."""

    def __init__(self, path: Path, *, receiver: str, profile: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.receiver = receiver
        self.profile = profile
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")

    def record(self, attempt: Attempt, *, durable: bool) -> None:
        """Write one line and flush it; ``durable`` also fsyncs (every 250 is durable first)."""
        line = json.dumps(attempt.as_json(self.receiver, self.profile), ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            if durable:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            self._file.close()
