"""Plays one SMTP case plan on a real connection and keeps its books (``ledger``).

Pieces ``joined`` to the one before go out in one write; replies are then read piece by piece.
A piece whose reply count is certain (``exact``) waits for each reply up to the step timeout;
one whose count is only a bound (garbage, bare line ends, a body a lenient server may split)
waits ``quiet`` seconds. A silence where a reply was due marks the stream *unsure*: the driver
drains what still comes before its next write, and the ledger holds every later verdict of the
case in doubt (a reply later than ``quiet`` would be read as the answer to the next command), so
its tokens are reported as unanswered, never as completed or refused on a guess.

Findings made here: replies that break RFC 5321's syntax, a server that answers commands
injected before the TLS handshake, one that accepts STARTTLS inside TLS, and one that takes a
message smuggled inside another (an end of data other than <CRLF>.<CRLF>).
"""

from __future__ import annotations

import asyncio

from harness.fuzz.driver import CaseDriver, StopCase
from harness.fuzz.ledger import Ledger
from harness.fuzz.plan import CasePlan
from harness.fuzz.record import CaseRecord
from harness.fuzz.smtp_plan import Op, Piece, SmtpStep
from harness.fuzz.smtp_reply import SmtpReply, read_reply
from harness.fuzz.target import FuzzLimits, FuzzTarget
from harness.fuzz.wire import client_hello

__all__ = ["SmtpDriver", "run_smtp_case"]


