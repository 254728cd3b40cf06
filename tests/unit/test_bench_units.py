"""Bench pieces without a server: specs, accounting, merging, the result's schema,
comparisons, engines, reports."""

from __future__ import annotations

import asyncio
import copy
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.bench import stats
from harness.bench.client import ENGINES, open_session
from harness.bench.compare import compare, parse_percent
from harness.bench.generator import RunResult, build_message
from harness.bench.header import reproduce
from harness.bench.metrics import TICK_MS, Metrics, Outcome
from harness.bench.model import SCHEMA, BenchRun, BenchSuite, goal_met, make_ratio
from harness.bench.report import write_report
from harness.bench.result import load_result, run_json, save_result
from harness.bench.spec import BenchSpec, SizeDistribution, parse_size, parse_target
from harness.bench.tables import sig
from harness.errors import BenchError


def test_target_urls() -> None:
    smtp = parse_target("smtp://127.0.0.1:2525")
    assert (smtp.host, smtp.port, smtp.tls) == ("127.0.0.1", 2525, False)
    sub = parse_target("submission://alice%40example.test:s3cret@mx1.example.test")
    assert (sub.port, sub.starttls, sub.user, sub.password) == (
        587,
        True,
        "alice@example.test",
        "s3cret",
    )
    tls = parse_target("smtps://127.0.0.1:4650?tls_name=mx1.example.test&ca=/tmp/ca.crt")
    assert tls.implicit_tls
    assert (tls.tls_name, tls.ca_file) == ("mx1.example.test", "/tmp/ca.crt")
    assert parse_target("smtp://h?starttls=1").starttls


@pytest.mark.parametrize(
    ("url", "words"),
    [("http://h", "unknown scheme 'http'"), ("smtp://:25", "no host"), ("smtp://h:99999", "port")],
)
def test_bad_target_names_the_value(url: str, words: str) -> None:
    with pytest.raises(BenchError, match=words):
        parse_target(url)


def test_sizes() -> None:
    assert parse_size("2k") == 2048
    assert parse_size("1m") == 1024 * 1024
    dist = SizeDistribution.parse("1k:70,10k:30")
    assert dist.sizes == (1024, 10240)
    assert dist.mean == pytest.approx(0.7 * 1024 + 0.3 * 10240)
    rng = random.Random(3)
    assert {dist.draw(rng) for _ in range(200)} == {1024, 10240}
    with pytest.raises(BenchError, match="'lots' is not a size"):
        parse_size("lots")


def test_auth_without_tls_is_refused_up_front() -> None:
    with pytest.raises(BenchError, match="AUTH without TLS"):
        BenchSpec(
            target=parse_target("smtp://u:p@h:25"), sender="a@b.test", recipients=("c@d.test",)
        )


def test_message_carries_token_and_send_time_in_wire_form() -> None:
    data = build_message("a@x.test", ["b@y.test"], 4096, "tok123", 1700000000.5)
    assert b"X-Mailstack-Token: tok123\r\n" in data
    assert b"X-Mailstack-Sent: 1700000000.500000\r\n" in data
    assert data.endswith(b"\r\n.\r\n")
    assert b"\r\n.\r\n" not in data[:-5]  # no early end of data
    assert 4000 < len(data) < 4300


def test_every_message_lands_in_one_bucket_and_merges() -> None:
    a, b = Metrics(), Metrics()
    a.record_outcome(Outcome.ACCEPTED, code=250, at=0.004, token="t1", sent_at=1.0)
    a.record_outcome(Outcome.REJECTED, code=554)
    a.record_latency("message", 0.002)
    b.record_outcome(Outcome.ACCEPTED, code=250, at=0.031)
    b.record_outcome(Outcome.TEMP_FAILED, code=451)
    b.record_outcome(Outcome.TIMEOUT)
    b.record_outcome(Outcome.CONNECTION_ERROR, error="refused")
    b.record_latency("message", 0.004)
    merged = Metrics.from_wire(a.to_wire())
    merged.merge(Metrics.from_wire(b.to_wire()))
    assert merged.attempted == 6
    assert merged.balanced
    assert merged.codes == {"rejected": {"554": 1}, "temp_failed": {"451": 1}}
    assert merged.accepted_tokens == {"t1": 1.0}
    summary = merged.summary("message")
    assert summary is not None
    assert summary["count"] == 2
    assert merged.summary("connect") is None
    assert TICK_MS == 10
    assert merged.accepted_per_tick() == [1, 0, 0, 1]  # 4 ms and 31 ms into the run
    with pytest.raises(ValueError, match="unknown outcome"):
        merged.record_outcome("lost")


