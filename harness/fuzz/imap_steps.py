"""One builder per IMAP step kind: the pieces a step writes, its variant drawn from the case's
random generator. Tags are unique within a case (``a001``, ``a002``...), so a response names
the command it completes even when many are pipelined."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass

from harness.fuzz.imap_plan import ImapOp, ImapPiece, ImapStep, ImapStepKind
from harness.fuzz.mutate import line_end, long_text
from harness.fuzz.target import FuzzTarget

__all__ = ["IMAP_BUILDERS", "ImapContext"]

_CRLF = b"\r\n"
#: Literal sizes announced and never sent: 1 MiB to past 32 and 64 bits.
_HUGE = (1 << 20, 50 << 20, 1 << 30, (1 << 32) + 1, 99_999_999_999, 1 << 64)


@dataclass
class ImapContext:
    rng: random.Random
    target: FuzzTarget
    issued: int = 0

    def tag(self) -> str:
        self.issued += 1
        return f"a{self.issued:03d}"

    @property
    def user(self) -> bytes:
        return (self.target.user or "fuzz").encode()

    @property
    def password(self) -> bytes:
        return self.target.password.encode()


def _step(kind: ImapStepKind, variant: str, *pieces: ImapPiece) -> ImapStep:
    return ImapStep(kind.value, variant, pieces)


def _line(ctx: ImapContext, text: bytes, *, exact: bool = True, joined: bool = False) -> ImapPiece:
    tag = ctx.tag()
    return ImapPiece(ImapOp.LINE, tag.encode() + b" " + text + _CRLF, tag, joined, exact)


def _quoted(value: bytes) -> bytes:
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def capability(ctx: ImapContext) -> ImapStep:
    return _step(ImapStepKind.CAPABILITY, "capability", _line(ctx, b"CAPABILITY"))


def starttls(ctx: ImapContext) -> ImapStep:
    tag = ctx.tag()
    return _step(
        ImapStepKind.STARTTLS,
        "upgrade",
        ImapPiece(ImapOp.STARTTLS, f"{tag} STARTTLS\r\n".encode(), tag),
        _line(ctx, b"CAPABILITY"),
    )


def starttls_inject(ctx: ImapContext) -> ImapStep:
    tag, injected_tag = ctx.tag(), ctx.tag()
    variant = ctx.rng.choice(("capability", "login", "noop"))
    command = {"capability": b"CAPABILITY", "login": b"LOGIN injected nope", "noop": b"NOOP"}
    data = f"{tag} STARTTLS\r\n{injected_tag} ".encode() + command[variant] + _CRLF
    return _step(
        ImapStepKind.STARTTLS_INJECT,
        variant,
        ImapPiece(ImapOp.STARTTLS, data, tag),
        _line(ctx, b"CAPABILITY"),
    )


def starttls_twice(ctx: ImapContext) -> ImapStep:
    tag = ctx.tag()
    return _step(
        ImapStepKind.STARTTLS_TWICE,
        "again",
        ImapPiece(ImapOp.STARTTLS, f"{tag} STARTTLS\r\n".encode(), tag),
    )


def login(ctx: ImapContext) -> ImapStep:
    """A correct LOGIN: atoms, quoted strings, synchronising or non-synchronising literals."""
    user, password = ctx.user, ctx.password
    variant = ctx.rng.choice(("quoted", "literal", "literal_plus"))
    if variant == "quoted":
        return _step(
            ImapStepKind.LOGIN,
            variant,
            _line(ctx, b"LOGIN " + _quoted(user) + b" " + _quoted(password)),
        )
    if variant == "literal_plus":
        text = b"LOGIN {%d+}\r\n%s {%d+}\r\n%s" % (len(user), user, len(password), password)
        return _step(ImapStepKind.LOGIN, variant, _line(ctx, text))
    tag = ctx.tag()
    head = f"{tag} LOGIN {{{len(user)}}}\r\n".encode()
    follow = (user + b" {%d}\r\n" % len(password), password + _CRLF)
    return _step(ImapStepKind.LOGIN, variant, ImapPiece(ImapOp.CONTINUED, head, tag, follow=follow))


def login_wrong(ctx: ImapContext) -> ImapStep:
    rng = ctx.rng
    variant = rng.choice(
        (
            "wrong_password",
            "unknown_user",
            "empty",
            "escapes",
            "atoms_8bit",
            "too_many_args",
            "missing_password",
        )
    )
    text = {
        "wrong_password": b"LOGIN " + _quoted(ctx.user) + b' "wrong-password"',
        "unknown_user": b'LOGIN "nobody-here" "whatever"',
        "empty": b'LOGIN "" ""',
        "escapes": b'LOGIN "a\\"b\\\\" "c\\d"',
        "atoms_8bit": b"LOGIN us\xe9r p\xe4ss",
        "too_many_args": b"LOGIN a b c d",
        "missing_password": b"LOGIN " + _quoted(ctx.user),
    }[variant]
    return _step(ImapStepKind.LOGIN_WRONG, variant, _line(ctx, text))


def authenticate_wrong(ctx: ImapContext) -> ImapStep:
    rng = ctx.rng
    wrong = base64.b64encode(b"\0" + ctx.user + b"\0wrong-password")
    variant = rng.choice(
        ("wrong", "sasl_ir_wrong", "bad_base64", "abort", "unknown_mech", "huge_blob", "not_plain")
    )
    if variant == "sasl_ir_wrong":
        return _step(
            ImapStepKind.AUTHENTICATE_WRONG, variant, _line(ctx, b"AUTHENTICATE PLAIN " + wrong)
        )
    if variant == "unknown_mech":
        return _step(
            ImapStepKind.AUTHENTICATE_WRONG, variant, _line(ctx, b"AUTHENTICATE X-FUZZ-MECH")
        )
    response = {
        "wrong": wrong,
        "bad_base64": rng.choice((b"!!!not base64", b"====", b"YW=Jj")),
        "abort": b"*",
        "huge_blob": base64.b64encode(long_text(rng, rng.choice((8192, 49152)))),
        "not_plain": base64.b64encode(b"no separators"),
    }[variant]
    tag = ctx.tag()
    return _step(
        ImapStepKind.AUTHENTICATE_WRONG,
        variant,
        ImapPiece(
            ImapOp.CONTINUED,
            f"{tag} AUTHENTICATE PLAIN\r\n".encode(),
            tag,
            follow=(response + _CRLF,),
        ),
    )


def literal_huge(ctx: ImapContext) -> ImapStep:
    """A literal of megabytes to exabytes announced, then less sent, or nothing, and hang up."""
    rng = ctx.rng
    size = rng.choice(_HUGE)
    command = rng.choice((b"LOGIN", b"APPEND INBOX", b"SELECT"))
    plus = rng.random() < 0.3
    variant = rng.choice(("send_less", "close_at_plus"))
    tag = ctx.tag()
    head = f"{tag} ".encode() + command + b" {%d%s}\r\n" % (size, b"+" if plus else b"")
    partial = long_text(rng, rng.randint(1, 4096))
    if plus:  # no "+" comes for a non-synchronising literal: the bytes follow at once
        piece = ImapPiece(
            ImapOp.CONTINUED,
            head + (partial if variant == "send_less" else b""),
            tag,
            final=False,
        )
    else:
        follow = (partial,) if variant == "send_less" else ()
        piece = ImapPiece(ImapOp.CONTINUED, head, tag, follow=follow, final=False)
    closing = ImapPiece(ImapOp.ABORT, rst=True) if rng.random() < 0.5 else ImapPiece(ImapOp.CLOSE)
    return _step(
        ImapStepKind.LITERAL_HUGE, f"{variant}_{size}{'_plus' if plus else ''}", piece, closing
    )


def literal_plus(ctx: ImapContext) -> ImapStep:
    """Non-synchronising literals (RFC 7888): right, empty, and shorter than announced."""
    rng = ctx.rng
    variant = rng.choice(("login", "select", "zero", "short", "long"))
    if variant == "login":
        return _step(
            ImapStepKind.LITERAL_PLUS,
            variant,
            _line(ctx, b"LOGIN {%d+}\r\n%s {5+}\r\nwrong" % (len(ctx.user), ctx.user)),
        )
    if variant == "select":
        return _step(ImapStepKind.LITERAL_PLUS, variant, _line(ctx, b"SELECT {5+}\r\nINBOX"))
    if variant == "zero":
        return _step(ImapStepKind.LITERAL_PLUS, variant, _line(ctx, b'LOGIN {0+}\r\n ""'))
    # the server reads the size it was told: the line is off from there, so the case ends
    text = b"LOGIN {10+}\r\nabc x" if variant == "short" else b"LOGIN {2+}\r\nabcdef x"
    return _step(
        ImapStepKind.LITERAL_PLUS, variant, _line(ctx, text, exact=False), ImapPiece(ImapOp.CLOSE)
    )


def malformed(ctx: ImapContext) -> ImapStep:
    """Missing and bad tags, unbalanced parentheses and quotes, 8-bit bytes, odd line ends."""
    rng = ctx.rng
    variant = rng.choice(
        (
            "missing_tag",
            "bad_tag",
            "unbalanced_paren",
            "unbalanced_quote",
            "eight_bit",
            "bad_literal",
            "unknown_command",
            "missing_args",
            "line_end",
            "empty_line",
        )
    )
    if variant in ("missing_tag", "bad_tag", "empty_line"):
        line = {
            "missing_tag": rng.choice((b"LOGIN a b", b"NOOP", b"CAPABILITY")),
            "bad_tag": rng.choice(
                (
                    b"* NOOP",
                    b"+ NOOP",
                    b"a{b NOOP",
                    b'"q" NOOP',
                    b"a%b NOOP",
                    b"(x NOOP",
                    b"\xe9t\xe9 NOOP",
                    b" NOOP",
                    b"a\x00b NOOP",
                )
            ),
            "empty_line": b"",
        }[variant]
        return _step(
            ImapStepKind.MALFORMED, variant, ImapPiece(ImapOp.LINE, line + _CRLF, exact=False)
        )
    if variant == "line_end":
        name, end = line_end(rng)
        tag = ctx.tag()
        piece = ImapPiece(ImapOp.LINE, f"{tag} NOOP".encode() + end, tag, exact=False)
        return _step(ImapStepKind.MALFORMED, f"line_end_{name}", piece)
    text = rng.choice(
        {
            "unbalanced_paren": (
                b"FETCH 1 (FLAGS",
                b"STATUS INBOX (MESSAGES",
                b"FETCH 1 FLAGS)",
                b"FETCH 1 ((((((((((FLAGS",
            ),
            "unbalanced_quote": (b'LOGIN "user pass', b'SELECT "INBOX', b'LOGIN "a\\"'),
            "eight_bit": (b"LOGIN us\xe9r p\xe4ss", b"SELECT INB\xffOX", b"NOOP \x00\x01\x7f"),
            "bad_literal": (
                b"LOGIN {abc}",
                b"LOGIN {-1}",
                b"LOGIN {5",
                b"LOGIN {18446744073709551616}",
            ),
            "unknown_command": (b"XYZZY", b"LOGINN a b", b"SELECTT INBOX"),
            "missing_args": (b"LOGIN", b"SELECT", b"AUTHENTICATE", b"FETCH"),
        }[variant]
    )
    return _step(ImapStepKind.MALFORMED, variant, _line(ctx, text, exact=False))


def long_line(ctx: ImapContext) -> ImapStep:
    rng = ctx.rng
    size = rng.choice((1000, 8192, 65536, 100_000))
    command = rng.choice((b"NOOP ", b"LOGIN ", b"SELECT ", b"CAPABILITY "))
    return _step(
        ImapStepKind.LONG_LINE,
        f"{command.strip().decode().lower()}_{size}",
        _line(ctx, command + long_text(rng, size), exact=False),
    )


def wrong_state(ctx: ImapContext) -> ImapStep:
    """Commands the state forbids: SELECT or FETCH before LOGIN, STORE outside a mailbox..."""
    text = ctx.rng.choice(
        (
            b"SELECT INBOX",
            b"EXAMINE INBOX",
            b"FETCH 1:* (FLAGS)",
            b"EXPUNGE",
            b"STORE 1 +FLAGS (\\Seen)",
            b"CLOSE",
            b"UID FETCH 1 BODY[]",
            b'LIST "" *',
            b"STATUS INBOX (MESSAGES)",
        )
    )
    return _step(ImapStepKind.WRONG_STATE, text.split()[0].decode().lower(), _line(ctx, text))


def pipeline(ctx: ImapContext) -> ImapStep:
    rng = ctx.rng
    commands = (b"NOOP", b"CAPABILITY", b'LOGIN "x" "y"', b"SELECT INBOX", b"CHECK")
    count = rng.randint(10, 100)
    return _step(
        ImapStepKind.PIPELINE,
        f"commands_{count}",
        *(_line(ctx, rng.choice(commands), joined=i > 0) for i in range(count)),
    )


def idle_garbage(ctx: ImapContext) -> ImapStep:
    rng = ctx.rng
    variant = rng.choice(("command", "bytes", "done_lower", "done_extra", "long"))
    garbage = {
        "command": b"a999 NOOP\r\n",
        "bytes": bytes(rng.randrange(256) for _ in range(64)) + _CRLF,
        "done_lower": b"done\r\n",
        "done_extra": b"DONE now\r\n",
        "long": long_text(rng, 20000) + _CRLF,
    }[variant]
    tag = ctx.tag()
    return _step(
        ImapStepKind.IDLE_GARBAGE,
        variant,
        ImapPiece(ImapOp.IDLE, f"{tag} IDLE\r\n".encode(), tag, follow=(garbage,)),
    )


def select(ctx: ImapContext) -> ImapStep:
    return _step(ImapStepKind.SELECT, "inbox", _line(ctx, b"SELECT INBOX"))


def logout(ctx: ImapContext) -> ImapStep:
    return _step(ImapStepKind.LOGOUT, "logout", _line(ctx, b"LOGOUT"), ImapPiece(ImapOp.CLOSE))


def close(ctx: ImapContext) -> ImapStep:
    return _step(ImapStepKind.CLOSE, "fin", ImapPiece(ImapOp.CLOSE))


def abort(ctx: ImapContext) -> ImapStep:
    return _step(ImapStepKind.ABORT, "rst", ImapPiece(ImapOp.ABORT, rst=True))


IMAP_BUILDERS: dict[ImapStepKind, Callable[[ImapContext], ImapStep]] = {
    ImapStepKind.CAPABILITY: capability,
    ImapStepKind.STARTTLS: starttls,
    ImapStepKind.STARTTLS_INJECT: starttls_inject,
    ImapStepKind.STARTTLS_TWICE: starttls_twice,
    ImapStepKind.LOGIN: login,
    ImapStepKind.LOGIN_WRONG: login_wrong,
    ImapStepKind.AUTHENTICATE_WRONG: authenticate_wrong,
    ImapStepKind.LITERAL_HUGE: literal_huge,
    ImapStepKind.LITERAL_PLUS: literal_plus,
    ImapStepKind.MALFORMED: malformed,
    ImapStepKind.LONG_LINE: long_line,
    ImapStepKind.WRONG_STATE: wrong_state,
    ImapStepKind.PIPELINE: pipeline,
    ImapStepKind.IDLE_GARBAGE: idle_garbage,
    ImapStepKind.SELECT: select,
    ImapStepKind.LOGOUT: logout,
    ImapStepKind.CLOSE: close,
    ImapStepKind.ABORT: abort,
}
