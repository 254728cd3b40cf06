"""Filters behind the postfix role's bulk delivery profile: its checks (each naming the
variable at fault and how to mend it), Postfix time values in seconds, and the sender table.

Postfix itself checks few of these values where the role could see it: ``postfix check``
passes a main.cf whose qmgr values are out of range, and qmgr then stops with a fatal error at
its next start (no mail leaves), or warns and silently uses something else."""

from __future__ import annotations

import re
from typing import Any

#: Seconds per Postfix time unit (postconf(5): s, m, h, d, w).
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TIME = re.compile(r"^(\d+)([smhdw]?)$")

#: The longest queue lifetime qmgr accepts (100 days); a larger one stops it at start.
_MAX_LIFETIME = 8_640_000

#: Time variables: (the unit Postfix reads a bare number in, least value in seconds).
_TIMES: dict[str, tuple[str, int]] = {
    "postfix_bulk_destination_rate_delay": ("s", 0),
    "postfix_bulk_connection_cache_time_limit": ("s", 1),
    "postfix_bulk_connection_reuse_time_limit": ("s", 1),
    "postfix_bulk_queue_run_delay": ("s", 1),
    "postfix_bulk_minimal_backoff_time": ("s", 1),
    "postfix_bulk_maximal_backoff_time": ("s", 1),
    "postfix_bulk_maximal_queue_lifetime": ("d", 0),
    "postfix_bulk_bounce_queue_lifetime": ("d", 0),
}

#: Whole-number variables: (least value, why a smaller one is wrong).
_INTS: dict[str, tuple[int, str]] = {
    "postfix_bulk_process_limit": (1, "it is the most bulk deliveries at once"),
    "postfix_bulk_destination_concurrency_limit": (
        1,
        "0 would mean no limit at all, the opposite of what the profile is for",
    ),
    "postfix_bulk_initial_destination_concurrency": (1, "Postfix needs at least one session"),
    "postfix_bulk_destination_recipient_limit": (
        2,
        "at 1 Postfix treats each recipient as its own destination, so the concurrency limit "
        "and rate delay would hold per recipient, not per receiving domain",
    ),
    "postfix_bulk_destination_concurrency_failed_cohort_limit": (0, "0 turns the check off"),
    "postfix_bulk_connection_reuse_count_limit": (0, "0 means no limit"),
}

_FEEDBACKS = (
    "postfix_bulk_destination_concurrency_positive_feedback",
    "postfix_bulk_destination_concurrency_negative_feedback",
)
#: What qmgr parses as feedback: a number, "N/M" or "N/concurrency" (postconf(5)).
_FEEDBACK = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(?:\s*/\s*(\d+(?:\.\d*)?|\.\d+|concurrency))?$")

#: An envelope sender address or @domain: what sender_dependent_default_transport_maps looks up.
_SENDER = re.compile(r"^[^@\s<>]*@[^@\s<>.][^@\s<>]*$")


def postfix_seconds(value: Any, bare_unit: str = "s") -> int:
    """A Postfix time value ("90", 90, "5m", "2d") in seconds; a bare number is in
    ``bare_unit`` (days for the queue lifetimes, seconds elsewhere, as postconf(5) says)."""
    match = _TIME.match(str(value).strip())
    if match is None or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a Postfix time value (a number and s, m, h, d or w)")
    return int(match.group(1)) * _UNITS[match.group(2) or bare_unit]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def _feedback(value: Any) -> float | None:
    """The feedback's size (numerator / denominator; "concurrency" counts as 1), None when
    Postfix would not parse it."""
    match = _FEEDBACK.match(str(value).strip())
    if match is None:
        return None
    denominator = match.group(2)
    if denominator in (None, "concurrency"):
        return float(match.group(1))
    return float(match.group(1)) / float(denominator) if float(denominator) else None


def _sender_errors(senders: Any) -> list[str]:
    if not isinstance(senders, list) or not senders:
        return [
            "postfix_bulk_senders is empty, so the profile would route no mail: list the "
            "campaign's envelope senders, e.g. [bounces@news.example.test, @news.example.test]"
        ]
    errors = []
    for i, sender in enumerate(senders):
        if not _SENDER.match(str(sender)):
            fix = f"@{sender}" if "@" not in str(sender) else "user@domain or @domain"
            errors.append(
                f"postfix_bulk_senders[{i}]: {sender!r} is neither an address nor an @domain "
                f"(Postfix looks up the envelope sender and its @domain only); write {fix}"
            )
    return errors


