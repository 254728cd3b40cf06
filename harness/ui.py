"""What people see: one console, timed steps with a live spinner, and tables."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.status import Status

__all__ = ["Step", "console", "err_console", "step"]

# Tables stay legible when piped (to a log, CI): wide enough for a lab's port map.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, highlight=False)


@dataclass
class Step:
    """A running step; ``update`` changes the text beside its spinner."""

    description: str
    _status: Status | None
    started: float
    note: str = ""

    def update(self, detail: str) -> None:
        if self._status is not None:
            elapsed = time.monotonic() - self.started
            self._status.update(f"{self.description} [dim]{elapsed:5.1f}s {detail}[/]")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@contextmanager
def step(description: str) -> Iterator[Step]:
    """Show ``description`` with a spinner while the block runs, then a line with its time.

    Progress goes to stderr, so stdout stays clean for JSON and tables.
    """
    started = time.monotonic()
    live = err_console.is_terminal
    status = err_console.status(description) if live else None
    current = Step(description, status, started)
    if status is not None:
        status.start()
    try:
        yield current
    except BaseException:
        if status is not None:
            status.stop()
        err_console.print(f"[red]✗[/] {description} [dim]({current.elapsed:.1f} s)[/]")
        raise
    if status is not None:
        status.stop()
    note = f" — {current.note}" if current.note else ""
    err_console.print(f"[green]✓[/] {description}{note} [dim]({current.elapsed:.1f} s)[/]")
