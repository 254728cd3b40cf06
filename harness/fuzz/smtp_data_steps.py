"""SMTP steps that carry a message: DATA with a valid body or one that abuses headers, encodings
and the end-of-data dot; DATA cut off mid-message; BDAT chunking done right and done wrong."""

from __future__ import annotations

import random

from harness.fuzz import messages
from harness.fuzz.messages import Body
from harness.fuzz.smtp_plan import Op, Piece, SmtpStep, StepKind, command
from harness.fuzz.smtp_steps import CRLF, StepContext, body_piece, step, valid_message

__all__ = [
    "bdat",
    "bdat_bad",
    "data",
    "data_abort",
    "message_dots",
    "message_encoding",
    "message_headers",
]


def _message(kind: StepKind, body: Body, token: str) -> SmtpStep:
    return step(kind, body.variant, command(b"DATA\r\n", op=Op.DATA), body_piece(body, token))


def data(ctx: StepContext) -> SmtpStep:
    body, token = valid_message(ctx)
    return _message(StepKind.DATA, body, token)


def message_headers(ctx: StepContext) -> SmtpStep:
    token = ctx.token()
    t = ctx.target
    body = messages.header_body(ctx.rng, token, t.sender_address, t.rcpt_address)
    return _message(StepKind.MESSAGE_HEADERS, body, token)


def message_encoding(ctx: StepContext) -> SmtpStep:
    token = ctx.token()
    t = ctx.target
    body = messages.encoding_body(ctx.rng, token, t.sender_address, t.rcpt_address)
    return _message(StepKind.MESSAGE_ENCODING, body, token)


def message_dots(ctx: StepContext) -> SmtpStep:
    token, hidden = ctx.token(), ctx.token()
    t = ctx.target
    body = messages.dots_body(ctx.rng, token, hidden, t.sender_address, t.rcpt_address)
    return _message(StepKind.MESSAGE_DOTS, body, token)


def data_abort(ctx: StepContext) -> SmtpStep:
    """Half a message, then the connection dropped: under TLS without close_notify."""
    body, token = valid_message(ctx)
    rst = ctx.rng.random() < 0.5
    return step(
        StepKind.DATA_ABORT,
        "rst" if rst else "fin",
        command(b"DATA\r\n", op=Op.DATA),
        Piece(Op.BODY, messages.cut(ctx.rng, body), replies=0, tokens=(token,)),
        Piece(Op.ABORT, rst=rst),
    )


def _chunks(rng: random.Random, text: bytes, count: int) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(text)), min(count - 1, len(text) - 1)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def _bdat(
    chunk: bytes,
    token: str,
    *,
    last: bool,
    declared: int | None = None,
    joined: bool = False,
    extra: int = 0,
) -> Piece:
    size = len(chunk) if declared is None else declared
    head = f"BDAT {size}{' LAST' if last else ''}\r\n".encode()
    return Piece(
        Op.BDAT,
        head + chunk,
        joined=joined,
        replies=1 + extra,
        exact=extra == 0,
        final=last,
        tokens=(token,),
    )


def bdat(ctx: StepContext) -> SmtpStep:
    """RFC 3030 chunking done right: one chunk, several, a closing BDAT 0 LAST, pipelined."""
    token = ctx.token()
    t = ctx.target
    text = messages.message_text(ctx.rng, token, t.sender_address, t.rcpt_address)
    variant = ctx.rng.choice(("single", "chunks", "zero_last", "pipelined"))
    if variant == "single":
        return step(StepKind.BDAT, variant, _bdat(text, token, last=True))
    parts = _chunks(ctx.rng, text, ctx.rng.randint(2, 5))
    joined = variant == "pipelined"
    pieces = [_bdat(p, token, last=False, joined=joined and i > 0) for i, p in enumerate(parts)]
    if variant == "zero_last":
        pieces.append(_bdat(b"", token, last=True))
    else:
        pieces[-1] = _bdat(parts[-1], token, last=True, joined=joined)
    return step(StepKind.BDAT, variant, *pieces)


def bdat_bad(ctx: StepContext) -> SmtpStep:
    """Sizes that lie, BDAT mixed with DATA, a huge size then a hang-up, bad size syntax."""
    rng, t = ctx.rng, ctx.target
    token = ctx.token()
    text = messages.message_text(rng, token, t.sender_address, t.rcpt_address)
    variant = rng.choice(
        ("size_short", "size_long", "huge_close", "mixed_data", "bad_syntax", "zero_then_last")
    )
    if variant == "size_short":
        declared = len(text) - rng.randint(1, 40)
        rest = text[declared:].count(b"\n")
        return step(
            StepKind.BDAT_BAD, variant, _bdat(text, token, last=True, declared=declared, extra=rest)
        )
    if variant in ("size_long", "huge_close"):
        declared = len(text) + rng.randint(1, 100) if variant == "size_long" else 1_000_000_000
        chunk = text if variant == "size_long" else text[: min(len(text), 1024)]
        piece = _bdat(chunk, token, last=True, declared=declared)
        return step(
            StepKind.BDAT_BAD,
            variant,
            Piece(Op.BDAT, piece.data, replies=1, exact=False, final=True, tokens=(token,)),
            Piece(Op.ABORT, rst=rng.random() < 0.5),
        )
    if variant == "mixed_data":
        second = ctx.token()
        body = messages.valid_body(rng, second, t.sender_address, t.rcpt_address)
        return step(
            StepKind.BDAT_BAD,
            variant,
            _bdat(text[:40], token, last=False),
            command(b"DATA\r\n", op=Op.DATA),
            body_piece(body, second),
        )
    if variant == "bad_syntax":
        line = rng.choice(
            (
                b"BDAT abc LAST",
                b"BDAT -5",
                b"BDAT",
                b"BDAT 10 LAST extra",
                b"BDAT 0x10 LAST",
                b"BDAT 99999999999999999999 LAST",
            )
        )
        return step(
            StepKind.BDAT_BAD, variant, Piece(Op.COMMAND, line + CRLF, replies=1, exact=False)
        )
    return step(
        StepKind.BDAT_BAD, variant, _bdat(b"", token, last=False), _bdat(text, token, last=True)
    )