def test_percentiles_and_cdf_come_from_one_histogram() -> None:
    hist = stats.histogram_of_seconds([i / 1000 for i in range(1, 1001)])  # 1 ms .. 1 s
    summary = stats.summary(hist)
    assert summary is not None
    assert summary["count"] == 1000
    assert summary["p50"] == pytest.approx(500, rel=0.01)
    assert summary["p99.9"] == pytest.approx(999, rel=0.01)
    assert summary["max"] == pytest.approx(1000, rel=0.01)
    cdf = stats.cdf(hist)
    assert [q for _, q in cdf] == list(stats.CDF_PERCENTILES)
    assert [ms for ms, _ in cdf] == sorted(ms for ms, _ in cdf)
    assert cdf[-1][0] == summary["max"]
    assert stats.summary(stats.histogram()) is None
    assert stats.cdf(None) == []


def test_run_json_stores_a_timeline_sized_to_the_run() -> None:
    metrics = Metrics()
    for i in range(3000):  # 100 accepted a second for 30 s: 3,000 ticks of 10 ms
        metrics.record_outcome(Outcome.ACCEPTED, code=250, at=i / 100)
        metrics.record_latency("message", 0.001)
    spec = BenchSpec(
        target=parse_target("smtp://127.0.0.1:2525"),
        sender="a@b.test",
        recipients=("c@d.test",),
        messages=3000,
    )
    data = run_json(RunResult(spec, "pipelined", 1.7e9, 30.0, metrics), "t", {"client": {}})
    timeline = data["timeline"]
    assert timeline["resolution_ms"] == 20  # coarser, to stay under 2,000 ticks
    assert len(timeline["accepted"]) == 1500
    assert sum(timeline["accepted"]) == 3000
    assert data["latency_ms"]["message"]["count"] == 3000
    assert list(data["latency_cdf_ms"]) == ["message"]


def _result(rate: float, p99: float, *, name: str = "run", attempted: int = 10) -> BenchRun:
    """A schema 2 single run, as run_scenario writes it."""
    return {
        "schema": SCHEMA,
        "kind": "run",
        "name": name,
        "started": "2026-05-01T10:00:00+00:00",
        "seconds": 2.0,
        "spec": {
            "target": "smtp://h:25",
            "mode": "closed",
            "engine": "pipelined",
            "pipelining": True,
            "sessions": 4,
            "messages": attempted,
            "rate": None,
            "sizes": {"2048": 1.0},
            "mean_size": 2048,
            "recipients_per_message": 1,
            "workers": 1,
            "tls": False,
            "auth": False,
        },
        "outcomes": {
            "attempted": attempted,
            "accepted": attempted,
            "temp_failed": 0,
            "rejected": 0,
            "connection_error": 0,
            "timeout": 0,
            "codes": {},
            "balanced": True,
        },
        "accept_rate": rate,
        "latency_ms": {
            "message": {"p50": 1.0, "p90": 2.0, "p99": p99, "p99.9": p99, "max": p99, "count": 10}
        },
        "latency_cdf_ms": {"message": [[0.5, 0], [1.0, 50], [p99, 99], [p99 * 2, 100]]},
        "timeline": {"resolution_ms": 10, "accepted": [1] * attempted},
        "errors": {},
        "environment": {"client": {"cpu": "test"}},
        "delivery": {
            "accepted": attempted,
            "drained_rate": rate,
            "queue": [(0.0, 3), (1.0, 0)],
            "queue_max": 3,
            "drain_seconds_after_last_250": 0.2,
            "delivered": attempted,
            "ttm_ms": {
                "p50": 9.0,
                "p90": 20.0,
                "p99": 80.0,
                "p99.9": 80.0,
                "max": 80.0,
                "count": 10,
            },
            "ttm_cdf_ms": [[10.0, 0], [80.0, 99]],
        },
    }


