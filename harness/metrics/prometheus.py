"""A client for Prometheus' HTTP API: range queries, the scrape targets, readiness.

Standard library only (urllib). Answers come back as types: a range query as ``Series`` (the
labels, then ``(unix time, value)`` points), the targets as ``Target``. Whatever keeps an
answer from being read (no connection, an HTTP error, Prometheus' own ``"status": "error"``,
JSON of another shape) raises ``MetricsError`` naming the URL asked and what went wrong.
The shapes are those the API's documentation gives
(https://prometheus.io/docs/prometheus/latest/querying/api/).
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import yaml

from harness.errors import MetricsError

__all__ = [
    "Health",
    "PrometheusClient",
    "Series",
    "Target",
    "parse_duration",
    "parse_matrix",
    "parse_targets",
]

_HINT_DOWN = "is Prometheus running and listening there? (playbooks/metrics.yml installs it)"
_HINT_QUERY = "check the PromQL expression and the time range"
#: How much of an unreadable answer an error quotes.
_QUOTE = 120


@dataclass(frozen=True)
class Series:
    """One time series of a range query: its labels (``__name__`` among them unless the query
    computed a new value) and its points as ``(unix time, value)``, oldest first. A value may
    be NaN or infinite, as Prometheus computes them."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]

    @property
    def name(self) -> str:
        return self.labels.get("__name__", "")

    def values(self) -> list[float]:
        return [value for _, value in self.points]


class Health(StrEnum):
    """A target's health at its last scrape."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Target:
    """One active scrape target: its job, the URL scraped, its labels after relabelling, its
    health, the last scrape's error ("" when none), when it was (RFC 3339, "" before the first)
    and how long it took in seconds."""

    job: str
    url: str
    labels: Mapping[str, str]
    health: Health
    last_error: str
    last_scrape: str
    last_scrape_seconds: float


def _mapping(value: object, url: str, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise MetricsError(url, f"{what} is not a JSON object: {_quote(value)}")
    return {str(k): v for k, v in value.items()}


def _sequence(value: object, url: str, what: str) -> list[object]:
    if not isinstance(value, list):
        raise MetricsError(url, f"{what} is not a JSON list: {_quote(value)}")
    return list(value)


def _labels(value: object, url: str, what: str) -> dict[str, str]:
    labels = _mapping(value, url, what)
    strings = {k: v for k, v in labels.items() if isinstance(v, str)}
    if len(strings) != len(labels):
        raise MetricsError(url, f"{what} has a label value that is not a string: {_quote(labels)}")
    return strings


def _text(value: object) -> str:
    """A JSON string field; missing or null is ""."""
    return "" if value is None else str(value)


def _quote(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= _QUOTE else text[:_QUOTE] + "..."


def _data(payload: object, url: str) -> object:
    """The ``data`` of a successful answer; Prometheus' own error (status "error") raised."""
    body = _mapping(payload, url, "the answer")
    if body.get("status") != "success":
        kind = _text(body.get("errorType")) or "error"
        why = _text(body.get("error")) or _quote(body)
        # bad_data: the query or its range (others: timeout, execution, unavailable, ...)
        hint = _HINT_QUERY if kind == "bad_data" else None
        raise MetricsError(url, f"{kind}: {why}", hint=hint)
    return body.get("data")


