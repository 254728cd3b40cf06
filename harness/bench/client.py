"""The bench engines by name: every engine is a Session subclass built with the same
arguments, so the generator picks one from ENGINES and nothing else knows their kinds.

- ``pipelined``: asyncio streams with MAIL, RCPT and DATA in one write (RFC 2920);
- ``aiosmtplib``: aiosmtplib, the reference protocol path. It does not pipeline: it takes
  ``pipelining`` like every engine and sends one command at a time whatever its value.
"""

from __future__ import annotations

from harness.bench.metrics import Metrics
from harness.bench.session import Result, Session, SessionError
from harness.bench.session_aiosmtplib import AiosmtplibSession
from harness.bench.session_pipelined import PipelinedSession
from harness.bench.spec import TargetURL
from harness.errors import BenchError

__all__ = ["ENGINES", "Result", "Session", "SessionError", "engine_class", "open_session"]

ENGINES: dict[str, type[Session]] = {"pipelined": PipelinedSession, "aiosmtplib": AiosmtplibSession}


def engine_class(engine: str) -> type[Session]:
    try:
        return ENGINES[engine]
    except KeyError:
        raise BenchError(
            f"unknown bench engine {engine!r}", hint=f"choose one of: {', '.join(ENGINES)}"
        ) from None


async def open_session(
    engine: str, target: TargetURL, metrics: Metrics, timeout: float, *, pipelining: bool = True
) -> Session:
    session = engine_class(engine)(target, metrics, timeout, pipelining=pipelining)
    await session.open()
    return session