def _suite(runs: dict[str, BenchRun]) -> BenchSuite:
    return {
        "schema": SCHEMA,
        "kind": "suite",
        "started": "2026-05-01T10:00:00+00:00",
        "lab": "bench",
        "size": "quick",
        "accept_rate": 1.0,
        "ratios": {"ttm p99 at half peak (s)": make_ratio(0.0251, "<= 1")},
        "runs": runs,
        "environment": {"client": {"cpu": "test"}},
    }


def test_compare_flags_only_real_regressions() -> None:
    limit = parse_percent("10%")
    ok = compare(_result(1000, 5.0), _result(950, 5.4), limit)
    assert not any(r.regressed for r in ok)
    bad = compare(_result(1000, 5.0), _result(850, 5.0), limit)
    assert [r.metric for r in bad if r.regressed] == ["accept_rate"]
    slow = compare(_result(1000, 5.0), _result(1000, 6.0), limit)
    assert [r.metric for r in slow if r.regressed] == ["p99_ms"]
    renamed = compare(_result(1000, 5.0), _result(500, 5.0, name="campaign"), limit)
    assert [r.run for r in renamed if r.regressed] == ["run"]  # two single runs always pair
    with pytest.raises(BenchError, match="not a percentage"):
        parse_percent("ten")


@pytest.mark.parametrize(
    ("value", "goal", "met"),
    [
        (0.6, ">= 0.5", True),
        (0.4, ">= 0.5", False),
        (1.0, "0.95 .. 1.05", True),
        (1.2, "0.95 .. 1.05", False),
        (0.0251, "<= 1", True),
        (1.5, "<= 1", False),
        (2.0, "report", None),
        (None, ">= 0.5", None),
    ],
)
def test_goal_met(value: float | None, goal: str, met: bool | None) -> None:
    assert goal_met(value, goal) is met


def test_a_goal_that_is_no_goal_is_named() -> None:
    with pytest.raises(BenchError, match="'about 1' is not a goal"):
        goal_met(1.0, "about 1")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0251, "0.0251"),
        (25.1, "25.1"),
        (0.000412, "0.000412"),
        (1234.5, "1,230"),
        (29312.4, "29,300"),
        (1234, "1,234"),
        (1.0, "1.00"),
        (0.99996, "1.00"),
        (12, "12"),
        (0.0, "0"),
        (None, "-"),
    ],
)
def test_numbers_keep_three_significant_digits(value: float | None, text: str) -> None:
    assert sig(value) == text


def test_report_writes_markdown_and_html_with_plots(tmp_path: Path) -> None:
    path = save_result(_result(1234.5, 7.0), tmp_path / "r.json")
    written = write_report(load_result(path), tmp_path, "r")
    md = written["markdown"].read_text()
    assert "| run | target |" in md
    assert "| 1,230 |" in md  # accepted msg/s, 3 significant digits
    page = written["html"].read_text()
    assert "mailstack bench run smtp://h:25" in page
    # throughput, latency by percentile and CDF, time-to-mailbox, queue depth
    assert page.count("data:image/png;base64,") == 5


def _schema_1_run() -> dict[str, Any]:
    return {
        "schema": 1,
        "started": "2026-05-01T10:00:00+00:00",
        "seconds": 2.0,
        "accept_rate": 5.0,
        "spec": _result(5.0, 1.0)["spec"],
        "outcomes": _result(5.0, 1.0)["outcomes"],
        "latency_ms": _result(5.0, 2.0)["latency_ms"],
        "timeline": [{"second": 0, "accepted": 5}, {"second": 2, "accepted": 5}],
        "errors": {},
        "name": "stack-25",
        "environment": {"client": {}},
        "delivery": {"accepted": 10, "ttm_ms": {}, "ttm_cdf_ms": [], "queue": []},
    }