def _number(value: object) -> float:
    """A JSON number, or a number in a string ("NaN", "+Inf" and "-Inf" are Prometheus'
    spellings); ValueError for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(value)
    return float(value)


def _point(pair: object, url: str, where: str) -> tuple[float, float]:
    if not (isinstance(pair, list) and len(pair) == 2):
        raise MetricsError(url, f"{where} is not a [time, value] pair: {_quote(pair)}")
    try:
        point = _number(pair[0]), _number(pair[1])
    except ValueError:
        raise MetricsError(url, f"{where} holds no number: {_quote(pair)}") from None
    if not math.isfinite(point[0]):
        raise MetricsError(url, f"{where} has no time: {_quote(pair)}")
    return point


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``15s``, ``1m30s``, ``500ms``); ValueError otherwise."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def parse_matrix(payload: object, url: str) -> list[Series]:
    """The series of a range query's answer (``resultType`` "matrix"). Native histograms
    (``histograms`` beside ``values``) are not read: a series of only those has no points."""
    data = _mapping(_data(payload, url), url, "data")
    if data.get("resultType") != "matrix":
        raise MetricsError(url, f"resultType is {data.get('resultType')!r}, not 'matrix'")
    found = []
    for i, item in enumerate(_sequence(data.get("result"), url, "data.result")):
        where = f"data.result[{i}]"
        entry = _mapping(item, url, where)
        labels = _labels(entry.get("metric", {}), url, f"{where}.metric")
        values = _sequence(entry.get("values", []), url, f"{where}.values")
        points = tuple(_point(p, url, f"{where}.values[{j}]") for j, p in enumerate(values))
        found.append(Series(labels=labels, points=points))
    return found


def parse_targets(payload: object, url: str) -> list[Target]:
    """The active targets of a ``/api/v1/targets`` answer (the dropped ones are left out)."""
    data = _mapping(_data(payload, url), url, "data")
    found = []
    for i, item in enumerate(_sequence(data.get("activeTargets"), url, "data.activeTargets")):
        where = f"data.activeTargets[{i}]"
        entry = _mapping(item, url, where)
        labels = _labels(entry.get("labels", {}), url, f"{where}.labels")
        try:
            health = Health(_text(entry.get("health")))
            seconds = _number(entry.get("lastScrapeDuration") or 0)
        except ValueError:
            raise MetricsError(
                url, f"{where} has no health or scrape duration Prometheus gives: {_quote(entry)}"
            ) from None
        found.append(
            Target(
                job=_text(entry.get("scrapePool")) or labels.get("job", ""),
                url=_text(entry.get("scrapeUrl")),
                labels=labels,
                health=health,
                last_error=_text(entry.get("lastError")),
                last_scrape=_text(entry.get("lastScrape")),
                last_scrape_seconds=seconds,
            )
        )
    return found


class PrometheusClient:
    """Prometheus' HTTP API at ``base_url`` (``http://host:9090``), each request given
    ``timeout`` seconds."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MetricsError(base_url, "not an http(s) URL", hint="e.g. http://192.0.2.9:9090")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, path: str, form: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """(HTTP status, body) of a GET, or of a form POST when ``form`` is given; an HTTP
        error status is returned, not raised."""
        url = self.base_url + path
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        # The scheme was checked in __init__: http or https only.
        request = urllib.request.Request(  # noqa: S310
            url, data=data, headers={"Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                return int(answer.status), bytes(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError) or isinstance(error, TimeoutError):
                raise MetricsError(
                    url, f"no answer within {self.timeout:g}s", hint=_HINT_DOWN
                ) from None
            raise MetricsError(url, f"cannot connect: {reason}", hint=_HINT_DOWN) from None

    def _json(self, path: str, form: Mapping[str, str] | None = None) -> object:
        url = self.base_url + path
        status, body = self._request(path, form)
        try:
            payload: object = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise MetricsError(
                url, f"HTTP {status}, and the answer is not JSON: {_quote(repr(body))}"
            ) from None
        if status != 200:
            if isinstance(payload, dict) and payload.get("status") == "error":
                _data(payload, url)  # Prometheus' own error, with its type
            raise MetricsError(url, f"HTTP {status}: {_quote(payload)}")
        return payload

    def ready(self) -> bool:
        """Whether the server is ready to serve queries (``/-/ready`` answers 200; 503 while it
        starts up). An unreachable server raises ``MetricsError``."""
        status, body = self._request("/-/ready")
        if status in (200, 503):
            return status == 200
        raise MetricsError(self.base_url + "/-/ready", f"HTTP {status}: {_quote(repr(body))}")

    def wait_ready(self, timeout: float, *, interval: float = 0.5) -> None:
        """Until the server is ready; ``MetricsError`` (with the last problem) after ``timeout``
        seconds."""
        deadline = time.monotonic() + timeout
        last = "not ready (HTTP 503)"
        while True:
            try:
                if self.ready():
                    return
            except MetricsError as error:
                last = error.problem
            if time.monotonic() >= deadline:
                raise MetricsError(
                    self.base_url + "/-/ready",
                    f"not ready after {timeout:g}s: {last}",
                    hint=_HINT_DOWN,
                )
            time.sleep(interval)

    def targets(self) -> list[Target]:
        """The active scrape targets and their health."""
        path = "/api/v1/targets?state=active"
        return parse_targets(self._json(path), self.base_url + path)

    def scrape_interval(self) -> float:
        """The server's global scrape interval in seconds (its loaded configuration; 60 s,
        Prometheus' default, when the configuration sets none)."""
        path = "/api/v1/status/config"
        url = self.base_url + path
        data = _mapping(_data(self._json(path), url), url, "data")
        try:
            config = yaml.safe_load(_text(data.get("yaml"))) or {}
            interval = (config.get("global") or {}).get("scrape_interval", "1m")
            return parse_duration(str(interval))
        except (yaml.YAMLError, AttributeError, ValueError) as error:
            raise MetricsError(url, f"no scrape interval in the configuration: {error}") from None

    def query_range(self, query: str, start: float, end: float, step: float) -> list[Series]:
        """The series of PromQL ``query`` from ``start`` to ``end`` (unix times) every ``step``
        seconds."""
        path = "/api/v1/query_range"
        if not (step > 0 and end >= start):
            raise MetricsError(
                self.base_url + path,
                f"no range: start={start:g}, end={end:g}, step={step:g}",
                hint="step must be positive and end no earlier than start",
            )
        form = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return parse_matrix(self._json(path, form), self.base_url + path)
