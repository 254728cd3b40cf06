"""The aiosmtpd handler of one connection: the profile's decisions at MAIL, RCPT and end of DATA.

Order of checks: the per-connection message cap (at MAIL), then greylisting and the rate limit at
the stage the profile names, then authentication at end of DATA. Every refusal, and every
message's final answer, is a journal line; an accepted message is stored and its line fsynced
before the 250 goes out.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiosmtpd.smtp import SMTP

from .auth import authenticate, verdict
from .journal import Attempt, Peer
from .message import MessageFacts, read_facts
from .replies import Reply
from .state import Connection, ReceiverState

__all__ = ["ProviderHandler"]


class SessionView(Protocol):
    """The parts of ``aiosmtpd.smtp.Session`` the handler reads."""

    host_name: str | None
    ssl: object


class EnvelopeView(Protocol):
    """The parts of ``aiosmtpd.smtp.Envelope`` the handler reads and fills."""

    mail_from: str | None
    mail_options: list[str]
    rcpt_tos: list[str]
    rcpt_options: list[str]
    original_content: bytes | None


class ProviderHandler:
    def __init__(self, state: ReceiverState, conn: Connection) -> None:
        self.state = state
        self.profile = state.profile
        self.conn = conn

    # aiosmtpd hooks (names and arguments are aiosmtpd's handler API)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: SessionView,
        envelope: EnvelopeView,
        address: str,
        mail_options: list[str],
    ) -> str:
        await self.state.maybe_slow()
        rules = self.profile.connections
        if rules.max_messages and self.conn.messages >= rules.max_messages:
            return self._refuse(
                session, "mail", rules.max_messages_reply, "messages-per-connection", address
            )
        if self.profile.rate.stage == "mail" and not self._take_rate():
            return self._refuse(session, "mail", self.profile.rate.reply, "rate-limit", address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SessionView,
        envelope: EnvelopeView,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        await self.state.maybe_slow()
        sender = envelope.mail_from or ""
        if self.profile.greylist.stage == "rcpt" and not self._admit(sender, [address]):
            reply = self.profile.greylist.reply
            return self._refuse(session, "rcpt", reply, "greylist", sender, (address,))
        first = not envelope.rcpt_tos  # one message takes one token, at its first recipient
        if self.profile.rate.stage == "rcpt" and first and not self._take_rate():
            reply = self.profile.rate.reply
            return self._refuse(session, "rcpt", reply, "rate-limit", sender, (address,))
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SessionView, envelope: EnvelopeView) -> str:
        await self.state.maybe_slow()
        self.conn.messages += 1
        raw = envelope.original_content or b""
        sender = envelope.mail_from or ""
        rcpts = tuple(envelope.rcpt_tos)
        facts = read_facts(raw)
        if self.profile.greylist.stage == "data" and not self._admit(sender, rcpts):
            reply = self.profile.greylist.reply
            return self._refuse(session, "data", reply, "greylist", sender, rcpts, facts, len(raw))
        if self.profile.rate.stage == "data" and not self._take_rate():
            reply = self.profile.rate.reply
            return self._refuse(
                session, "data", reply, "rate-limit", sender, rcpts, facts, len(raw)
            )
        peer = self._peer(session)
        return await asyncio.to_thread(self._finish, peer, raw, facts, sender, rcpts)

    # decisions

    def _take_rate(self) -> bool:
        return self.state.rate.take(self.conn.ip, self.state.clock())

    def _admit(self, sender: str, rcpts: list[str] | tuple[str, ...]) -> bool:
        """Every triplet is registered (not only up to the first new one), so that one retry
        passes them all."""
        now = self.state.clock()
        admitted = [self.state.greylist.admit(self.conn.ip, sender, r, now) for r in rcpts]
        return all(admitted)

    def _finish(
        self, peer: Peer, raw: bytes, facts: MessageFacts, sender: str, rcpts: tuple[str, ...]
    ) -> str:
        """Authentication, then store and journal: runs in a worker thread (DNS, fsync)."""
        rules = self.profile.auth
        results = authenticate(
            raw,
            facts.headers,
            client_ip=self.conn.ip,
            mail_from=sender,
            helo=peer.helo or "",
            resolver=self.state.resolver,
            min_key_bits=rules.dkim_min_key_bits,
            timeout=self.state.config.dns_timeout_seconds,
        )
        outcome = verdict(rules.require, results)
        stored = None
        if outcome == "pass":
            name = self.state.stored_name(self.conn)
            stored = self.state.store.save(
                name,
                raw,
                mail_from=sender,
                rcpts=rcpts,
                auth_header=results.header(self.state.config.hostname),
            )
            reply, reason = Reply(250, "2.0.0", f"OK {name.removesuffix('.eml')}"), "accepted"
        else:
            template = rules.reply if outcome == "fail" else rules.temperror_reply
            domain = results.dmarc.domain or results.spf.domain
            reply = self.state.render(template, self.conn, domain)
            reason = "auth" if outcome == "fail" else "auth-temperror"
        attempt = Attempt(
            peer=peer,
            stage="data",
            reply=reply,
            reason=reason,
            mail_from=sender,
            rcpts=rcpts,
            token=facts.token,
            message_id=facts.message_id,
            size=len(raw),
            auth=results,
            stored=stored,
        )
        self.state.journal.record(attempt, durable=stored is not None)
        return str(reply)

    def _peer(self, session: SessionView) -> Peer:
        return Peer(
            connection=self.conn.id,
            ip=self.conn.ip,
            port=self.conn.port,
            helo=session.host_name,
            tls=session.ssl is not None,
        )

    def _refuse(
        self,
        session: SessionView,
        stage: str,
        reply: Reply,
        reason: str,
        sender: str,
        rcpts: tuple[str, ...] = (),
        facts: MessageFacts | None = None,
        size: int | None = None,
    ) -> str:
        rendered = self.state.render(reply, self.conn)
        attempt = Attempt(
            peer=self._peer(session),
            stage=stage,
            reply=rendered,
            reason=reason,
            mail_from=sender,
            rcpts=rcpts,
            token=facts.token if facts else None,
            message_id=facts.message_id if facts else None,
            size=size,
        )
        self.state.journal.record(attempt, durable=False)
        return str(rendered)
