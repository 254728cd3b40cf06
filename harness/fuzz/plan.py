"""What both grammars share: a case's seed (from the run's seed and the case number, so any case
can be planned again alone), its message tokens, and the plan type itself."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["CasePlan", "PlannedStep", "assemble", "case_seed", "message_token", "walk"]


def case_seed(seed: int, case_id: int) -> int:
    """A 64-bit seed for case ``case_id`` of a run seeded with ``seed`` (stable across Python
    versions and processes, unlike ``hash``)."""
    digest = hashlib.blake2b(f"{seed}:{case_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def message_token(prefix: str, case_id: int, index: int) -> str:
    """The token of message ``index`` of a case: "fuzz" first (how a mailbox scan tells the
    fuzzer's messages from others), then the run's prefix, which keeps runs apart."""
    return f"fuzz-{prefix}-{case_id}-{index}"


class PlannedStep(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def variant(self) -> str: ...

    @property
    def terminal(self) -> bool:
        """Whether the connection is over after this step."""
        ...


StepT = TypeVar("StepT", bound=PlannedStep)
KindT = TypeVar("KindT")


def walk(
    rng: random.Random,
    start: list[KindT],
    count: int,
    weights: Callable[[KindT | None], dict[KindT, float]],
) -> list[KindT]:
    """``start`` and ``count`` kinds more, each drawn with the weights that the kind before it
    (None at the very start) leads to."""
    kinds = list(start)
    for _ in range(count):
        options = weights(kinds[-1] if kinds else None)
        kinds.append(rng.choices(list(options), list(options.values()))[0])
    return kinds


def assemble(
    kinds: Iterable[KindT], build: Callable[[KindT], StepT], closing: Callable[[], KindT]
) -> tuple[StepT, ...]:
    """The steps of ``kinds`` up to the first that ends the connection, or all of them and a
    ``closing`` one."""
    steps: list[StepT] = []
    for kind in kinds:
        steps.append(build(kind))
        if steps[-1].terminal:
            return tuple(steps)
    return (*steps, build(closing()))


@dataclass(frozen=True)
class CasePlan(Generic[StepT]):
    """One connection's steps, in order. ``seed`` is the case's own seed (see ``case_seed``)."""

    case_id: int
    seed: int
    protocol: str
    steps: tuple[StepT, ...]

    @property
    def kinds(self) -> list[str]:
        return [step.kind for step in self.steps]
