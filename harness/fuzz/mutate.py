"""Mutators: byte-level (control, NUL and 8-bit bytes, truncation, bit flips, line ends) and
token-level (verbs, mailbox paths, ESMTP parameters, text encodings).

Each takes the case's ``random.Random`` and returns ``(variant, bytes)``: the variant names the
mutation in the case record, so a finding can be read without replaying the case. Choices are
made over tuples, never sets, so one seed gives one plan on every run.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

__all__ = [
    "LINE_ENDS",
    "LONG_SIZES",
    "Mutation",
    "encode_text",
    "esmtp_params",
    "line_end",
    "long_text",
    "mutate_bytes",
    "mutate_path",
    "mutate_verb",
    "swap_case",
]

Mutation = tuple[str, bytes]

#: Line ends other than CRLF, as servers meet them in the wild (or in attacks).
LINE_ENDS: tuple[tuple[str, bytes], ...] = (
    ("lf", b"\n"),
    ("cr", b"\r"),
    ("crcrlf", b"\r\r\n"),
    ("lfcr", b"\n\r"),
    ("cr_nul_lf", b"\r\0\n"),
    ("none", b""),
)
#: Over-long line sizes: around RFC 5321's limits (512 for commands, 1000 for text lines),
#: Postfix's line_length_limit (2048) and up to 64 KiB.
LONG_SIZES = (513, 1001, 1025, 2049, 4097, 16385, 65536)

_CONTROL = bytes([*range(1, 9), 11, 12, *range(14, 32), 127])
_HIGH = bytes(range(0x80, 0x100))
_LETTERS = string.ascii_letters.encode()


def line_end(rng: random.Random) -> Mutation:
    return rng.choice(LINE_ENDS)


def long_text(rng: random.Random, size: int, alphabet: bytes = _LETTERS) -> bytes:
    """``size`` bytes drawn from ``alphabet`` (a short random run repeated: fast at 64 KiB)."""
    run = bytes(rng.choice(alphabet) for _ in range(64))
    return (run * (size // len(run) + 1))[:size]


def swap_case(rng: random.Random, word: bytes) -> bytes:
    return bytes(c ^ 0x20 if chr(c).isalpha() and rng.random() < 0.5 else c for c in word)


def _insert(rng: random.Random, data: bytes, alphabet: bytes, count: int = 1) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        out.insert(rng.randint(0, len(out)), rng.choice(alphabet))
    return bytes(out)


def mutate_bytes(rng: random.Random, data: bytes) -> Mutation:
    """One byte-level change of ``data`` (a line without its line end)."""
    variant = rng.choice(("nul", "control", "high", "truncate", "bitflip", "repeat"))
    if variant == "nul":
        return variant, _insert(rng, data, b"\0", rng.randint(1, 3))
    if variant == "control":
        return variant, _insert(rng, data, _CONTROL, rng.randint(1, 3))
    if variant == "high":
        return variant, _insert(rng, data, _HIGH, rng.randint(1, 8))
    if variant == "truncate":
        return variant, data[: rng.randint(0, max(0, len(data) - 1))]
    if variant == "bitflip" and data:
        out = bytearray(data)
        at = rng.randrange(len(out))
        out[at] ^= 1 << rng.randrange(8)
        return variant, bytes(out)
    start = rng.randrange(len(data) or 1)
    return "repeat", data[:start] + data[start:] * rng.randint(2, 20)


_UNKNOWN_VERBS = (b"XYZZY", b"MAILFROM", b"RCPTTO", b"HELLO", b"EHL0", b"DATA2", b"X", b"TURN")


def mutate_verb(rng: random.Random, line: bytes) -> Mutation:
    """A command line with its verb (the first word) or its separator mangled."""
    verb, _, rest = line.partition(b" ")
    tail = b" " + rest
    variants: dict[str, Callable[[], bytes]] = {
        "case": lambda: swap_case(rng, verb) + tail,
        "unknown": lambda: rng.choice(_UNKNOWN_VERBS) + tail,
        "truncate": lambda: verb[: rng.randint(1, max(1, len(verb) - 1))],
        "nul": lambda: _insert(rng, verb, b"\0") + tail,
        "control": lambda: _insert(rng, verb, _CONTROL) + tail,
        "high": lambda: _insert(rng, verb, _HIGH) + tail,
        "tab": lambda: verb + b"\t" + rest,
        "lead_space": lambda: b" " + line,
        "double_space": lambda: verb + b"  " + rest,
        "glued": lambda: verb + rest,
        "verb_only": lambda: verb,
        "empty": lambda: b"",
        "spaces_only": lambda: b" " * rng.randint(1, 40),
    }
    variant = rng.choice(tuple(variants))
    return variant, variants[variant]()


def mutate_path(rng: random.Random, address: str) -> Mutation:
    """A MAIL FROM / RCPT TO path (with its brackets) that bends RFC 5321 4.1.2."""
    local, _, domain = address.partition("@")
    domain = domain or "example.test"
    variant = rng.choice(
        (
            "no_brackets",
            "huge_local",
            "huge_domain",
            "source_route",
            "quoted",
            "quoted_escape",
            "empty",
            "no_domain",
            "space_before",
            "unbalanced",
            "double_at",
            "ip_literal",
            "ipv6_literal",
            "utf8",
            "percent_hack",
            "bang_path",
            "trailing_dot",
        )
    )
    paths = {
        "no_brackets": address.encode(),
        "huge_local": b"<"
        + long_text(rng, rng.choice((65, 300, 1000, 5000)))
        + b"@"
        + domain.encode()
        + b">",
        "huge_domain": b"<" + local.encode() + b"@" + b".".join([b"a" * 63] * 8) + b".test>",
        "source_route": f"<@relay1.test,@relay2.test:{address}>".encode(),
        "quoted": f'<"{local} with spaces"@{domain}>'.encode(),
        "quoted_escape": f'<"a\\"b\\\\c"@{domain}>'.encode(),
        "empty": b"<>",
        "no_domain": f"<{local}>".encode(),
        "space_before": f" <{address}>".encode(),
        "unbalanced": f"<{address}".encode(),
        "double_at": f"<{local}@@{domain}>".encode(),
        "ip_literal": f"<{local}@[127.0.0.1]>".encode(),
        "ipv6_literal": f"<{local}@[IPv6:::1]>".encode(),
        "utf8": f"<j\u00f6rg.{local}@{domain}>".encode(),
        "percent_hack": f"<{local}%{domain}@{domain}>".encode(),
        "bang_path": f"<{domain}!{local}>".encode(),
        "trailing_dot": f"<{local}.@{domain}.>".encode(),
    }
    return variant, paths[variant]


def esmtp_params(rng: random.Random, verb: str) -> Mutation:
    """ESMTP parameters for MAIL (SIZE, BODY, SMTPUTF8, AUTH, DSN) or RCPT (DSN), some bad."""
    if verb == "RCPT":
        choices: tuple[tuple[str, bytes], ...] = (
            ("notify", b" NOTIFY=SUCCESS,FAILURE"),
            ("notify_bad", b" NOTIFY=NEVER,SUCCESS"),
            ("orcpt", b" ORCPT=rfc822;someone@example.test"),
            ("orcpt_bad", b" ORCPT=garbage"),
            ("unknown", b" XFOO=bar"),
            ("duplicate", b" NOTIFY=NEVER NOTIFY=NEVER"),
        )
    else:
        choices = (
            ("size", f" SIZE={rng.randint(1, 10_000)}".encode()),
            ("size_huge", b" SIZE=99999999999999999999"),
            ("size_negative", b" SIZE=-1"),
            ("size_text", b" SIZE=abc"),
            ("size_empty", b" SIZE="),
            ("body_8bit", b" BODY=8BITMIME"),
            ("body_binary", b" BODY=BINARYMIME"),
            ("body_bad", b" BODY=12BIT"),
            ("smtputf8", b" SMTPUTF8"),
            ("smtputf8_value", b" SMTPUTF8=yes"),
            ("auth_empty", b" AUTH=<>"),
            ("ret", b" RET=HDRS ENVID=fuzz+2Btest"),
            ("unknown", b" XFOO=bar"),
            ("unknown_bare", b" XFOO"),
            ("duplicate", b" SIZE=10 SIZE=20"),
            ("many", b"".join(f" X{i}=y".encode() for i in range(rng.randint(20, 200)))),
        )
    name, text = rng.choice(choices)
    return name, text


def encode_text(rng: random.Random, text: str) -> Mutation:
    """``text`` in an encoding a server may or may not expect (with a non-ASCII letter added)."""
    variant = rng.choice(("utf8", "invalid_utf8", "latin1", "overlong_utf8", "utf16", "mixed"))
    accented = text + "-\u00e9t\u00e9-\u65e5\u672c"
    if variant == "utf8":
        return variant, accented.encode()
    if variant == "latin1":
        return variant, (text + "-\u00e9t\u00e9").encode("latin-1")
    if variant == "invalid_utf8":
        return variant, text.encode() + rng.choice((b"\xff\xfe", b"\x80", b"\xc3", b"\xed\xa0\x80"))
    if variant == "overlong_utf8":
        return variant, text.encode() + b"\xc0\xaf\xe0\x80\xaf"
    if variant == "utf16":
        return variant, text.encode("utf-16-le")
    return variant, accented.encode() + "\u00e9".encode("latin-1")
