"""One fuzz connection over asyncio streams: open (implicit TLS or not), write, read a line,
upgrade with STARTTLS, and the three ways to leave: a FIN, a FIN without TLS close_notify, an
RST. Reads have no timer of their own: the drivers bound each step and each case."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct

from harness.fuzz.target import FuzzTarget

__all__ = ["LINE_LIMIT", "OverlongLineError", "ServerClosedError", "Wire", "client_hello"]

#: The longest reply line read whole; a longer one is a finding, not a hang.
LINE_LIMIT = 256 * 1024
_CLOSE_WAIT = 1.0


class ServerClosedError(ConnectionError):
    """The server closed the connection (end of stream) while the case still had work to do."""


class OverlongLineError(ValueError):
    """A reply line longer than ``LINE_LIMIT``: dropped unread."""


def client_hello(target: FuzzTarget) -> bytes:
    """The first flight of a TLS handshake to ``target`` (a ClientHello), made in memory, so a
    case can send part of it and hang up."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = target.tls_context().wrap_bio(incoming, outgoing, server_hostname=target.server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


class Wire:
    """A connection to ``target``; ``tls`` says whether it is encrypted now."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        target: FuzzTarget,
        *,
        tls: bool,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.target = target
        self.tls = tls
        self.eof = False
        self.sent = 0

    @classmethod
    async def open(cls, target: FuzzTarget, timeout: float) -> Wire:
        ctx = target.tls_context() if target.implicit_tls else None
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                target.host,
                target.port,
                ssl=ctx,
                server_hostname=target.server_name if ctx else None,
                ssl_handshake_timeout=timeout if ctx else None,
                limit=LINE_LIMIT,
            )
        return cls(reader, writer, target, tls=ctx is not None)

    async def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise ServerClosedError("the connection is already closed")
        self.writer.write(data)
        await self.writer.drain()
        self.sent += len(data)

    async def readline(self) -> bytes:
        """The next line with its line end; without one when the server closed after it.
        Raises ServerClosedError at the end of the stream, OverlongLineError past LINE_LIMIT."""
        if self.eof:
            raise ServerClosedError("the server closed the connection")
        try:
            raw = await self.reader.readline()
        except ValueError as exc:
            raise OverlongLineError(f"a reply line longer than {LINE_LIMIT} bytes") from exc
        if not raw.endswith(b"\n"):
            self.eof = True
            if not raw:
                raise ServerClosedError("the server closed the connection")
        return raw

    async def read_exactly(self, size: int) -> bytes:
        try:
            return await self.reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            self.eof = True
            raise ServerClosedError("the server closed the connection mid-literal") from exc

    async def start_tls(self, timeout: float) -> None:
        await self.writer.start_tls(
            self.target.tls_context(),
            server_hostname=self.target.server_name,
            ssl_handshake_timeout=timeout,
        )
        self.tls = True

    def abort(self, *, rst: bool) -> None:
        """Drop the connection now: no QUIT, no TLS close_notify; an RST when ``rst``."""
        if rst:
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def close(self) -> None:
        """A FIN, after close_notify under TLS; an abort when the peer does not let go."""
        self.writer.close()
        try:
            async with asyncio.timeout(_CLOSE_WAIT):
                await self.writer.wait_closed()
        except (TimeoutError, OSError, ssl.SSLError, RuntimeError):
            self.writer.transport.abort()
