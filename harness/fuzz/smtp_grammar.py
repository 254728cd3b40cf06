"""The SMTP grammar: which step may come next, from the state a conforming server would be in.

A case is either *clean* (EHLO, STARTTLS and AUTH as the port wants, then whole transactions and
QUIT: the server's state machine reached deep, every message complete) or a *walk*: steps drawn
one by one with weights that follow the state (MAIL after EHLO, RCPT after MAIL, a message after
RCPT), with a share of steps out of place on purpose. The state is what the plan expects, not
what the server said: plans are made before any connection, so one seed gives one plan.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from harness.fuzz import smtp_data_steps as data
from harness.fuzz import smtp_garble_steps as garble
from harness.fuzz import smtp_steps as session
from harness.fuzz.plan import CasePlan, assemble, case_seed, walk
from harness.fuzz.smtp_plan import SmtpStep, StepKind
from harness.fuzz.smtp_steps import StepContext
from harness.fuzz.target import FuzzTarget

__all__ = ["BUILDERS", "MAX_STEPS", "StepKind", "draw_smtp_steps", "plan_smtp_case", "smtp_kinds"]

#: Steps of a walk before its closing step.
MAX_STEPS = 8
_CLEAN_SHARE = 0.3
_MESSAGE_KINDS = (
    StepKind.DATA,
    StepKind.MESSAGE_HEADERS,
    StepKind.MESSAGE_DOTS,
    StepKind.MESSAGE_ENCODING,
    StepKind.BDAT,
    StepKind.PIPELINE_BURST,
)
_MUTATIONS = (
    StepKind.VERB_MUTATED,
    StepKind.LINE_END,
    StepKind.PARAMS_MUTATED,
    StepKind.LONG_LINE,
    StepKind.ENCODING,
)


def smtp_kinds(target: FuzzTarget) -> frozenset[StepKind]:
    """The step kinds a plan for ``target`` can contain (STARTTLS ones need a plaintext start;
    a correct AUTH needs credentials)."""
    kinds = set(StepKind)
    if not target.starttls:
        kinds -= {StepKind.STARTTLS, StepKind.STARTTLS_INJECT, StepKind.STARTTLS_ABORT_HANDSHAKE}
    if not target.user:
        kinds.discard(StepKind.AUTH)
    return frozenset(kinds)


#: One builder per step kind.
BUILDERS: dict[StepKind, Callable[[StepContext], SmtpStep]] = {
    StepKind.EHLO: session.ehlo,
    StepKind.STARTTLS: session.starttls,
    StepKind.STARTTLS_INJECT: session.starttls_inject,
    StepKind.STARTTLS_TWICE: session.starttls_twice,
    StepKind.STARTTLS_ABORT_HANDSHAKE: session.starttls_abort_handshake,
    StepKind.AUTH: session.auth,
    StepKind.AUTH_BAD: session.auth_bad,
    StepKind.MAIL: session.mail,
    StepKind.RCPT: session.rcpt,
    StepKind.DATA: data.data,
    StepKind.MESSAGE_HEADERS: data.message_headers,
    StepKind.MESSAGE_DOTS: data.message_dots,
    StepKind.MESSAGE_ENCODING: data.message_encoding,
    StepKind.DATA_ABORT: data.data_abort,
    StepKind.BDAT: data.bdat,
    StepKind.BDAT_BAD: data.bdat_bad,
    StepKind.VERB_MUTATED: garble.verb_mutated,
    StepKind.LINE_END: garble.line_end_step,
    StepKind.PARAMS_MUTATED: garble.params_mutated,
    StepKind.LONG_LINE: garble.long_line,
    StepKind.ENCODING: garble.encoding,
    StepKind.PIPELINE_BURST: garble.pipeline_burst,
    StepKind.PIPELINE_DISORDER: garble.pipeline_disorder,
    StepKind.MISC_COMMAND: session.misc_command,
    StepKind.QUIT: session.quit_,
    StepKind.CLOSE: session.close,
    StepKind.ABORT: session.abort,
}


@dataclass
class _State:
    tls: bool
    ehlo: bool = False
    authed: bool = False
    mail: bool = False
    rcpt: bool = False

    def after(self, kind: StepKind) -> None:
        if kind in (StepKind.STARTTLS, StepKind.STARTTLS_INJECT):
            self.tls, self.ehlo, self.authed, self.mail, self.rcpt = True, True, False, False, False
        elif kind == StepKind.EHLO:
            self.ehlo, self.mail, self.rcpt = True, False, False
        elif kind == StepKind.AUTH:
            self.authed = True
        elif kind == StepKind.MAIL:
            self.mail = True
        elif kind == StepKind.RCPT:
            self.rcpt = self.mail
        elif kind in (*_MESSAGE_KINDS, StepKind.PIPELINE_DISORDER, StepKind.BDAT_BAD):
            self.mail = self.rcpt = False


def _weights(state: _State, target: FuzzTarget) -> dict[StepKind, float]:
    w: dict[StepKind, float] = {StepKind.EHLO: 0.7 if state.ehlo else 8.0}
    if target.starttls and not state.tls:
        w[StepKind.STARTTLS] = 5.0 if state.ehlo else 1.0
        w[StepKind.STARTTLS_INJECT] = 1.5
        w[StepKind.STARTTLS_ABORT_HANDSHAKE] = 1.0
    if state.tls:
        w[StepKind.STARTTLS_TWICE] = 1.2
    if target.user and not state.authed:
        w[StepKind.AUTH] = 5.0 if state.ehlo else 0.5
    w[StepKind.AUTH_BAD] = 0.4 if state.authed else 1.5
    w[StepKind.MAIL] = 5.0 if state.ehlo and not state.mail else 0.6
    w[StepKind.RCPT] = 5.0 if state.mail and not state.rcpt else (1.5 if state.mail else 0.4)
    ready = state.rcpt
    for kind in (
        StepKind.DATA,
        StepKind.MESSAGE_HEADERS,
        StepKind.MESSAGE_DOTS,
        StepKind.MESSAGE_ENCODING,
    ):
        w[kind] = 3.0 if ready else 0.3
    w[StepKind.DATA_ABORT] = 2.0 if ready else 0.2
    w[StepKind.BDAT] = 2.0 if ready else 0.3
    w[StepKind.BDAT_BAD] = 2.0 if ready else 0.3
    for kind in _MUTATIONS:
        w[kind] = 1.5
    w[StepKind.PIPELINE_BURST] = 2.0 if state.ehlo and not state.mail else 0.5
    w[StepKind.PIPELINE_DISORDER] = 1.5
    w[StepKind.MISC_COMMAND] = 1.0
    w[StepKind.QUIT] = 0.5
    w[StepKind.CLOSE] = 0.3
    w[StepKind.ABORT] = 0.3
    return w


def _closing(rng: random.Random) -> StepKind:
    return rng.choices((StepKind.QUIT, StepKind.CLOSE, StepKind.ABORT), (6, 2, 1))[0]


def _clean(ctx: StepContext) -> list[StepKind]:
    rng, target = ctx.rng, ctx.target
    kinds = [StepKind.EHLO]
    if target.starttls and (target.kind == "submission" or rng.random() < 0.5):
        kinds.append(StepKind.STARTTLS)
    if target.user:
        kinds.append(StepKind.AUTH)
    for _ in range(rng.randint(1, 2)):
        message = rng.choice(_MESSAGE_KINDS)
        envelope = [] if message == StepKind.PIPELINE_BURST else [StepKind.MAIL, StepKind.RCPT]
        kinds += [*envelope, message]
    return [*kinds, _closing(rng)]


def _walk(ctx: StepContext, state: _State) -> list[StepKind]:
    def weights(last: StepKind | None) -> dict[StepKind, float]:
        if last is not None:
            state.after(last)
        return _weights(state, ctx.target)

    start = [StepKind.EHLO] if ctx.rng.random() < 0.8 else []
    return walk(ctx.rng, start, ctx.rng.randint(1, MAX_STEPS), weights)


def draw_smtp_steps(
    rng: random.Random, target: FuzzTarget, *, case_id: int = 0, prefix: str = ""
) -> tuple[SmtpStep, ...]:
    """The steps of one case, drawn from ``rng``: clean or a walk, up to its closing step.
    ``case_id`` and ``prefix`` go into the message tokens."""
    ctx = StepContext(rng, target, case_id, prefix)
    clean = rng.random() < _CLEAN_SHARE
    kinds = _clean(ctx) if clean else _walk(ctx, _State(tls=target.implicit_tls))
    return assemble(kinds, lambda kind: BUILDERS[kind](ctx), lambda: _closing(rng))


def plan_smtp_case(target: FuzzTarget, case_id: int, seed: int, prefix: str) -> CasePlan[SmtpStep]:
    """Case ``case_id`` of a run seeded with ``seed`` (its own seed is ``case_seed``)."""
    own_seed = case_seed(seed, case_id)
    rng = random.Random(own_seed)  # noqa: S311 -- a plan must replay from its seed
    steps = draw_smtp_steps(rng, target, case_id=case_id, prefix=prefix)
    return CasePlan(case_id, own_seed, "smtp", steps)
