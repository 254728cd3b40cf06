"""What a bench run does: the target URL, the load shape and the message shape, validated."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from harness.bench.campaign import Campaign
from harness.errors import BenchError

__all__ = ["BenchSpec", "SizeDistribution", "TargetURL", "parse_size", "parse_target"]

_SCHEMES = {"smtp": 25, "smtps": 465, "submission": 587}


@dataclass(frozen=True)
class TargetURL:
    """``smtp://host:port`` (optionally ``?starttls=1``), ``smtps://`` (implicit TLS) or
    ``submission://`` (STARTTLS required, AUTH). ``?tls_name=`` checks the certificate against
    another name than the host; ``?ca=`` trusts a CA file; ``?source=`` connects from that
    address."""

    scheme: str
    host: str
    port: int
    starttls: bool
    implicit_tls: bool
    user: str = ""
    password: str = ""
    tls_name: str = ""
    ca_file: str = ""
    #: the address to connect from (``?source=``; "": the system's choice)
    source: str = ""

    @property
    def tls(self) -> bool:
        return self.starttls or self.implicit_tls

    @property
    def display(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_target(url: str) -> TargetURL:
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise BenchError(
            f"target {url!r}: unknown scheme {parts.scheme!r}",
            hint="use smtp://HOST:PORT, smtps://HOST:PORT or submission://HOST:PORT",
        )
    if not parts.hostname:
        raise BenchError(f"target {url!r}: no host", hint="e.g. smtp://127.0.0.1:25")
    try:
        port = parts.port or _SCHEMES[parts.scheme]
    except ValueError:
        raise BenchError(f"target {url!r}: invalid port", hint="a number from 1 to 65535") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    starttls = parts.scheme == "submission" or query.get("starttls", "0") in ("1", "yes", "true")
    return TargetURL(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        starttls=starttls,
        implicit_tls=parts.scheme == "smtps",
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        tls_name=query.get("tls_name", ""),
        ca_file=query.get("ca", ""),
        source=query.get("source", ""),
    )


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 * 1024}


def parse_size(text: str) -> int:
    """'2k' -> 2048; plain bytes or k/m suffixes."""
    value = text.strip().lower()
    unit = value[-1] if value and value[-1] in "bkm" else ""
    number = value[:-1] if unit else value
    try:
        size = int(float(number) * _UNITS[unit])
    except ValueError:
        raise BenchError(
            f"size {text!r} is not a size", hint="bytes, or with k/m: 512, 2k, 1m"
        ) from None
    if size <= 0:
        raise BenchError(f"size {text!r} must be positive")
    return size


@dataclass(frozen=True)
class SizeDistribution:
    """Message sizes drawn by weight: '1k:70,10k:25,100k:5' (or one size: '2k')."""

    sizes: tuple[int, ...]
    weights: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> SizeDistribution:
        sizes, weights = [], []
        for item in text.split(","):
            size, _, weight = item.partition(":")
            sizes.append(parse_size(size))
            try:
                weights.append(float(weight) if weight else 1.0)
            except ValueError:
                raise BenchError(f"size weight {weight!r} in {text!r} is not a number") from None
        if any(w <= 0 for w in weights):
            raise BenchError(f"size weights in {text!r} must be positive")
        return cls(tuple(sizes), tuple(weights))

    def draw(self, rng: random.Random) -> int:
        return rng.choices(self.sizes, self.weights)[0]

    @property
    def mean(self) -> float:
        return sum(s * w for s, w in zip(self.sizes, self.weights, strict=True)) / sum(self.weights)


@dataclass(frozen=True)
class BenchSpec:
    """One run. Closed loop: ``sessions`` connections, ``messages`` in all, as fast as the
    server allows. Open loop (``rate`` set): messages arrive at ``rate`` per second over
    ``sessions`` connections, latency counted from when each message was due."""

    target: TargetURL
    sender: str
    recipients: tuple[str, ...]
    messages: int = 100
    sessions: int = 4
    rate: float | None = None
    sizes: SizeDistribution = field(default_factory=lambda: SizeDistribution((2048,), (1.0,)))
    recipients_per_message: int = 1
    workers: int = 1
    pipelining: bool = True
    timeout: float = 30.0
    seed: int = 1
    #: a campaign rehearsal: one message per CSV row, rendered from its templates
    campaign: Campaign | None = None
    #: open loop with these due times (seconds from the start) instead of a fixed rate
    schedule: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.messages < 1:
            raise BenchError(f"messages {self.messages} must be at least 1")
        if self.sessions < 1:
            raise BenchError(f"sessions {self.sessions} must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise BenchError(f"rate {self.rate} must be positive (messages per second)")
        if not self.recipients:
            raise BenchError("no recipients", hint="pass --to ADDRESS (repeatable)")
        if self.recipients_per_message < 1:
            raise BenchError("recipients per message must be at least 1")
        if self.workers < 1 or self.workers > self.sessions:
            raise BenchError(f"workers {self.workers} must be from 1 to sessions ({self.sessions})")
        if self.campaign is not None and (self.workers != 1 or self.messages != len(self.campaign)):
            raise BenchError("a campaign runs in one worker, one message per recipient row")
        if self.schedule is not None and len(self.schedule) != self.messages:
            raise BenchError("the schedule must have one due time per message")
        if (self.target.starttls or self.target.implicit_tls) is False and self.target.user:
            raise BenchError(
                f"target {self.target.display}: AUTH without TLS is refused by design",
                hint="use submission:// or smtps://, or smtp://...?starttls=1",
            )

    @classmethod
    def for_campaign(
        cls,
        target: TargetURL,
        campaign: Campaign,
        schedule: tuple[float, ...],
        sessions: int,
    ) -> BenchSpec:
        """One message per recipient row of ``campaign``, each due at its ``schedule`` time."""
        return cls(
            target=target,
            sender=campaign.from_address,
            recipients=(campaign.recipient(0),),
            messages=len(campaign),
            sessions=sessions,
            campaign=campaign,
            schedule=schedule,
        )

    @property
    def mode(self) -> str:
        return "open" if self.rate or self.schedule else "closed"
