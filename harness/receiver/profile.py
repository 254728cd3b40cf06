"""A provider profile: the limits and checks a receiver imitates, read and validated.

A profile is a mapping with five sections (``connections``, ``rate``, ``greylist``, ``auth``,
``slow``); every field has a permissive default, so ``{}`` is a receiver that accepts everything.
The shipped catalogue (profiles.yml) explains each value of ``gmail-like``, ``yahoo-like`` and
``outlook-like``; README.md beside this file has the field table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .errors import ProfileError
from .fields import Section
from .replies import Reply

__all__ = [
    "AUTH_REQUIREMENTS",
    "AuthRules",
    "ConnectionRules",
    "GreylistRules",
    "Profile",
    "RateRules",
    "SlowRules",
    "profile_from_mapping",
]

#: What ``auth.require`` may ask, from none to Microsoft's rule (SPF and DKIM pass, DMARC passes).
AUTH_REQUIREMENTS = ("none", "spf-or-dkim", "dmarc-aligned", "spf-and-dkim-and-dmarc")
RATE_STAGES = ("mail", "rcpt", "data")
GREYLIST_STAGES = ("rcpt", "data")

_CLOSES = "the receiver closes the connection after it, which RFC 5321 3.8 spells 421"


@dataclass(frozen=True)
class ConnectionRules:
    max_per_ip: int
    reply: Reply
    max_messages: int
    max_messages_reply: Reply


@dataclass(frozen=True)
class RateRules:
    per_second: float
    burst: int
    stage: str
    reply: Reply


@dataclass(frozen=True)
class GreylistRules:
    retry_min_seconds: float
    stage: str
    reply: Reply


@dataclass(frozen=True)
class AuthRules:
    require: str
    reply: Reply
    temperror_reply: Reply
    dkim_min_key_bits: int


@dataclass(frozen=True)
class SlowRules:
    probability: float
    delay_seconds: float


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    connections: ConnectionRules
    rate: RateRules
    greylist: GreylistRules
    auth: AuthRules
    slow: SlowRules

    def as_dict(self) -> dict[str, Any]:
        """The profile in its JSON form (replies as strings), as a config file would hold it."""
        data = asdict(self)
        for section in data.values():
            if isinstance(section, dict):
                for key, value in section.items():
                    if isinstance(value, Reply):
                        section[key] = str(value)
        return data


def profile_from_mapping(
    data: object, *, path: str = "profile", name: str | None = None, source: str = ""
) -> Profile:
    """Validate ``data``; a ProfileError names the first bad field (``profile.rate.burst``)."""
    top = Section(data, path, error=ProfileError, source=source)
    named = top.text("name", name)
    if named is None:
        raise ProfileError(
            top.field("name"), "is missing", hint="name the profile, e.g. name: lab-strict"
        )
    description = top.text("description", "") or ""
    profile = Profile(
        name=named,
        description=description,
        connections=_connections(top.section("connections")),
        rate=_rate(top.section("rate")),
        greylist=_greylist(top.section("greylist")),
        auth=_auth(top.section("auth")),
        slow=_slow(top.section("slow")),
    )
    top.done()
    return profile


def _connections(s: Section) -> ConnectionRules:
    rules = ConnectionRules(
        max_per_ip=s.integer("max_per_ip", 0),
        reply=s.reply(
            "reply",
            "421 4.7.0 Too many concurrent connections from {client_ip}, try again later",
            codes=("421",),
            why=_CLOSES,
        ),
        max_messages=s.integer("max_messages", 0),
        max_messages_reply=s.reply(
            "max_messages_reply",
            "421 4.7.0 Too many messages in this connection, open a new one",
            codes=("421",),
            why=_CLOSES,
        ),
    )
    s.done()
    return rules


def _rate(s: Section) -> RateRules:
    rules = RateRules(
        per_second=s.number("per_second", 0.0),
        burst=s.integer("burst", 1, minimum=1),
        stage=s.choice("stage", "rcpt", RATE_STAGES),
        reply=s.reply(
            "reply",
            "451 4.7.28 Messages from {client_ip} are rate limited, try again later",
            codes=("4",),
            why="a rate limit is a deferral",
        ),
    )
    s.done()
    return rules


def _greylist(s: Section) -> GreylistRules:
    rules = GreylistRules(
        retry_min_seconds=s.number("retry_min_seconds", 0.0),
        stage=s.choice("stage", "rcpt", GREYLIST_STAGES),
        reply=s.reply(
            "reply",
            "451 4.7.1 Greylisted, please try again later",
            codes=("4",),
            why="greylisting is a deferral",
        ),
    )
    s.done()
    return rules


def _auth(s: Section) -> AuthRules:
    rules = AuthRules(
        require=s.choice("require", "none", AUTH_REQUIREMENTS),
        reply=s.reply(
            "reply",
            "550 5.7.26 Unauthenticated email from {domain} is not accepted",
            codes=("4", "5"),
            why="it answers a message that failed the check",
        ),
        temperror_reply=s.reply(
            "temperror_reply",
            "451 4.4.3 Temporary DNS failure while checking authentication, try again later",
            codes=("4",),
            why="a DNS failure is temporary",
        ),
        dkim_min_key_bits=s.integer("dkim_min_key_bits", 1024, minimum=512),
    )
    s.done()
    return rules


def _slow(s: Section) -> SlowRules:
    rules = SlowRules(
        probability=s.number("probability", 0.0, maximum=1.0),
        delay_seconds=s.number("delay_seconds", 0.0, maximum=600.0),
    )
    s.done()
    return rules
