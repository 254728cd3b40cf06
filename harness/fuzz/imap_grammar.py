"""The IMAP grammar: which step may come next, from the state a conforming server would be in
(not authenticated, authenticated, a mailbox selected; TLS or not).

As for SMTP, a case is *clean* (STARTTLS when the port has it, LOGIN with the credentials given,
SELECT, LOGOUT) or a *walk* whose weights follow the state, with steps out of place on purpose.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.fuzz.imap_plan import ImapStep, ImapStepKind
from harness.fuzz.imap_steps import IMAP_BUILDERS, ImapContext
from harness.fuzz.plan import CasePlan, assemble, case_seed, walk
from harness.fuzz.target import FuzzTarget

__all__ = ["ImapStepKind", "draw_imap_steps", "imap_kinds", "plan_imap_case"]

_MAX_STEPS = 8
_CLEAN_SHARE = 0.25


def imap_kinds(target: FuzzTarget) -> frozenset[ImapStepKind]:
    """The step kinds a plan for ``target`` can contain."""
    kinds = set(ImapStepKind)
    if not target.starttls:
        kinds -= {ImapStepKind.STARTTLS, ImapStepKind.STARTTLS_INJECT}
    if not target.user:
        kinds.discard(ImapStepKind.LOGIN)
    return frozenset(kinds)


@dataclass
class _State:
    tls: bool
    authed: bool = False
    selected: bool = False

    def after(self, kind: ImapStepKind) -> None:
        if kind in (ImapStepKind.STARTTLS, ImapStepKind.STARTTLS_INJECT):
            self.tls = True
        elif kind == ImapStepKind.LOGIN:
            self.authed = True
        elif kind == ImapStepKind.SELECT:
            self.selected = self.authed


def _weights(state: _State, target: FuzzTarget) -> dict[ImapStepKind, float]:
    w = {ImapStepKind.CAPABILITY: 1.0}
    if target.starttls and not state.tls:
        w[ImapStepKind.STARTTLS] = 4.0
        w[ImapStepKind.STARTTLS_INJECT] = 1.5
    if state.tls:
        w[ImapStepKind.STARTTLS_TWICE] = 1.0
    if target.user and not state.authed:
        w[ImapStepKind.LOGIN] = 4.0
    w[ImapStepKind.LOGIN_WRONG] = 0.5 if state.authed else 2.0
    w[ImapStepKind.AUTHENTICATE_WRONG] = 0.5 if state.authed else 2.0
    w[ImapStepKind.LITERAL_HUGE] = 0.8
    w[ImapStepKind.LITERAL_PLUS] = 1.5
    w[ImapStepKind.MALFORMED] = 2.5
    w[ImapStepKind.LONG_LINE] = 1.5
    w[ImapStepKind.WRONG_STATE] = 2.0
    w[ImapStepKind.PIPELINE] = 1.2
    w[ImapStepKind.IDLE_GARBAGE] = 2.0 if state.authed else 1.0
    w[ImapStepKind.SELECT] = 3.0 if state.authed and not state.selected else 0.5
    w[ImapStepKind.LOGOUT] = 0.6
    w[ImapStepKind.CLOSE] = 0.3
    w[ImapStepKind.ABORT] = 0.3
    return w


def _closing(rng: random.Random) -> ImapStepKind:
    return rng.choices((ImapStepKind.LOGOUT, ImapStepKind.CLOSE, ImapStepKind.ABORT), (6, 2, 1))[0]


def _clean(ctx: ImapContext) -> list[ImapStepKind]:
    kinds = [ImapStepKind.CAPABILITY]
    if ctx.target.starttls:
        kinds.append(ImapStepKind.STARTTLS)
    if ctx.target.user:
        kinds += [ImapStepKind.LOGIN, ImapStepKind.SELECT]
        if ctx.rng.random() < 0.5:
            kinds.append(ImapStepKind.IDLE_GARBAGE)
    return [*kinds, _closing(ctx.rng)]


def _walk(ctx: ImapContext, state: _State) -> list[ImapStepKind]:
    def weights(last: ImapStepKind | None) -> dict[ImapStepKind, float]:
        if last is not None:
            state.after(last)
        return _weights(state, ctx.target)

    return walk(ctx.rng, [], ctx.rng.randint(1, _MAX_STEPS), weights)


def draw_imap_steps(rng: random.Random, target: FuzzTarget) -> tuple[ImapStep, ...]:
    """The steps of one case, drawn from ``rng``: clean or a walk, up to its closing step."""
    ctx = ImapContext(rng, target)
    clean = rng.random() < _CLEAN_SHARE
    kinds = _clean(ctx) if clean else _walk(ctx, _State(tls=target.implicit_tls))
    return assemble(kinds, lambda kind: IMAP_BUILDERS[kind](ctx), lambda: _closing(rng))


def plan_imap_case(target: FuzzTarget, case_id: int, seed: int) -> CasePlan[ImapStep]:
    """Case ``case_id`` of a run seeded with ``seed`` (its own seed is ``case_seed``)."""
    own_seed = case_seed(seed, case_id)
    rng = random.Random(own_seed)  # noqa: S311 -- a plan must replay from its seed
    return CasePlan(case_id, own_seed, "imap", draw_imap_steps(rng, target))
