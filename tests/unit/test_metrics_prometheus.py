"""The Prometheus API client: answers in the shapes the API documents, read into types, and
every way an answer can fail named with its URL. The client talks to a real HTTP server on
loopback; nothing leaves the machine."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from harness.errors import MailstackError, MetricsError
from harness.metrics.prometheus import (
    Health,
    PrometheusClient,
    Series,
    parse_duration,
    parse_matrix,
    parse_targets,
)
from harness.metrics.window import QUANTITIES, server_series

# The examples of the API's documentation (querying/api.md: "Range queries", "Targets").
RANGE_ANSWER = {
    "status": "success",
    "data": {
        "resultType": "matrix",
        "result": [
            {
                "metric": {"__name__": "up", "job": "prometheus", "instance": "localhost:9090"},
                "values": [[1435781430.781, "1"], [1435781445.781, "1"], [1435781460.781, "1"]],
            },
            {
                "metric": {"__name__": "up", "job": "node", "instance": "localhost:9091"},
                "values": [[1435781430.781, "0"], [1435781445.781, "0"], [1435781460.781, "1"]],
            },
        ],
    },
}
TARGETS_ANSWER = {
    "status": "success",
    "data": {
        "activeTargets": [
            {
                "discoveredLabels": {
                    "__address__": "127.0.0.1:9090",
                    "__metrics_path__": "/metrics",
                    "__scheme__": "http",
                    "job": "prometheus",
                },
                "labels": {"instance": "127.0.0.1:9090", "job": "prometheus"},
                "scrapePool": "prometheus",
                "scrapeUrl": "http://127.0.0.1:9090/metrics",
                "globalUrl": "http://example-prometheus:9090/metrics",
                "lastError": "",
                "lastScrape": "2017-01-17T15:07:44.723715405+01:00",
                "lastScrapeDuration": 0.050688943,
                "health": "up",
                "scrapeInterval": "1m",
                "scrapeTimeout": "10s",
            },
            {
                "discoveredLabels": {"__address__": "10.0.0.1:9154", "job": "postfix"},
                "labels": {"instance": "10.0.0.1:9154", "job": "postfix", "host": "mx1"},
                "scrapePool": "postfix",
                "scrapeUrl": "http://10.0.0.1:9154/metrics",
                "lastError": 'Get "http://10.0.0.1:9154/metrics": connection refused',
                "lastScrape": "2017-01-17T15:07:44.723715405+01:00",
                "lastScrapeDuration": 0.001,
                "health": "down",
            },
        ],
        "droppedTargets": [
            {
                "discoveredLabels": {
                    "__address__": "127.0.0.1:9100",
                    "__metrics_path__": "/metrics",
                    "__scheme__": "http",
                    "job": "node",
                }
            }
        ],
    },
}
BAD_QUERY = {
    "status": "error",
    "errorType": "bad_data",
    "error": 'invalid parameter "query": 1:6: parse error: unexpected end of input',
}
URL = "http://prometheus.test:9090/api/v1/query_range"


# --- Parsing


def test_a_range_answer_becomes_series_of_points() -> None:
    series = parse_matrix(RANGE_ANSWER, URL)
    assert [s.labels["job"] for s in series] == ["prometheus", "node"]
    assert series[1] == Series(
        labels={"__name__": "up", "job": "node", "instance": "localhost:9091"},
        points=((1435781430.781, 0.0), (1435781445.781, 0.0), (1435781460.781, 1.0)),
    )
    assert series[0].name == "up"
    assert series[1].values() == [0.0, 0.0, 1.0]


def test_prometheus_spellings_of_special_values_are_floats() -> None:
    answer = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {}, "values": [[1, "NaN"], [2, "+Inf"], [3, "-Inf"], [4, 2.5]]}],
        },
    }
    (series,) = parse_matrix(answer, URL)
    assert series.name == ""  # a computed value has no metric name
    nan, inf, minus_inf, number = series.values()
    assert math.isnan(nan)
    assert (inf, minus_inf, number) == (math.inf, -math.inf, 2.5)


def test_a_series_of_only_native_histograms_has_no_points() -> None:
    answer = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {"a": "b"}, "histograms": []}]},
    }
    assert parse_matrix(answer, URL) == [Series(labels={"a": "b"}, points=())]


def test_the_targets_answer_becomes_active_targets_with_their_health() -> None:
    prometheus, postfix = parse_targets(TARGETS_ANSWER, URL)
    assert prometheus.job == "prometheus"
    assert prometheus.url == "http://127.0.0.1:9090/metrics"
    assert prometheus.health is Health.UP
    assert prometheus.last_error == ""
    assert prometheus.last_scrape == "2017-01-17T15:07:44.723715405+01:00"
    assert prometheus.last_scrape_seconds == pytest.approx(0.050688943)
    assert postfix.health is Health.DOWN
    assert postfix.labels["host"] == "mx1"
    assert "connection refused" in postfix.last_error


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (BAD_QUERY, 'bad_data: invalid parameter "query": 1:6: parse error'),
        ({"status": "error"}, 'error: {"status": "error"}'),
        ([1, 2], "the answer is not a JSON object: [1, 2]"),
        (
            {"status": "success", "data": {"resultType": "vector", "result": []}},
            "resultType is 'vector', not 'matrix'",
        ),
        ({"status": "success", "data": {"resultType": "matrix"}}, "data.result is not a JSON list"),
        (
            {"status": "success", "data": {"resultType": "matrix", "result": [{"values": [[1]]}]}},
            "data.result[0].values[0] is not a [time, value] pair: [1]",
        ),
        (
            {
                "status": "success",
                "data": {"resultType": "matrix", "result": [{"values": [[1, "x"]]}]},
            },
            'data.result[0].values[0] holds no number: [1, "x"]',
        ),
        (
            {
                "status": "success",
                "data": {"resultType": "matrix", "result": [{"metric": {"a": 1}, "values": []}]},
            },
            "data.result[0].metric has a label value that is not a string",
        ),
    ],
)
def test_an_answer_that_cannot_be_read_names_the_url_and_the_fault(
    answer: Any, problem: str
) -> None:
    with pytest.raises(MetricsError) as caught:
        parse_matrix(answer, URL)
    assert caught.value.url == URL
    assert str(caught.value).startswith(f"{URL}: {problem}")


def test_a_target_with_an_unknown_health_is_named() -> None:
    answer = json.loads(json.dumps(TARGETS_ANSWER))
    answer["data"]["activeTargets"][1]["health"] = "sick"
    with pytest.raises(MetricsError, match=r"data\.activeTargets\[1\] has no health"):
        parse_targets(answer, URL)


def test_a_metrics_error_is_a_mailstack_error_with_its_hint() -> None:
    with pytest.raises(MetricsError) as caught:
        parse_matrix(BAD_QUERY, URL)
    assert isinstance(caught.value, MailstackError)
    assert isinstance(caught.value, RuntimeError)
    assert caught.value.hint == "check the PromQL expression and the time range"
    assert str(caught.value).endswith("(check the PromQL expression and the time range)")


# --- Over HTTP, on loopback


class _Prometheus(BaseHTTPRequestHandler):
    """Answers each path with the (status, body) the test put in ``server.answers``; records
    the requests in ``server.asked``."""

    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = self.rfile.read(length).decode() if length else ""
        self.server.asked.append((self.command, self.path, urllib.parse.parse_qs(form)))
        path = self.path.split("?", 1)[0]
        queue = self.server.answers.get(path) or [(404, b"404 page not found\n")]
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        if status == 0:  # no answer at all
            time.sleep(1.0)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    answers: dict[str, list[tuple[int, bytes]]]
    asked: list[tuple[str, str, dict[str, list[str]]]]


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Prometheus)
    httpd.answers, httpd.asked = {}, []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _client(server: _Server, timeout: float = 5.0) -> PrometheusClient:
    return PrometheusClient(f"http://127.0.0.1:{server.server_address[1]}/", timeout=timeout)


def _json(status: int, body: Any) -> tuple[int, bytes]:
    return status, json.dumps(body).encode()


def test_query_range_posts_the_query_and_reads_the_series(server: _Server) -> None:
    server.answers["/api/v1/query_range"] = [_json(200, RANGE_ANSWER)]
    series = _client(server).query_range("up", 1435781430.781, 1435781460.781, 15)
    assert [s.labels["instance"] for s in series] == ["localhost:9090", "localhost:9091"]
    ((method, path, form),) = server.asked
    assert (method, path) == ("POST", "/api/v1/query_range")
    assert form == {
        "query": ["up"],
        "start": ["1435781430.781"],
        "end": ["1435781460.781"],
        "step": ["15"],
    }


def test_targets_asks_for_the_active_ones(server: _Server) -> None:
    server.answers["/api/v1/targets"] = [_json(200, TARGETS_ANSWER)]
    assert [t.health for t in _client(server).targets()] == [Health.UP, Health.DOWN]
    assert server.asked[0][:2] == ("GET", "/api/v1/targets?state=active")


def test_prometheus_own_error_is_raised_with_its_type(server: _Server) -> None:
    server.answers["/api/v1/query_range"] = [_json(400, BAD_QUERY)]
    client = _client(server)
    with pytest.raises(MetricsError) as caught:
        client.query_range("sum(", 0, 60, 15)
    assert caught.value.url == client.base_url + "/api/v1/query_range"
    assert caught.value.problem.startswith("bad_data: invalid parameter")


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ((503, b"Service Unavailable"), "HTTP 503, and the answer is not JSON: b'Service"),
        (_json(502, {"message": "bad gateway"}), 'HTTP 502: {"message": "bad gateway"}'),
        ((200, b"<html>"), "HTTP 200, and the answer is not JSON: b'<html>'"),
    ],
)
def test_an_http_failure_names_the_status(
    server: _Server, answer: tuple[int, bytes], problem: str
) -> None:
    server.answers["/api/v1/targets"] = [answer]
    with pytest.raises(MetricsError) as caught:
        _client(server).targets()
    assert caught.value.problem.startswith(problem)


def test_ready_is_true_on_200_false_on_503_and_raises_on_anything_else(server: _Server) -> None:
    client = _client(server)
    server.answers["/-/ready"] = [(200, b"Prometheus Server is Ready.\n")]
    assert client.ready() is True
    server.answers["/-/ready"] = [(503, b"Service Unavailable")]
    assert client.ready() is False
    server.answers["/-/ready"] = [(404, b"404 page not found\n")]
    with pytest.raises(MetricsError, match=r"/-/ready: HTTP 404"):
        client.ready()


def test_wait_ready_waits_through_a_start(server: _Server) -> None:
    server.answers["/-/ready"] = [(503, b"starting"), (503, b"starting"), (200, b"Ready.\n")]
    _client(server).wait_ready(10, interval=0.01)
    assert len(server.asked) == 3


def test_wait_ready_gives_up_naming_the_last_problem(server: _Server) -> None:
    server.answers["/-/ready"] = [(503, b"starting")]
    with pytest.raises(MetricsError, match=r"not ready after 0\.2s: not ready \(HTTP 503\)"):
        _client(server).wait_ready(0.2, interval=0.05)


def test_a_server_that_does_not_answer_in_time_is_named(server: _Server) -> None:
    server.answers["/api/v1/targets"] = [(0, b"")]
    with pytest.raises(MetricsError, match=r"no answer within 0\.2s"):
        _client(server, timeout=0.2).targets()


def test_a_port_nobody_listens_on_is_named() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = PrometheusClient(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(MetricsError) as caught:
        client.targets()
    assert caught.value.url == f"http://127.0.0.1:{port}/api/v1/targets?state=active"
    assert caught.value.problem.startswith("cannot connect:")
    assert "is Prometheus running" in (caught.value.hint or "")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "prometheus:9090", "http://"])
def test_only_an_http_url_is_taken(url: str) -> None:
    with pytest.raises(MetricsError, match="not an http"):
        PrometheusClient(url)


def test_a_range_that_is_no_range_is_refused_before_asking(server: _Server) -> None:
    with pytest.raises(MetricsError, match="no range: start=60, end=0, step=15"):
        _client(server).query_range("up", 60, 0, 15)
    with pytest.raises(MetricsError, match="step must be positive"):
        _client(server).query_range("up", 0, 60, 0)
    assert server.asked == []


# --- The scrape interval, and a run's window of server series


def _config(text: str) -> tuple[int, bytes]:
    return _json(200, {"status": "success", "data": {"yaml": text}})


@pytest.mark.parametrize(
    ("text", "seconds"), [("15s", 15), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200)]
)
def test_prometheus_durations_read_as_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "1.5s", "s15", "15s ago"])
def test_what_is_not_a_prometheus_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        parse_duration(text)


def test_the_scrape_interval_comes_from_the_loaded_configuration(server: _Server) -> None:
    server.answers["/api/v1/status/config"] = [_config("global:\n  scrape_interval: 2s\n")]
    assert _client(server).scrape_interval() == 2
    # none set: Prometheus' own default, one minute
    server.answers["/api/v1/status/config"] = [_config("scrape_configs: []\n")]
    assert _client(server).scrape_interval() == 60
    server.answers["/api/v1/status/config"] = [_config("global:\n  scrape_interval: soon\n")]
    with pytest.raises(MetricsError, match="no scrape interval in the configuration"):
        _client(server).scrape_interval()


def _matrix(*series: tuple[dict[str, str], list[list[float | str]]]) -> tuple[int, bytes]:
    result = [{"metric": labels, "values": values} for labels, values in series]
    return _json(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})


def test_a_window_gives_each_quantity_per_host_on_the_runs_time_axis(server: _Server) -> None:
    server.answers["/api/v1/status/config"] = [_config("global:\n  scrape_interval: 2s\n")]
    queue = _matrix(
        ({"host": "mx1"}, [[1000, "0"], [1002, "3"], [1004, "NaN"]]),
        ({"host": "mx2"}, [[1000, "0"]]),
    )
    server.answers["/api/v1/query_range"] = [queue] + [_matrix()] * (len(QUANTITIES) - 1)
    window = server_series(_client(server), 990, 1010, origin=1000).data
    # 20 s at a 2 s scrape: the step is the scrape interval, rates over 4 scrapes
    assert (window["step_s"], window["rate_window_s"]) == (2, 8)
    assert window["quantities"][0]["hosts"] == {
        "mx1": [[0.0, 0.0], [2.0, 3.0]],  # NaN left out
        "mx2": [[0.0, 0.0]],
    }
    assert window["missing"] == [q.key for q in QUANTITIES[1:]]
    asked = [form["query"][0] for method, path, form in server.asked if method == "POST"]
    assert asked == [q.promql(8) for q in QUANTITIES]
    assert all("[{w}]" not in q for q in asked)
    assert {form["step"][0] for m, _, form in server.asked if m == "POST"} == {"2"}


def test_a_long_window_keeps_its_points_few_and_its_rates_two_steps_wide(server: _Server) -> None:
    server.answers["/api/v1/status/config"] = [_config("global:\n  scrape_interval: 1s\n")]
    server.answers["/api/v1/query_range"] = [_matrix()]
    window = server_series(_client(server), 0, 2400).data
    assert (window["step_s"], window["rate_window_s"]) == (10, 20)