def test_load_result_migrates_schema_1(tmp_path: Path) -> None:
    run = _schema_1_run()
    suite = {
        "schema": 1,
        "kind": "suite",
        "started": run["started"],
        "accept_rate": 5.0,
        "ratios": {"stack-25: mailstack / smtp-source": {"value": 1.01, "goal": "0.95 .. 1.05"}},
        "runs": {"stack-25": copy.deepcopy(run)},
        "environment": {"client": {}},
    }
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    (tmp_path / "run.json").write_text(json.dumps(run))
    loaded = load_result(tmp_path / "suite.json")
    assert loaded["kind"] == "suite"
    assert loaded["schema"] == SCHEMA
    assert loaded["ratios"]["stack-25: mailstack / smtp-source"]["met"] is True
    migrated = loaded["runs"]["stack-25"]
    assert migrated["kind"] == "run"
    assert migrated["timeline"] == {"resolution_ms": 1000, "accepted": [5, 0, 5]}
    assert "ttm_ms" not in migrated["delivery"]
    single = load_result(tmp_path / "run.json")
    assert single["kind"] == "run"
    assert single["name"] == "stack-25"
    write_report(single, tmp_path, "run")  # an old result still makes a report


def test_load_result_rejects_other_json(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(BenchError, match="not a mailstack bench result"):
        load_result(tmp_path / "x.json")
    (tmp_path / "new.json").write_text(json.dumps({**_result(1, 1), "schema": SCHEMA + 1}))
    with pytest.raises(BenchError, match="upgrade"):
        load_result(tmp_path / "new.json")


def test_an_empty_result_has_nothing_to_report(tmp_path: Path) -> None:
    empty_suite = _suite({})
    with pytest.raises(BenchError, match=r"has no runs: nothing to report"):
        write_report(empty_suite, tmp_path, "empty")
    save_result(empty_suite, tmp_path / "empty.json")
    with pytest.raises(BenchError, match=r"empty\.json has no runs"):
        load_result(tmp_path / "empty.json")
    idle = _result(0.0, 1.0, attempted=0)
    with pytest.raises(BenchError, match=r"run 'run' attempted no messages"):
        write_report(idle, tmp_path, "idle")
    save_result(_suite({"sink": idle}), tmp_path / "idle.json")
    with pytest.raises(BenchError, match=r"run 'sink' attempted no messages"):
        load_result(tmp_path / "idle.json")
    assert not (tmp_path / "empty.html").exists()


def test_compare_and_result_do_not_load_matplotlib() -> None:
    code = (
        "import sys, harness.bench.compare, harness.bench.result; "
        "print('matplotlib' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


def test_every_engine_takes_the_same_arguments() -> None:
    target = parse_target("smtp://127.0.0.1:1")
    for engine, cls in ENGINES.items():
        session = cls(target, Metrics(), 5.0, pipelining=False)
        assert session.pipelining is False, engine
        assert session.helo == "bench.mailstack.test"


def test_an_unknown_engine_names_the_choices() -> None:
    target = parse_target("smtp://127.0.0.1:1")
    with pytest.raises(BenchError, match=r"unknown bench engine 'smtplib'.*pipelined, aiosmtplib"):
        asyncio.run(open_session("smtplib", target, Metrics(), 1.0))


def test_the_command_that_measures_again() -> None:
    run = _result(10.0, 1.0)
    run["spec"].update(target="submission://mx1.example.test:587", auth=True, tls=True)
    run["campaign"] = {"recipients": 10, "shape": "ramp:2:10", "start_at": None}
    (command,), placeholders = reproduce(run)
    assert command == (
        "mailstack bench campaign submission://USER:PASSWORD@mx1.example.test:587 "
        "--recipients RECIPIENTS.csv --subject SUBJECT --body BODY.j2 --shape ramp:2:10 -c 4"
    )
    assert "USER:PASSWORD" in placeholders
    assert "-i INVENTORY --host HOST" in placeholders  # delivery was tracked
    quick = _suite({"run": _result(10.0, 1.0)})
    assert reproduce(quick)[0] == ("mailstack bench standard --lab bench --quick",)
