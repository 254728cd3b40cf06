"""The receiver's errors: each names what was wrong, with the offending value, and how to mend it.

The receiver cannot import ``harness.errors`` (it runs alone inside lab containers), so it keeps its
own small hierarchy; ``python3 -m receiver`` prints one as one line and exits 2.
"""

from __future__ import annotations

__all__ = ["ConfigError", "ProfileError", "ReceiverError"]


class ReceiverError(Exception):
    """Base of every error the receiver raises on purpose."""

    exit_code = 1


class ConfigError(ReceiverError, ValueError):
    """A configuration value is wrong; ``field`` is its dotted path (``listen.port``)."""

    exit_code = 2

    def __init__(self, field: str, problem: str, *, hint: str, source: str = "") -> None:
        self.field = field
        self.problem = problem
        self.hint = hint
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field}: {problem} (mend: {hint})")


class ProfileError(ConfigError):
    """A provider profile value is wrong; ``field`` is its dotted path (``profile.rate.burst``)."""
