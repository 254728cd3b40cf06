"""The SMTP step builders' common ground (the case's context, pieces for a command line and for
a message body) and the session steps: EHLO, STARTTLS and its abuses, AUTH, the envelope, the
odd commands and the ways to leave. ``smtp_data_steps`` and ``smtp_garble_steps`` hold the rest;
``smtp_grammar`` decides which comes next."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass

from harness.fuzz import messages
from harness.fuzz.messages import Body
from harness.fuzz.mutate import long_text
from harness.fuzz.plan import message_token
from harness.fuzz.smtp_plan import Op, Piece, SmtpStep, StepKind, command
from harness.fuzz.target import FuzzTarget

__all__ = [
    "COMMANDS",
    "CRLF",
    "StepContext",
    "abort",
    "auth",
    "auth_bad",
    "body_piece",
    "close",
    "ehlo",
    "line_piece",
    "mail",
    "misc_command",
    "quit_",
    "rcpt",
    "some_command",
    "starttls",
    "starttls_abort_handshake",
    "starttls_inject",
    "starttls_twice",
    "step",
    "valid_message",
]

CRLF = b"\r\n"


@dataclass
class StepContext:
    """What a builder draws from: the case's generator, the target, and fresh tokens."""

    rng: random.Random
    target: FuzzTarget
    case_id: int
    prefix: str
    issued: int = 0

    def token(self) -> str:
        self.issued += 1
        return message_token(self.prefix, self.case_id, self.issued)

    @property
    def mail_line(self) -> bytes:
        return f"MAIL FROM:<{self.target.sender_address}>".encode()

    @property
    def rcpt_line(self) -> bytes:
        return f"RCPT TO:<{self.target.rcpt_address}>".encode()


def step(kind: StepKind, variant: str, *pieces: Piece) -> SmtpStep:
    return SmtpStep(kind.value, variant, pieces)


def line_piece(data: bytes, *, joined: bool = False) -> Piece:
    return command(data + CRLF, joined=joined)


def body_piece(body: Body, token: str, *, joined: bool = False) -> Piece:
    return Piece(
        Op.BODY,
        body.wire,
        joined=joined,
        replies=body.extra,
        exact=body.extra == 0,
        final=True,
        tokens=(token, *body.smuggled),
    )


def valid_message(ctx: StepContext) -> tuple[Body, str]:
    token = ctx.token()
    sender, rcpt = ctx.target.sender_address, ctx.target.rcpt_address
    return messages.valid_body(ctx.rng, token, sender, rcpt), token


COMMANDS = (b"NOOP", b"RSET", b"HELP", b"VRFY postmaster", b"EXPN postmaster", b"HELO x.test")


def some_command(ctx: StepContext) -> bytes:
    return ctx.rng.choice(
        (
            *COMMANDS,
            f"EHLO {ctx.target.helo}".encode(),
            ctx.mail_line,
            ctx.rcpt_line,
            b"DATA",
            b"QUIT",
            b"STARTTLS",
            b"AUTH PLAIN",
        )
    )


def ehlo(ctx: StepContext) -> SmtpStep:
    verb = "HELO" if ctx.rng.random() < 0.1 else "EHLO"
    return step(StepKind.EHLO, verb.lower(), line_piece(f"{verb} {ctx.target.helo}".encode()))


def starttls(ctx: StepContext) -> SmtpStep:
    return step(
        StepKind.STARTTLS,
        "upgrade",
        Piece(Op.STARTTLS, b"STARTTLS\r\n"),
        line_piece(f"EHLO {ctx.target.helo}".encode()),
    )


def starttls_inject(ctx: StepContext) -> SmtpStep:
    """Plaintext commands in the STARTTLS packet: a server must drop them, not run them under
    TLS (the 2011 command-injection class, CERT VU#555316)."""
    variant = ctx.rng.choice(("mail_rcpt", "ehlo", "noop", "rset", "auth"))
    injected = {
        "mail_rcpt": ctx.mail_line + CRLF + ctx.rcpt_line + CRLF,
        "ehlo": b"EHLO injected.test\r\n",
        "noop": b"NOOP\r\n" * ctx.rng.randint(1, 3),
        "rset": b"RSET\r\n",
        "auth": b"AUTH PLAIN " + base64.b64encode(b"\0injected\0nope") + CRLF,
    }[variant]
    return step(
        StepKind.STARTTLS_INJECT,
        variant,
        Piece(Op.STARTTLS, b"STARTTLS\r\n" + injected),
        line_piece(f"EHLO {ctx.target.helo}".encode()),
    )


def starttls_twice(ctx: StepContext) -> SmtpStep:
    variant = ctx.rng.choice(("plain", "with_arg"))
    data = b"STARTTLS\r\n" if variant == "plain" else b"STARTTLS now\r\n"
    return step(StepKind.STARTTLS_TWICE, variant, Piece(Op.STARTTLS, data))


