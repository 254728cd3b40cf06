"""Typed reading of one mapping of settings, with errors that name the field and how to mend it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from .errors import ConfigError
from .replies import Reply

__all__ = ["Section"]


class Section:
    """The settings under ``path`` (``profile.rate``). Each read pops its key, so ``done()`` can
    name keys nobody asked for (a typo such as ``per_secnd``)."""

    def __init__(
        self,
        data: object,
        path: str,
        *,
        error: type[ConfigError] = ConfigError,
        source: str = "",
    ) -> None:
        self.path = path
        self.error = error
        self.source = source
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise self._fail(path, f"must be a mapping, got {data!r}", "write it as {key: value}")
        self._data: dict[str, object] = {str(k): v for k, v in data.items()}
        self._known: list[str] = []

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _fail(self, field: str, problem: str, hint: str) -> ConfigError:
        return self.error(field, problem, hint=hint, source=self.source)

    def _take(self, key: str) -> object:
        self._known.append(key)
        return self._data.pop(key, None)

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self._take(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self._fail(
                self.field(key),
                f"must be a whole number of at least {minimum}, got {value!r}",
                f"set {self.field(key)} to an integer >= {minimum} (default {default})",
            )
        return value

    def number(
        self, key: str, default: float, *, minimum: float = 0.0, maximum: float = math.inf
    ) -> float:
        value = self._take(key)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not minimum <= value <= maximum
        ):
            upper = "" if maximum == math.inf else f" and at most {maximum}"
            raise self._fail(
                self.field(key),
                f"must be a number of at least {minimum}{upper}, got {value!r}",
                f"set {self.field(key)} to a number in that range (default {default})",
            )
        return float(value)

    def text(self, key: str, default: str | None) -> str | None:
        value = self._take(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self._fail(
                self.field(key),
                f"must be a non-empty string, got {value!r}",
                f"set {self.field(key)} to a string or leave it out",
            )
        return value

    def required_text(self, key: str, example: str) -> str:
        value = self.text(key, None)
        if value is None:
            raise self._fail(self.field(key), "is missing", f"add {self.field(key)}: {example}")
        return value

    def choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        allowed = list(choices)
        value = self._take(key)
        if value is None:
            return default
        if value not in allowed:
            raise self._fail(
                self.field(key),
                f"must be one of {allowed}, got {value!r}",
                f"set {self.field(key)} to one of {', '.join(allowed)}",
            )
        return str(value)

    def reply(self, key: str, default: str, *, codes: tuple[str, ...], why: str) -> Reply:
        """A reply string whose basic code starts with one of ``codes`` (``("4", "5")``)."""
        value = self._take(key)
        raw = default if value is None else value
        example = f"e.g. {default!r}"
        if not isinstance(raw, str):
            raise self._fail(
                self.field(key),
                f"must be a reply string, got {raw!r}",
                f"write 'CODE X.Y.Z text', {example}",
            )
        try:
            reply = Reply.parse(raw)
        except ValueError as exc:
            raise self._fail(self.field(key), f"{exc}: {raw!r}", example) from exc
        if not str(reply.code).startswith(codes):
            classes = " or ".join(c.ljust(3, "x") for c in codes)
            raise self._fail(
                self.field(key),
                f"reply code {reply.code} is not {classes} ({why})",
                f"use a {classes} code, {example}",
            )
        return reply

    def section(self, key: str) -> Section:
        return Section(self._take(key), self.field(key), error=self.error, source=self.source)

    def raw(self, key: str) -> object:
        return self._take(key)

    def done(self) -> None:
        """Raise on keys that were never read."""
        if self._data:
            key = sorted(self._data)[0]
            raise self._fail(
                self.field(key),
                "is not a known setting",
                f"remove it or use one of {', '.join(self._known) or 'no keys here'}",
            )
