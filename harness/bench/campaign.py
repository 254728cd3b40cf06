"""Campaign rehearsal: recipients from a CSV, Jinja2 templates per recipient, RFC 8058 one-click
unsubscribe headers, VERP return paths, a send-rate shape and a start time."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from harness.errors import BenchError
from harness.smtp.message import SENT_HEADER, TOKEN_HEADER, dot_stuff

__all__ = ["Campaign", "RateShape", "load_recipients", "schedule"]

_ADDRESS = re.compile(r"^[^@\s<>]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")


@dataclass(frozen=True)
class RateShape:
    """``steady`` at ``rate`` msg/s, or ``ramp`` from ``start_rate`` up to ``rate``."""

    kind: str
    rate: float
    start_rate: float = 0.0

    @classmethod
    def parse(cls, text: str) -> RateShape:
        """'50' (steady), or 'ramp:5:50' (from 5 to 50 msg/s over the campaign)."""
        try:
            if text.startswith("ramp:"):
                _, low, high = text.split(":")
                shape = cls("ramp", float(high), float(low))
            else:
                shape = cls("steady", float(text))
        except ValueError:
            raise BenchError(
                f"--shape {text!r} is not a rate shape", hint="50 (steady) or ramp:5:50"
            ) from None
        if shape.rate <= 0 or shape.start_rate < 0 or shape.start_rate > shape.rate:
            raise BenchError(f"--shape {text!r}: rates must be positive, ramps must go up")
        return shape


def schedule(count: int, shape: RateShape) -> tuple[float, ...]:
    """When each of ``count`` messages is due, in seconds from the start."""
    if shape.kind == "steady" or math.isclose(shape.start_rate, shape.rate):
        return tuple(i / shape.rate for i in range(count))
    # Linear ramp r(t) = r0 + (r1 - r0) t / T, sending ``count`` in T = 2 count / (r0 + r1):
    # message i is due when the integral of r reaches i.
    r0, r1 = shape.start_rate, shape.rate
    total = 2 * count / (r0 + r1)
    slope = (r1 - r0) / total
    return tuple((-r0 + math.sqrt(r0 * r0 + 2 * slope * i)) / slope for i in range(count))


def load_recipients(path: Path) -> list[dict[str, str]]:
    """Rows of the CSV (header row required, an ``email`` column); every bad row is named."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or "email" not in reader.fieldnames:
                raise BenchError(
                    f"{path}: no 'email' column (columns: {', '.join(reader.fieldnames or [])})",
                    hint="the first row names the columns; one must be 'email'",
                )
            rows = [dict(row) for row in reader]
    except OSError as exc:
        raise BenchError(f"cannot read recipients {path}: {exc.strerror}") from None
    bad = [
        f"row {i + 2}: {row.get('email')!r}"
        for i, row in enumerate(rows)
        if not _ADDRESS.match((row.get("email") or "").strip())
    ]
    if bad:
        raise BenchError(
            f"{path}: {len(bad)} invalid address(es): {'; '.join(bad[:10])}",
            hint="fix or remove those rows; nothing was sent",
        )
    if not rows:
        raise BenchError(f"{path}: no recipients")
    return rows


@dataclass(frozen=True)
class Campaign:
    """What every message of a rehearsal is made from (plain data: it crosses processes)."""

    rows: tuple[tuple[tuple[str, str], ...], ...]
    subject: str
    body: str
    from_address: str
    return_domain: str
    unsubscribe_url: str
    unsubscribe_mailto: str

    @classmethod
    def build(
        cls,
        rows: list[dict[str, str]],
        subject: str,
        body: str,
        from_address: str,
        return_domain: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str,
    ) -> Campaign:
        campaign = cls(
            rows=tuple(tuple(sorted(r.items())) for r in rows),
            subject=subject,
            body=body,
            from_address=from_address,
            return_domain=return_domain,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=unsubscribe_mailto,
        )
        campaign.render(0, "check", 0.0)  # a template error stops the run before it starts
        return campaign

    def __len__(self) -> int:
        return len(self.rows)

    def recipient(self, index: int) -> str:
        return dict(self.rows[index])["email"].strip()

    def return_path(self, index: int) -> str:
        """VERP: bounces+<local>=<domain>@<return domain>, so a bounce names its recipient."""
        local, domain = self.recipient(index).rsplit("@", 1)
        return f"bounces+{local}={domain}@{self.return_domain}"

    def render(self, index: int, token: str, sent: float) -> bytes:
        env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        row: dict[str, Any] = dict(self.rows[index])
        values = {**row, "token": token}
        try:
            subject = env.from_string(self.subject).render(values).strip()
            body = env.from_string(self.body).render(values)
            url = env.from_string(self.unsubscribe_url).render(values)
            mailto = env.from_string(self.unsubscribe_mailto).render(values)
        except TemplateError as exc:
            raise BenchError(
                f"template error for row {index + 2} ({row.get('email')}): {exc}",
                hint="every {{ name }} in the templates must be a CSV column (or token)",
            ) from None
        headers = (
            f"From: <{self.from_address}>\r\nTo: <{self.recipient(index)}>\r\n"
            f"Subject: {subject}\r\nDate: {formatdate(sent)}\r\n"
            f"Message-ID: <{token}@{self.return_domain}>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            f"List-Unsubscribe: <{url}>, <mailto:{mailto}>\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            f"{TOKEN_HEADER}: {token}\r\n{SENT_HEADER}: {sent:.6f}\r\n\r\n"
        )
        return headers.encode() + dot_stuff(body.encode()) + b".\r\n"