def starttls_abort_handshake(ctx: StepContext) -> SmtpStep:
    """STARTTLS accepted, then a handshake that never finishes."""
    variant = ctx.rng.choice(("hello_prefix", "record_header", "hello_full", "plaintext", "none"))
    size = {"hello_prefix": ctx.rng.randint(6, 200), "record_header": 5, "hello_full": -1}
    follow = (b"EHLO still-plaintext.test\r\n",) if variant == "plaintext" else ()
    piece = Piece(
        Op.HANDSHAKE_ABORT,
        b"STARTTLS\r\n",
        size=size.get(variant, 0),
        follow=follow,
        rst=ctx.rng.random() < 0.5,
    )
    return step(StepKind.STARTTLS_ABORT_HANDSHAKE, variant, piece)


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def auth(ctx: StepContext) -> SmtpStep:
    """A correct login, by PLAIN with an initial response, PLAIN after a 334, or LOGIN."""
    user, password = ctx.target.user.encode(), ctx.target.password.encode()
    plain = _b64(b"\0" + user + b"\0" + password)
    variant = ctx.rng.choice(("plain", "plain_continued", "login"))
    if variant == "plain":
        piece = Piece(Op.AUTH, b"AUTH PLAIN " + plain + CRLF)
    elif variant == "plain_continued":
        piece = Piece(Op.AUTH, b"AUTH PLAIN\r\n", follow=(plain + CRLF,))
    else:
        piece = Piece(Op.AUTH, b"AUTH LOGIN\r\n", follow=(_b64(user) + CRLF, _b64(password) + CRLF))
    return step(StepKind.AUTH, variant, piece)


def auth_bad(ctx: StepContext) -> SmtpStep:
    """Wrong credentials, malformed base64, huge blobs, an exchange aborted with "*"."""
    rng = ctx.rng
    user = (ctx.target.user or "fuzz").encode()
    variant = rng.choice(
        (
            "wrong_password",
            "unknown_user",
            "bad_base64",
            "not_plain",
            "huge_blob",
            "huge_continued",
            "abort_plain",
            "abort_login",
            "unknown_mech",
            "no_mech",
            "login_wrong",
            "authzid_other",
        )
    )
    huge = _b64(long_text(rng, rng.choice((4096, 12288, 49152))))
    pieces = {
        "wrong_password": (b"AUTH PLAIN " + _b64(b"\0" + user + b"\0wrong-password"), ()),
        "unknown_user": (b"AUTH PLAIN " + _b64(b"\0nobody-here\0whatever"), ()),
        "bad_base64": (b"AUTH PLAIN", (rng.choice((b"!!!not base64", b"====", b"YW=Jj")),)),
        "not_plain": (b"AUTH PLAIN " + _b64(b"no separators at all"), ()),
        "huge_blob": (b"AUTH PLAIN " + huge, ()),
        "huge_continued": (b"AUTH PLAIN", (huge,)),
        "abort_plain": (b"AUTH PLAIN", (b"*",)),
        "abort_login": (b"AUTH LOGIN", (_b64(user), b"*")),
        "unknown_mech": (b"AUTH X-FUZZ-MECH", ()),
        "no_mech": (b"AUTH", ()),
        "login_wrong": (b"AUTH LOGIN", (_b64(user), _b64(b"wrong-password"))),
        "authzid_other": (
            b"AUTH PLAIN " + _b64(b"postmaster\0" + user + b"\0" + ctx.target.password.encode()),
            (),
        ),
    }
    first, follow = pieces[variant]
    return step(
        StepKind.AUTH_BAD,
        variant,
        Piece(Op.AUTH, first + CRLF, follow=tuple(f + CRLF for f in follow)),
    )


def mail(ctx: StepContext) -> SmtpStep:
    size = ctx.rng.random() < 0.5
    line = ctx.mail_line + (f" SIZE={ctx.rng.randint(500, 5000)}".encode() if size else b"")
    return step(StepKind.MAIL, "size" if size else "plain", line_piece(line))


def rcpt(ctx: StepContext) -> SmtpStep:
    return step(StepKind.RCPT, "plain", line_piece(ctx.rcpt_line))


def misc_command(ctx: StepContext) -> SmtpStep:
    line = ctx.rng.choice(
        (
            *COMMANDS[:5],
            b"HELP DATA",
            b"NOOP with an argument",
            b"ETRN example.test",
            b"XCLIENT NAME=spoofed.example.test",
            b"XFORWARD ADDR=192.0.2.1",
            b"TURN",
            b"ATRN",
        )
    )
    return step(StepKind.MISC_COMMAND, line.split()[0].decode().lower(), line_piece(line))


def quit_(ctx: StepContext) -> SmtpStep:
    return step(StepKind.QUIT, "quit", line_piece(b"QUIT"), Piece(Op.CLOSE))


def close(ctx: StepContext) -> SmtpStep:
    return step(StepKind.CLOSE, "fin", Piece(Op.CLOSE))


def abort(ctx: StepContext) -> SmtpStep:
    return step(StepKind.ABORT, "rst", Piece(Op.ABORT, rst=True))
