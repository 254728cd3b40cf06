"""SMTP steps that bend the command syntax (verbs, line ends, paths and parameters, long lines,
encodings) or the command order (pipelined bursts, RFC 2920's rules broken)."""

from __future__ import annotations

from harness.fuzz.mutate import (
    LONG_SIZES,
    encode_text,
    esmtp_params,
    line_end,
    long_text,
    mutate_bytes,
    mutate_path,
    mutate_verb,
)
from harness.fuzz.smtp_plan import Op, Piece, SmtpStep, StepKind, command
from harness.fuzz.smtp_steps import (
    COMMANDS,
    StepContext,
    body_piece,
    line_piece,
    some_command,
    step,
    valid_message,
)

__all__ = [
    "encoding",
    "line_end_step",
    "long_line",
    "params_mutated",
    "pipeline_burst",
    "pipeline_disorder",
    "verb_mutated",
]


def verb_mutated(ctx: StepContext) -> SmtpStep:
    line = some_command(ctx)
    if ctx.rng.random() < 0.6:
        variant, out = mutate_verb(ctx.rng, line)
    else:
        variant, out = mutate_bytes(ctx.rng, line)
    return step(
        StepKind.VERB_MUTATED, f"{line.split()[0].decode().lower()}_{variant}", line_piece(out)
    )


def line_end_step(ctx: StepContext) -> SmtpStep:
    line = ctx.rng.choice((*COMMANDS[:3], ctx.mail_line, ctx.rcpt_line))
    variant, end = line_end(ctx.rng)
    return step(StepKind.LINE_END, variant, command(line + end))


def params_mutated(ctx: StepContext) -> SmtpStep:
    rng, t = ctx.rng, ctx.target
    verb = rng.choice(("MAIL", "RCPT"))
    address = t.sender_address if verb == "MAIL" else t.rcpt_address
    path_variant, path = (
        mutate_path(rng, address) if rng.random() < 0.7 else ("ok", b"<" + address.encode() + b">")
    )
    param_variant, params = esmtp_params(rng, verb) if rng.random() < 0.6 else ("none", b"")
    head = b"MAIL FROM:" if verb == "MAIL" else b"RCPT TO:"
    return step(
        StepKind.PARAMS_MUTATED,
        f"{verb.lower()}_{path_variant}_{param_variant}",
        line_piece(head + path + params),
    )


def long_line(ctx: StepContext) -> SmtpStep:
    rng, t = ctx.rng, ctx.target
    size = rng.choice(LONG_SIZES)
    variant = rng.choice(("noop", "mail", "rcpt", "ehlo", "garbage"))
    filler = long_text(rng, size)
    line = {
        "noop": b"NOOP " + filler,
        "mail": b"MAIL FROM:<" + filler + b"@" + t.helo.encode() + b">",
        "rcpt": b"RCPT TO:<" + filler + b"@" + t.host.encode() + b">",
        "ehlo": b"EHLO " + filler,
        "garbage": filler,
    }[variant]
    return step(StepKind.LONG_LINE, f"{variant}_{size}", line_piece(line))


def encoding(ctx: StepContext) -> SmtpStep:
    rng, t = ctx.rng, ctx.target
    name, text = encode_text(rng, "fuzz")
    where = rng.choice(("ehlo", "mail", "rcpt", "vrfy"))
    domain = t.rcpt_domain.encode()
    line = {
        "ehlo": b"EHLO " + text,
        "mail": b"MAIL FROM:<" + text + b"@" + domain + b">" + rng.choice((b"", b" SMTPUTF8")),
        "rcpt": b"RCPT TO:<" + text + b"@" + domain + b">",
        "vrfy": b"VRFY " + text,
    }[where]
    return step(StepKind.ENCODING, f"{where}_{name}", line_piece(line))


def pipeline_burst(ctx: StepContext) -> SmtpStep:
    """Commands in one write: a whole transaction with the data after DATA in the same packet
    (RFC 2920 puts DATA last in a group), the legal envelope group, or many commands at once."""
    rng, t = ctx.rng, ctx.target
    variant = rng.choice(("transaction", "transaction_rset", "envelope", "many", "from_ehlo"))
    if variant == "many":
        lines = [rng.choice(COMMANDS[:4]) for _ in range(rng.randint(20, 200))]
        return step(
            StepKind.PIPELINE_BURST,
            variant,
            *(line_piece(ln, joined=i > 0) for i, ln in enumerate(lines)),
        )
    body, token = valid_message(ctx)
    if variant == "envelope":
        return step(
            StepKind.PIPELINE_BURST,
            variant,
            line_piece(ctx.mail_line),
            line_piece(ctx.rcpt_line, joined=True),
            line_piece(ctx.rcpt_line, joined=True),
            command(b"DATA\r\n", op=Op.DATA, joined=True),
            body_piece(body, token),
        )
    head = [line_piece(f"EHLO {t.helo}".encode())] if variant == "from_ehlo" else []
    pieces = [
        *head,
        line_piece(ctx.mail_line, joined=bool(head)),
        line_piece(ctx.rcpt_line, joined=True),
        command(b"DATA\r\n", op=Op.DATA, joined=True),
        body_piece(body, token, joined=True),
    ]
    if variant == "transaction_rset":
        pieces.append(line_piece(b"RSET", joined=True))
    return step(StepKind.PIPELINE_BURST, variant, *pieces)


def pipeline_disorder(ctx: StepContext) -> SmtpStep:
    """Commands out of order, in one write: DATA before RCPT, RCPT before MAIL, and so on."""
    rng = ctx.rng
    variant = rng.choice(
        (
            "data_before_rcpt",
            "rcpt_before_mail",
            "data_first",
            "rset_mid",
            "double_mail",
            "ehlo_mid",
            "body_before_data",
            "after_quit",
        )
    )
    mail_, rcpt_ = ctx.mail_line, ctx.rcpt_line
    if variant == "after_quit":
        order: list[bytes | None] = [b"QUIT", mail_, rcpt_]
    else:
        order = {
            "data_before_rcpt": [mail_, b"DATA", None, rcpt_],
            "rcpt_before_mail": [rcpt_, mail_, b"DATA", None],
            "data_first": [b"DATA", None],
            "rset_mid": [mail_, rcpt_, b"RSET", b"DATA", None],
            "double_mail": [mail_, mail_, rcpt_, b"DATA", None],
            "ehlo_mid": [mail_, rcpt_, f"EHLO {ctx.target.helo}".encode(), b"DATA", None],
            "body_before_data": [mail_, rcpt_, None, b"DATA", None],
        }[variant]
    pieces: list[Piece] = []
    for i, item in enumerate(order):
        if item is None:
            body, token = valid_message(ctx)
            pieces.append(body_piece(body, token, joined=i > 0))
        elif item == b"DATA":
            pieces.append(command(b"DATA\r\n", op=Op.DATA, joined=i > 0))
        else:
            pieces.append(line_piece(item, joined=i > 0))
    return step(StepKind.PIPELINE_DISORDER, variant, *pieces)