class SmtpDriver(CaseDriver[SmtpStep]):
    def __init__(self, target: FuzzTarget, plan: CasePlan[SmtpStep], limits: FuzzLimits) -> None:
        super().__init__(target, plan, limits)
        self.ledger = Ledger()
        self.unsure = False
        #: the op of the piece whose replies are being read
        self.piece: Op | None = None
        #: EHLO keywords of the current session (emptied by STARTTLS)
        self.extensions: set[str] | None = None

    # -- replies --------------------------------------------------------------------------

    async def _read(self, *, exact: bool, expected: bool = True) -> SmtpReply | None:
        """The next reply; when not ``exact``, None after ``quiet`` seconds of silence, and
        the stream is unsure from then on if the reply was ``expected``."""
        if exact:
            reply = await read_reply(self.wire)
        else:
            try:
                async with asyncio.timeout(self.limits.quiet):
                    reply = await read_reply(self.wire)
            except TimeoutError:
                if expected:
                    self.unsure = True
                    self.ledger.doubt()
                return None
        self._note(reply)
        return reply

    def _note(self, reply: SmtpReply) -> None:
        self.record.reply(self.step, str(reply.code) if reply.code else "", reply.text)
        for problem in reply.problems:
            self.record.find("bad_reply", problem, reply.text)
        if reply.code == 354 and self.piece not in (Op.DATA, Op.BODY):
            self.ledger.doubt()  # a 354 to a command that was not DATA (nor smuggled in a body)
        self.ledger.observe(reply.code)

    async def _replies(self, count: int, *, exact: bool, expected: bool = True) -> list[SmtpReply]:
        replies = []
        for _ in range(count):
            reply = await self._read(exact=exact, expected=expected)
            if reply is None:
                break
            replies.append(reply)
        return replies

    async def drain(self) -> list[SmtpReply]:
        """Read until ``quiet`` seconds pass without a reply."""
        replies = []
        while (reply := await self._read(exact=False, expected=False)) is not None:
            replies.append(reply)
        self.unsure = False
        return replies

    # -- the case -------------------------------------------------------------------------

    async def greet(self) -> None:
        await self._read(exact=True)

    async def play(self, step: SmtpStep) -> None:
        pieces = step.pieces
        written = 0  # pieces[:written] are on the wire
        for index, piece in enumerate(pieces):
            self.piece = piece.op
            if self.ledger.data_open and piece.op not in (Op.BODY, Op.CLOSE, Op.ABORT):
                self.hang_up(rst=True)
                raise StopCase(f"server in data mode before a {piece.op} piece (a stray 354)")
            if piece.op in _SOLO:
                await _SOLO[piece.op](self, piece)
                written = index + 1
                if self.done:
                    return
                continue
            if index >= written:
                if piece.op == Op.BODY and not self.ledger.data_open:
                    written = index + 1  # no 354: a client does not send the message
                    continue
                if self.unsure:
                    await self.drain()
                end = index + 1
                while end < len(pieces) and pieces[end].joined:
                    end += 1
                await self.wire.send(b"".join(p.data for p in pieces[index:end]))
                written = end
            await _SETTLE[piece.op](self, piece)

    def finish(self) -> None:
        self.record.sent_tokens = list(self.ledger.sent)
        self.record.completed_tokens = list(self.ledger.completed)
        self.record.refused_tokens = list(self.ledger.refused)
        self.record.unanswered_tokens = self.ledger.unanswered
        self.record.out_of_step = self.ledger.in_doubt

    # -- pieces written with others: read their replies ------------------------------------

    async def _command(self, piece: Piece) -> None:
        replies = await self._replies(piece.replies, exact=piece.exact)
        if piece.data[:5].upper() == b"EHLO " and replies and replies[0].code == 250:
            self.extensions = replies[0].keywords

    async def _body(self, piece: Piece) -> None:
        in_data = self.ledger.data_open
        self.ledger.body(piece.tokens, final=piece.final)
        if not in_data:  # joined behind a refused DATA: the server reads it as commands
            await self._replies(piece.data.count(b"\n"), exact=False)
        elif piece.final:
            await self._replies(1, exact=True)
            # only a lenient server answers more: silence is the expected case
            extra = await self._replies(piece.replies, exact=False, expected=False)
            smuggled = [t for t in piece.tokens[1:] if t in self.ledger.completed]
            if smuggled:
                self.record.find(
                    "smuggling",
                    "server ended the data at a non-CRLF dot and took a smuggled message",
                    f"token {smuggled[0]}: " + " / ".join(r.text for r in extra),
                )
        self.ledger.settle()

    async def _bdat(self, piece: Piece) -> None:
        self.ledger.bdat(piece.tokens, final=piece.final)
        chunking = self.extensions is not None and "CHUNKING" in self.extensions
        reply = await self._read(exact=piece.exact and chunking)
        if reply is None:
            return
        if piece.final:
            self.ledger.bdat_reply(piece.tokens[0], reply.code)
        if reply.code in (500, 502) or not chunking:
            # BDAT unknown: the chunk was read as command lines
            await self._replies(piece.data.count(b"\n") - 1, exact=False)
        elif piece.replies > 1:
            await self._replies(piece.replies - 1, exact=False)

    # -- pieces that run their own exchange -------------------------------------------------

    async def _auth(self, piece: Piece) -> None:
        """Each 334 gets the next response; when none is left, "*" cancels the exchange."""
        await self._send_fresh(piece.data)
        reply = await self._read(exact=True)
        follow = list(piece.follow)
        cancelled = False
        while reply is not None and reply.code == 334 and not cancelled:
            cancelled = not follow
            await self.wire.send(follow.pop(0) if follow else b"*\r\n")
            reply = await self._read(exact=True)

    async def _starttls(self, piece: Piece) -> None:
        await self._send_fresh(piece.data)
        reply = await self._read(exact=True)
        injected = piece.data.count(b"\n") - 1
        if reply is not None and reply.code == 220:
            self.extensions = None
            await self.upgrade(reply.text, injected=injected > 0)
        else:
            await self._replies(injected, exact=False)  # read in plaintext, as they were sent

    async def _handshake_abort(self, piece: Piece) -> None:
        await self._send_fresh(piece.data)
        reply = await self._read(exact=True)
        if reply is not None and reply.code == 220:
            hello = client_hello(self.target)
            size = len(hello) if piece.size < 0 else min(piece.size, len(hello) - 1)
            await self.wire.send(hello[:size] + b"".join(piece.follow))
        self.hang_up(rst=piece.rst)

    async def _close(self, piece: Piece) -> None:
        await self.close()

    async def _abort(self, piece: Piece) -> None:
        self.hang_up(rst=piece.rst)

    async def _send_fresh(self, data: bytes) -> None:
        if self.unsure:
            await self.drain()
        await self.wire.send(data)


_SETTLE = {
    Op.COMMAND: SmtpDriver._command,
    Op.DATA: SmtpDriver._command,
    Op.BODY: SmtpDriver._body,
    Op.BDAT: SmtpDriver._bdat,
}
_SOLO = {
    Op.AUTH: SmtpDriver._auth,
    Op.STARTTLS: SmtpDriver._starttls,
    Op.HANDSHAKE_ABORT: SmtpDriver._handshake_abort,
    Op.CLOSE: SmtpDriver._close,
    Op.ABORT: SmtpDriver._abort,
}


async def run_smtp_case(
    target: FuzzTarget, plan: CasePlan[SmtpStep], limits: FuzzLimits
) -> CaseRecord:
    return await SmtpDriver(target, plan, limits).run()
