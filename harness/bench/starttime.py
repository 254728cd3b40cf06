"""When a campaign starts: '+30s', '+5m', '+1h' or an ISO 8601 time with a zone."""

from __future__ import annotations

import datetime as dt
import time

from harness.errors import BenchError

__all__ = ["start_time"]

_UNITS = {"s": 1, "m": 60, "h": 3600}
_HORIZON = 86400


def start_time(text: str | None) -> float | None:
    """``--start-at`` as epoch seconds (None: now); within the next 24 hours."""
    if not text:
        return None
    now = time.time()
    if text.startswith("+"):
        try:
            at = now + float(text[1:-1]) * _UNITS[text[-1]]
        except (KeyError, ValueError):
            raise BenchError(f"--start-at {text!r}", hint="+30s, +5m, +1h or an ISO time") from None
    else:
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise BenchError(f"--start-at {text!r} is not a time", hint="e.g. +30s") from None
        if when.tzinfo is None:
            raise BenchError(f"--start-at {text!r} has no time zone", hint="add +00:00")
        at = when.timestamp()
    if at < now - 1 or at > now + _HORIZON:
        raise BenchError(f"--start-at {text!r} must be within the next 24 hours")
    return at
