"""A line-level SMTP client for what well-behaved libraries refuse to send: over-long lines,
garbage commands, bare <LF> line endings, AUTH before STARTTLS."""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass

__all__ = ["Reply", "SMTPDialogue"]


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def keywords(self) -> set[str]:
        """EHLO extension keywords (upper case, first word of each line after the greeting)."""
        return {line.split()[0].upper() for line in self.lines[1:] if line.split()}

    def param(self, keyword: str) -> str | None:
        for line in self.lines[1:]:
            words = line.split()
            if words and words[0].upper() == keyword.upper():
                return " ".join(words[1:])
        return None


class SMTPDialogue:
    """One SMTP connection, spoken line by line; every read has a timeout."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 30.0,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        raw = socket.create_connection((host, port), timeout=timeout)
        self.sock: socket.socket = tls.wrap_socket(raw, server_hostname=server_name) if tls else raw
        self.sock.settimeout(timeout)
        self._buf = b""
        self.banner = self.read()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> SMTPDialogue:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _line(self) -> bytes:
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def read(self) -> Reply:
        lines = []
        while True:
            line = self._line().decode(errors="replace")
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return Reply(int(line[:3]), tuple(lines))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def cmd(self, line: str | bytes) -> Reply:
        data = line.encode() if isinstance(line, str) else line
        self.send_raw(data + b"\r\n")
        return self.read()

    def starttls(self, ctx: ssl.SSLContext, server_name: str) -> Reply:
        reply = self.cmd("STARTTLS")
        if reply.code == 220:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_name)
            self._buf = b""
        return reply
