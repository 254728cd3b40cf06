"""Message texts for the SMTP cases: valid ones, and ones that abuse header folding, encodings and
the end-of-data dot, each as the exact bytes that follow the server's 354.

Every message starts with its ``X-Mailstack-Token`` header (``TOKEN_HEADER``), so the token is
readable from the first line of whatever the server keeps, even of a message cut short. Body lines
are drawn from words that are not SMTP verbs: a body read as commands (after a refused DATA, or by
a server that took a bare-LF dot for the end) cannot start a transaction of its own, unless a case
smuggles one in on purpose, and then its token is listed in ``Body.smuggled``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from harness.fuzz.mutate import encode_text, long_text
from harness.smtp.message import TOKEN_HEADER, dot_stuff

__all__ = [
    "Body",
    "cut",
    "dots_body",
    "encoding_body",
    "header_body",
    "message_text",
    "valid_body",
]

_WORDS = (
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "eiusmod",
    "tempor",
    "incididunt",
    "labore",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "minim",
)
_EOD = b".\r\n"


@dataclass(frozen=True)
class Body:
    """What is written after a 354. ``extra``: at most how many more replies a server may send
    when it ends the data early (the rest then reads as commands); ``smuggled``: tokens of
    messages hidden in the data that such a server would take as messages of their own."""

    variant: str
    wire: bytes
    extra: int = 0
    smuggled: tuple[str, ...] = ()


def _lines(rng: random.Random, count: int) -> list[bytes]:
    return [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 12))).encode()
        for _ in range(count)
    ]


def message_text(
    rng: random.Random,
    token: str,
    sender: str,
    rcpt: str,
    *,
    extra_headers: tuple[bytes, ...] = (),
    body: tuple[bytes, ...] | None = None,
) -> bytes:
    """A message (CRLF line ends, not dot-stuffed): the token header first, then the usual
    headers, ``extra_headers`` as given, an empty line and the body."""
    headers = [
        f"{TOKEN_HEADER}: {token}".encode(),
        f"From: <{sender}>".encode(),
        f"To: <{rcpt}>".encode(),
        f"Subject: fuzz {token}".encode(),
        b"Date: Thu, 01 Jan 2026 00:00:00 +0000",
        f"Message-ID: <{token}@fuzz.mailstack.test>".encode(),
        *extra_headers,
    ]
    lines = list(body) if body is not None else _lines(rng, rng.randint(1, 20))
    return b"\r\n".join([*headers, b"", *lines]) + b"\r\n"


def _wire(text: bytes) -> bytes:
    return dot_stuff(text) + _EOD


def valid_body(rng: random.Random, token: str, sender: str, rcpt: str) -> Body:
    return Body("valid", _wire(message_text(rng, token, sender, rcpt)))


def header_body(rng: random.Random, token: str, sender: str, rcpt: str) -> Body:
    """Header folding and syntax abuse: whitespace-only folds, folds over thousands of lines,
    over-long lines, thousands of headers, a header without a colon, NUL and bare CR."""
    fold = b"\t" + b"b" * 70
    abuse: dict[str, Callable[[], tuple[bytes, ...]]] = {
        "ws_fold": lambda: (b"X-Fold: a", b" ", b"\t", b"   \t "),
        "long_fold": lambda: (b"X-Fold: a", *([fold] * rng.choice((100, 1000, 3000)))),
        "long_line": lambda: (b"X-Long: " + long_text(rng, rng.choice((999, 2000, 20000))),),
        "many": lambda: tuple(f"X-H{i}: v".encode() for i in range(rng.choice((200, 1000, 3000)))),
        "no_colon": lambda: (b"This header has no colon",),
        "nul": lambda: (b"X-Nul: a\0b",),
        "empty_name": lambda: (b": no name",),
        "space_before_colon": lambda: (b"X-Space : value",),
        "high_name": lambda: (b"X-\xe9t\xe9: value",),
        "bare_cr": lambda: (b"X-Cr: a\rb",),
        "fold_before_body": lambda: (b"X-Last: a", b" "),
    }
    variant = rng.choice(tuple(abuse))
    text = message_text(rng, token, sender, rcpt, extra_headers=abuse[variant]())
    return Body(variant, _wire(text))


def encoding_body(rng: random.Random, token: str, sender: str, rcpt: str) -> Body:
    """Header values and body lines in UTF-8, invalid UTF-8, latin-1, or broken encoded-words."""
    where = rng.choice(("subject", "from_name", "body", "encoded_word"))
    name, value = encode_text(rng, "fuzz")
    if where == "subject":
        headers: tuple[bytes, ...] = (b"X-Subject-2: " + value,)
        body = None
    elif where == "from_name":
        headers, body = (b"Reply-To: " + value + b" <" + sender.encode() + b">",), None
    elif where == "body":
        headers, body = (b"Content-Type: text/plain; charset=us-ascii",), (value, b"plain")
    else:
        name = rng.choice(("bad_base64", "unknown_charset", "unterminated"))
        word = {
            "bad_base64": b"=?utf-8?B?!!!?=",
            "unknown_charset": b"=?x-klingon?Q?a=FF?=",
            "unterminated": b"=?utf-8?Q?caf=C3=A9",
        }[name]
        headers, body = (b"X-Encoded: " + word,), None
    text = message_text(rng, token, sender, rcpt, extra_headers=headers, body=body)
    return Body(f"{where}_{name}", _wire(text))


#: Ends of data a lenient server may take for ".<CRLF>": the SMTP smuggling separators.
_LOOSE_ENDS: tuple[tuple[str, bytes], ...] = (
    ("lf_dot_lf", b"\n.\n"),
    ("lf_dot_crlf", b"\n.\r\n"),
    ("cr_dot_cr", b"\r.\r\n"),
    ("crlf_dot_lf", b"\r\n.\n"),
)


def dots_body(rng: random.Random, token: str, hidden: str, sender: str, rcpt: str) -> Body:
    """Dot-stuffing edge cases; ``hidden`` is the token of a smuggled second message."""
    variant = rng.choice(
        (
            "lone_dot_escaped",
            "leading_dots",
            "lone_dot_unescaped",
            "leading_dot_unstuffed",
            "loose_end",
            "smuggle",
            "headers_only",
        )
    )
    if variant in ("lone_dot_escaped", "leading_dots"):
        dots = (b".",) if variant == "lone_dot_escaped" else (b".x", b"..", b"...", b". .")
        text = message_text(rng, token, sender, rcpt, body=(b"before", *dots, b"after"))
        return Body(variant, _wire(text))
    if variant == "headers_only":
        return Body(variant, f"{TOKEN_HEADER}: {token}\r\n".encode() + _EOD)
    first = dot_stuff(message_text(rng, token, sender, rcpt))
    if variant == "lone_dot_unescaped":
        rest = b"\r\n".join(_lines(rng, rng.randint(1, 4))) + b"\r\n"
        return Body(variant, first + _EOD + rest + _EOD, extra=rest.count(b"\n") + 1)
    if variant == "leading_dot_unstuffed":
        return Body(variant, first + b".unstuffed line\r\n" + _EOD)
    end_name, end = rng.choice(_LOOSE_ENDS)
    if variant == "loose_end":
        rest = b"\r\n".join(_lines(rng, rng.randint(1, 3))) + b"\r\n"
        return Body(
            f"{variant}_{end_name}", first[:-2] + end + rest + _EOD, extra=rest.count(b"\n") + 1
        )
    sep = rng.choice((b"\r\n", b"\n"))
    commands = (
        sep.join([f"MAIL FROM:<{sender}>".encode(), f"RCPT TO:<{rcpt}>".encode(), b"DATA"]) + sep
    )
    inner = dot_stuff(message_text(rng, hidden, sender, rcpt))
    return Body(
        f"smuggle_{end_name}",
        first[:-2] + end + commands + inner + _EOD,
        extra=4,
        smuggled=(hidden,),
    )


def cut(rng: random.Random, body: Body) -> bytes:
    """A prefix of ``body`` that holds the token line and never reaches the end of data."""
    first_line = body.wire.index(b"\n") + 1
    end = len(body.wire) - len(_EOD)
    return body.wire[: rng.randint(first_line, max(first_line, end - 1))]
