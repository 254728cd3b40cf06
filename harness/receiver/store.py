"""The store: every accepted message as one .eml file (one per message, not per recipient).

The file is the message as received with three kinds of lines prepended: ``Return-Path``, one
``X-Envelope-To`` per accepted recipient, and ``Authentication-Results`` (RFC 8601). It is written
under a temporary name, fsynced and renamed, so a listed file is always whole.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["Store"]


class Store:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory

    def save(
        self, name: str, raw: bytes, *, mail_from: str, rcpts: tuple[str, ...], auth_header: str
    ) -> str:
        """Write ``name`` (a bare file name) and return it."""
        sender = "" if mail_from == "<>" else mail_from
        lines = [f"Return-Path: <{sender}>"]
        lines += [f"X-Envelope-To: <{rcpt}>" for rcpt in rcpts]
        lines.append(auth_header)
        head = ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")
        final = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        with temporary.open("wb") as out:
            out.write(head)
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(final)
        return name
