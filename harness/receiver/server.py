"""The listening receiver: an aiosmtpd SMTP per connection, with the per-IP connection limit
and RFC 5321's "421 closes the channel" added.

aiosmtpd 1.4.4 (Debian 12) and later: ``SMTP`` is an asyncio protocol, so the connection limit
lives in ``connection_made``/``connection_lost`` (a refused client gets the profile's 421 in
place of the greeting, then the connection closes) and no private aiosmtpd API is used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
from collections.abc import Callable
from typing import AnyStr

from aiosmtpd.smtp import SMTP

from .config import Config, TlsFiles
from .handler import ProviderHandler
from .journal import Attempt, Peer
from .lookup import DnspythonResolver, Resolver
from .state import ReceiverState

__all__ = ["Receiver", "ReceiverSMTP", "tls_context"]


class ReceiverSMTP(SMTP):
    def __init__(
        self,
        state: ReceiverState,
        tls: ssl.SSLContext | None,
        loop: asyncio.AbstractEventLoop,
        open_transports: set[asyncio.BaseTransport],
    ) -> None:
        self.state = state
        self.conn = state.new_connection()
        self._open_transports = open_transports
        self._started = False
        self._counted = False
        self._refused = False
        self._raw_transport: asyncio.BaseTransport | None = None
        super().__init__(
            ProviderHandler(state, self.conn),
            hostname=state.config.hostname,
            ident=f"ESMTP receiver ({state.profile.name})",
            tls_context=tls,
            require_starttls=False,
            data_size_limit=state.config.data_size_limit,
            enable_SMTPUTF8=True,  # as the big providers do; Postfix uses it for UTF-8 addresses
            loop=loop,
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._started:  # STARTTLS: the same protocol, now on the TLS transport
            super().connection_made(transport)
            return
        self._started = True
        self.conn.ip, self.conn.port = client_address(transport.get_extra_info("peername"))
        if not self.state.connections.acquire(self.conn.ip):
            self._refuse(transport)
            return
        self._counted = True
        self._raw_transport = transport
        self._open_transports.add(transport)
        super().connection_made(transport)

    def _refuse(self, transport: asyncio.BaseTransport) -> None:
        """The profile's 421 in place of the greeting, journalled first, then close."""
        self._refused = True
        reply = self.state.render(self.state.profile.connections.reply, self.conn)
        peer = Peer(connection=self.conn.id, ip=self.conn.ip, port=self.conn.port)
        attempt = Attempt(peer=peer, stage="connect", reply=reply, reason="connection-limit")
        self.state.journal.record(attempt, durable=False)
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(f"{reply}\r\n".encode())
        transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:  # never handed to aiosmtpd
            return
        if self._counted:
            self._counted = False
            self.state.connections.release(self.conn.ip)
            self._open_transports.discard(self._raw_transport)
        super().connection_lost(error)

    async def push(self, status: AnyStr) -> None:
        await super().push(status)
        text = status.decode("ascii", "replace") if isinstance(status, bytes) else status
        if text.startswith("421 ") and self.transport is not None:
            self.transport.close()


def client_address(peername: object) -> tuple[str, int]:
    """(ip, port) of a peer; IPv4-mapped IPv6 (``::ffff:192.0.2.1``) as plain IPv4 for SPF."""
    if not isinstance(peername, tuple) or len(peername) < 2:
        return "unknown", 0
    ip = ipaddress.ip_address(str(peername[0]).split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip), int(peername[1])


def tls_context(files: TlsFiles) -> ssl.SSLContext:
    """A server context for STARTTLS: TLS 1.2 or newer, no client certificates asked for."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(files.cert, files.key)
    return ctx


class Receiver:
    """One receiver: ``await start()``, then ``port``; ``await stop()`` closes every connection
    and the journal."""

    def __init__(
        self,
        config: Config,
        *,
        resolver: Resolver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        resolver = resolver or DnspythonResolver(config.dns_timeout_seconds)
        self.state = ReceiverState(config, resolver, clock)
        self._tls = tls_context(config.tls) if config.tls else None
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.BaseTransport] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ReceiverSMTP(self.state, self._tls, loop, self._open),
            host=self.config.listen_host,
            port=self.config.listen_port,
        )

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the receiver is not listening; await start() first")
        return int(self._server.sockets[0].getsockname()[1])

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        if self._server is not None:
            await self._server.serve_forever()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for transport in list(self._open):
                transport.close()
            for _ in range(100):  # let aiosmtpd see the closes and end its per-client tasks
                await asyncio.sleep(0.01)
                if not self._open:
                    break
            self._server = None
        self.state.journal.close()
