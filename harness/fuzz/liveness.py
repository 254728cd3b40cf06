"""Is the server still there? A fresh connection must get a greeting: a 220 from SMTP, a
``* OK`` (or ``* PREAUTH``) from IMAP. A case may end with the server hanging up on it; a server
that stops greeting new clients after one is the finding that matters."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from harness.fuzz.imap_reply import read_line
from harness.fuzz.smtp_reply import read_reply
from harness.fuzz.target import FuzzTarget
from harness.fuzz.wire import ServerClosedError, Wire

__all__ = ["Liveness", "check_alive"]


@dataclass(frozen=True)
class Liveness:
    ok: bool
    detail: str


async def check_alive(target: FuzzTarget, timeout: float) -> Liveness:
    try:
        wire = await Wire.open(target, timeout)
    except (OSError, TimeoutError) as exc:
        return Liveness(False, f"cannot connect: {type(exc).__name__}: {exc}")
    try:
        async with asyncio.timeout(timeout):
            if target.protocol == "smtp":
                reply = await read_reply(wire)
                ok, text, goodbye = reply.code == 220, f"{reply.code} {reply.text}", b"QUIT\r\n"
            else:
                line = await read_line(wire)
                ok = line.kind == "untagged" and line.status in ("OK", "PREAUTH")
                text, goodbye = line.text, b"z LOGOUT\r\n"
            await wire.send(goodbye)
    except TimeoutError:
        wire.abort(rst=False)
        return Liveness(False, f"no greeting within {timeout} s")
    except (ServerClosedError, OSError, ssl.SSLError) as exc:
        wire.abort(rst=False)
        return Liveness(False, f"connection lost before the greeting: {exc}")
    await wire.close()
    return Liveness(ok, "" if ok else f"greeting {text[:120]!r}")
