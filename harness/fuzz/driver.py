"""What every case driver does the same way: connect, read the greeting, play the steps each under
the step timeout and all under the case timeout, and name how the connection ended. A protocol
driver (``smtp_driver``, ``imap_driver``) says how to greet and how to play one step.

A failure of the fuzzer itself does not stop a long run: the case ends as ``error`` with a
``driver_error`` finding that names the exception.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from harness.fuzz.plan import CasePlan, PlannedStep
from harness.fuzz.record import CaseRecord, End
from harness.fuzz.target import FuzzLimits, FuzzTarget
from harness.fuzz.wire import ServerClosedError, Wire

__all__ = ["Answer", "CaseDriver", "StopCase"]

StepT = TypeVar("StepT", bound=PlannedStep)


class StopCase(Exception):
    """The driver chose to end the case here (the connection is already dropped)."""


class Answer(Protocol):
    @property
    def text(self) -> str: ...


class CaseDriver(ABC, Generic[StepT]):
    def __init__(self, target: FuzzTarget, plan: CasePlan[StepT], limits: FuzzLimits) -> None:
        self.target = target
        self.plan = plan
        self.limits = limits
        self.record = CaseRecord(
            case_id=plan.case_id,
            seed=plan.seed,
            protocol=plan.protocol,
            kinds=plan.kinds,
            variants=[step.variant for step in plan.steps],
        )
        self._wire: Wire | None = None
        self.step = -1
        self.done = False

    @property
    def wire(self) -> Wire:
        if self._wire is None:
            raise RuntimeError("the case is not connected yet")
        return self._wire

    @abstractmethod
    async def greet(self) -> None:
        """Read the server's greeting."""

    @abstractmethod
    async def play(self, step: StepT) -> None:
        """Play one step; set ``done`` once the connection is closed on purpose."""

    @abstractmethod
    async def drain(self) -> Sequence[Answer]:
        """Read what the server still sends, until ``quiet`` seconds of silence."""

    def finish(self) -> None:
        """Close the books (after the connection is gone, whatever happened)."""

    async def upgrade(self, yes: str, *, injected: bool) -> None:
        """The server said ``yes`` to STARTTLS. Inside TLS already, that is a finding and the end
        of the case; else the handshake, then, when plaintext commands were pipelined behind
        STARTTLS, a listen: a server that answers them after the handshake ran them as if they
        had come encrypted (the 2011 STARTTLS command-injection class)."""
        if self.wire.tls:
            self.record.find("starttls_twice", "server accepted STARTTLS inside TLS", yes)
            self.hang_up(rst=True)
            raise StopCase("STARTTLS accepted inside TLS")
        await self.wire.start_tls(self.limits.step_timeout)
        if injected and (answered := await self.drain()):
            self.record.find(
                "starttls_injection",
                "server answered commands sent in plaintext with STARTTLS, after the handshake",
                " / ".join(a.text for a in answered),
            )

    def hang_up(self, *, rst: bool) -> None:
        """Drop the connection, no goodbye (an RST when ``rst``); the case is over."""
        self.wire.abort(rst=rst)
        self.done = True

    async def close(self) -> None:
        """A FIN (after close_notify under TLS); the case is over."""
        await self.wire.close()
        self.done = True

    async def run(self) -> CaseRecord:
        started = time.monotonic()
        case_timer = asyncio.timeout(self.limits.case_timeout)
        try:
            async with case_timer:
                self._wire = await Wire.open(self.target, self.limits.step_timeout)
                async with asyncio.timeout(self.limits.step_timeout):
                    await self.greet()
                for index, step in enumerate(self.plan.steps):
                    self.step, self.record.steps_run = index, index + 1
                    async with asyncio.timeout(self.limits.step_timeout):
                        await self.play(step)
                    if self.done:
                        break
            self._end(End.CLOSED_BY_US, "")
        except StopCase as exc:
            self._end(End.CLOSED_BY_US, str(exc))
        except TimeoutError:
            if self._wire is None:
                self._end(End.TIMEOUT, "timed out connecting")
            else:
                what = "case" if case_timer.expired() else "step"
                self._end(End.TIMEOUT, f"{what} timeout at step {self.step}")
        except ServerClosedError as exc:
            self._end(End.CLOSED_BY_SERVER, str(exc))
        except ssl.SSLError as exc:
            self._end(End.TLS_ERROR, f"{type(exc).__name__}: {exc}")
        except OSError as exc:
            self._end(End.RESET if self._wire else End.REFUSED, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a fuzzer bug must not end a long run
            self._end(End.ERROR, f"{type(exc).__name__}: {exc}")
            self.record.find("driver_error", f"{type(exc).__name__} in the driver", repr(exc))
        finally:
            if self._wire is not None and not self.done:
                self._wire.abort(rst=False)
            self.finish()
            self.record.seconds = round(time.monotonic() - started, 4)
        return self.record

    def _end(self, end: End, detail: str) -> None:
        self.record.end, self.record.detail = end, detail[:200]