def _time_errors(settings: dict[str, Any]) -> tuple[list[str], dict[str, int]]:
    errors, seconds = [], {}
    for name, (bare_unit, least) in _TIMES.items():
        value = settings.get(name)
        try:
            seconds[name] = postfix_seconds(value, bare_unit)
        except ValueError:
            errors.append(
                f"{name}: {value!r} is not a Postfix time value; write a whole number with a "
                "unit (s, m, h, d, w), e.g. 300s or 5m"
            )
            continue
        if bare_unit == "d" and str(value).strip().isdigit():
            del seconds[name]
            errors.append(
                f"{name}: {value!r} has no unit, and Postfix reads a bare number here as days, "
                f"not seconds; write the unit: {value}d, or {value}s if you meant seconds"
            )
        elif seconds[name] < least:
            del seconds[name]
            errors.append(f"{name}: {value!r} must be at least {least}s (Postfix refuses 0 here)")
        elif bare_unit == "d" and seconds[name] > _MAX_LIFETIME:
            del seconds[name]
            errors.append(f"{name}: {value!r} is over 100d, which stops qmgr at start; lower it")
    return errors, seconds


def _int_errors(settings: dict[str, Any]) -> tuple[list[str], dict[str, int]]:
    errors, ints = [], {}
    for name, (least, why) in _INTS.items():
        value = _int(settings.get(name))
        if value is None:
            errors.append(f"{name}: {settings.get(name)!r} is not a whole number")
        elif value < least:
            errors.append(f"{name}: {value} is below {least}: {why}")
        else:
            ints[name] = value
    return errors, ints


def _relation_errors(seconds: dict[str, int], ints: dict[str, int]) -> list[str]:
    errors = []
    delay = seconds.get("postfix_bulk_destination_rate_delay", 0)
    limit = ints.get("postfix_bulk_destination_concurrency_limit")
    cohorts = ints.get("postfix_bulk_destination_concurrency_failed_cohort_limit")
    initial = ints.get("postfix_bulk_initial_destination_concurrency")
    if delay > 0 and limit not in (None, 1):
        errors.append(
            f"postfix_bulk_destination_rate_delay is {delay}s, and with any rate delay Postfix "
            f"delivers one message at a time per destination, not the {limit} that "
            "postfix_bulk_destination_concurrency_limit says: set the limit to 1 to say so, or "
            "the delay to 0s to keep parallel sessions"
        )
    if delay > 0 and cohorts is not None and 0 < cohorts < 10:
        errors.append(
            f"postfix_bulk_destination_concurrency_failed_cohort_limit is {cohorts}: with a rate "
            "delay, postconf(5) asks for 10 or more, or one connection error defers all mail "
            "for the destination; set it to 10"
        )
    if initial is not None and limit is not None and initial > limit:
        errors.append(
            f"postfix_bulk_initial_destination_concurrency ({initial}) is above "
            f"postfix_bulk_destination_concurrency_limit ({limit}); Postfix would use the limit, "
            "so set it at most that"
        )
    order = (
        ("postfix_bulk_queue_run_delay", "postfix_bulk_minimal_backoff_time"),
        ("postfix_bulk_minimal_backoff_time", "postfix_bulk_maximal_backoff_time"),
        ("postfix_bulk_bounce_queue_lifetime", "postfix_bulk_maximal_queue_lifetime"),
    )
    for shorter, longer in order:
        if shorter in seconds and longer in seconds and seconds[shorter] > seconds[longer]:
            errors.append(
                f"{shorter} ({seconds[shorter]}s) is longer than {longer} ({seconds[longer]}s); "
                f"Postfix wants it at most {longer}: lower it or raise {longer}"
            )
    return errors


def postfix_bulk_errors(settings: Any) -> list[str]:
    """Every problem of the bulk delivery profile's variables (``settings``: variable name ->
    value), each naming the variable and how to mend it."""
    settings = dict(settings or {})
    errors = _sender_errors(settings.get("postfix_bulk_senders"))
    time_errors, seconds = _time_errors(settings)
    int_errors, ints = _int_errors(settings)
    errors += time_errors + int_errors
    for name in _FEEDBACKS:
        size = _feedback(settings.get(name))
        if size is None or not 0 <= size <= 1:
            errors.append(
                f"{name}: {settings.get(name)!r} is not a feedback Postfix takes (it would log "
                "a warning and use 1); write a number from 0 to 1, N/M, or N/concurrency, "
                "e.g. 1/4"
            )
    return errors + _relation_errors(seconds, ints)


def postfix_bulk_sender_rows(senders: Any, transport: str = "bulk") -> list[list[str]]:
    """The rows of the sender -> transport table: each sender lower-cased, once, in order.
    The value is a bare transport name, the syntax of default_transport (postconf(5): the
    sender-dependent map overrides default_transport and does not take a null next hop)."""
    seen: dict[str, None] = {}
    for sender in senders or []:
        seen.setdefault(str(sender).strip().lower(), None)
    return [[sender, transport] for sender in seen]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "postfix_bulk_errors": postfix_bulk_errors,
            "postfix_bulk_sender_rows": postfix_bulk_sender_rows,
            "postfix_seconds": postfix_seconds,
        }
