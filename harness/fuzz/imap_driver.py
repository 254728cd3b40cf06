"""Plays one IMAP case plan on a real connection.

A command with a tag a server can read (``exact``) waits for that tag's completion up to the
step timeout; one it may not parse (no tag, a bad tag, a broken literal) listens until a
``* BAD``, any tagged line, or ``quiet`` seconds of silence. Pipelined commands are matched by
tag, in whatever order they complete. The server closing the connection is an accepted end: what
matters is that it still greets the next one (the liveness checks of ``run``).

Findings made here: response lines that break RFC 9051's syntax, a server that answers commands
injected before the TLS handshake, and one that accepts STARTTLS inside TLS.
"""

from __future__ import annotations

import asyncio

from harness.fuzz.driver import CaseDriver, StopCase
from harness.fuzz.imap_plan import ImapOp, ImapPiece, ImapStep
from harness.fuzz.imap_reply import ImapLine, read_line
from harness.fuzz.plan import CasePlan
from harness.fuzz.record import CaseRecord
from harness.fuzz.target import FuzzLimits, FuzzTarget

__all__ = ["ImapDriver", "run_imap_case"]


class ImapDriver(CaseDriver[ImapStep]):
    def __init__(self, target: FuzzTarget, plan: CasePlan[ImapStep], limits: FuzzLimits) -> None:
        super().__init__(target, plan, limits)
        self.completed: set[str] = set()

    async def _read(self, *, exact: bool) -> ImapLine | None:
        if exact:
            line = await read_line(self.wire)
        else:
            try:
                async with asyncio.timeout(self.limits.quiet):
                    line = await read_line(self.wire)
            except TimeoutError:
                return None
        self.record.reply(self.step, line.status, line.text)
        for problem in line.problems:
            self.record.find("bad_reply", problem, line.text)
        if line.kind == "tagged":
            self.completed.add(line.tag)
        return line

    async def _until_tagged(self, tag: str, *, exact: bool) -> ImapLine | None:
        """Lines up to the completion of ``tag``. Not ``exact`` (or no tag): up to a ``* BAD``,
        any tagged line or a silence. A continuation request or a BYE ends the wait too.

        An untagged BAD, or the completion of another tag, while waiting for ``tag`` means the
        server read our bytes otherwise than we wrote them (a line end it did not take, a literal
        it sized differently): from there the wait is only as long as a silence.
        """
        if tag and tag in self.completed:
            return None
        strict = exact and bool(tag)
        while True:
            line = await self._read(exact=strict)
            if line is None or line.kind in ("continuation", "unknown") or line.status == "BYE":
                return line
            if line.kind == "tagged" and line.tag == tag:
                return line
            if not strict and (line.kind == "tagged" or line.status == "BAD"):
                return line
            if line.kind == "tagged" or line.status == "BAD":
                strict = False

    async def drain(self) -> list[ImapLine]:
        lines = []
        while (line := await self._read(exact=False)) is not None:
            lines.append(line)
        return lines

    async def greet(self) -> None:
        await self._read(exact=True)

    async def play(self, step: ImapStep) -> None:
        pieces = step.pieces
        written = 0
        for index, piece in enumerate(pieces):
            if piece.op != ImapOp.LINE:
                await _SOLO[piece.op](self, piece)
                written = index + 1
                if self.done:
                    return
                continue
            if index >= written:
                end = index + 1
                while end < len(pieces) and pieces[end].joined:
                    end += 1
                await self.wire.send(b"".join(p.data for p in pieces[index:end]))
                written = end
            line = await self._until_tagged(piece.tag, exact=piece.exact)
            if line is not None and line.kind == "continuation":
                self.hang_up(rst=True)
                raise StopCase("server asked for a literal the command did not announce")

    async def _continued(self, piece: ImapPiece) -> None:
        await self.wire.send(piece.data)
        for data in piece.follow:
            line = await self._until_tagged(piece.tag, exact=True)
            if line is None or line.kind != "continuation":
                return  # completed (refused) before asking for more
            await self.wire.send(data)
        if piece.final:
            await self._until_tagged(piece.tag, exact=True)
        else:
            await self.drain()

    async def _idle(self, piece: ImapPiece) -> None:
        await self.wire.send(piece.data)
        line = await self._until_tagged(piece.tag, exact=True)
        if line is None or line.kind != "continuation":
            return  # IDLE refused (not logged in)
        await self.wire.send(b"".join(piece.follow))
        await self._until_tagged(piece.tag, exact=False)
        if piece.tag not in self.completed:
            await self.wire.send(b"DONE\r\n")
            await self._until_tagged(piece.tag, exact=True)

    async def _starttls(self, piece: ImapPiece) -> None:
        await self.wire.send(piece.data)
        line = await self._until_tagged(piece.tag, exact=True)
        injected = piece.data.count(b"\n") > 1
        if line is not None and line.kind == "tagged" and line.status == "OK":
            await self.upgrade(line.text, injected=injected)
        elif injected:
            await self.drain()  # answered in plaintext, as they were sent

    async def _close(self, piece: ImapPiece) -> None:
        await self.close()

    async def _abort(self, piece: ImapPiece) -> None:
        self.hang_up(rst=piece.rst)


_SOLO = {
    ImapOp.CONTINUED: ImapDriver._continued,
    ImapOp.IDLE: ImapDriver._idle,
    ImapOp.STARTTLS: ImapDriver._starttls,
    ImapOp.CLOSE: ImapDriver._close,
    ImapOp.ABORT: ImapDriver._abort,
}


async def run_imap_case(
    target: FuzzTarget, plan: CasePlan[ImapStep], limits: FuzzLimits
) -> CaseRecord:
    return await ImapDriver(target, plan, limits).run()
