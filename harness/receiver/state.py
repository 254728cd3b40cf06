"""What every connection of one receiver shares (limits, journal, store, DNS, the seeded RNG),
and what one connection keeps (its client and how many messages it has carried)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .config import Config
from .journal import Journal
from .limits import ConnectionCounter, Greylist, RateLimiter
from .lookup import Resolver
from .replies import Reply
from .store import Store

__all__ = ["Connection", "ReceiverState", "Slowness"]


@dataclass
class Connection:
    id: str
    ip: str = ""
    port: int = 0
    messages: int = 0


class Slowness:
    """Which replies wait: each draw is ``delay_seconds`` with probability ``probability``, else 0.
    The RNG is seeded, so the same sequence of replies is slowed on every run with one seed."""

    def __init__(self, probability: float, delay_seconds: float, seed: int) -> None:
        self.probability = probability
        self.delay_seconds = delay_seconds
        self._rng = random.Random(seed)  # noqa: S311 -- reproducible on purpose, not a secret

    def draw(self) -> float:
        if self.probability <= 0 or self.delay_seconds <= 0:
            return 0.0
        return self.delay_seconds if self._rng.random() < self.probability else 0.0


class ReceiverState:
    def __init__(
        self, config: Config, resolver: Resolver, clock: Callable[[], float] = time.monotonic
    ) -> None:
        profile = config.profile
        self.config = config
        self.profile = profile
        self.resolver = resolver
        self.clock = clock
        self.connections = ConnectionCounter(profile.connections.max_per_ip)
        self.rate = RateLimiter(profile.rate.per_second, profile.rate.burst)
        self.greylist = Greylist(profile.greylist.retry_min_seconds)
        self.journal = Journal(config.journal, receiver=config.hostname, profile=profile.name)
        self.store = Store(config.store)
        self.slowness = Slowness(profile.slow.probability, profile.slow.delay_seconds, config.seed)
        self._ids = itertools.count(1)
        self._stored = itertools.count(1)

    def new_connection(self) -> Connection:
        return Connection(id=f"c{next(self._ids)}")

    def stored_name(self, conn: Connection) -> str:
        return f"{time.time_ns() // 1_000_000}-{conn.id}-{next(self._stored)}.eml"

    def render(self, reply: Reply, conn: Connection, domain: str | None = None) -> Reply:
        return reply.render(client_ip=conn.ip, hostname=self.config.hostname, domain=domain or "")

    async def maybe_slow(self) -> None:
        delay = self.slowness.draw()
        if delay:
            await asyncio.sleep(delay)
