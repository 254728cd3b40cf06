"""Bench pieces without a server: specs, accounting, merging, comparisons, reports."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.bench.compare import compare, parse_percent
from harness.bench.generator import build_message
from harness.bench.metrics import Metrics, Outcome
from harness.bench.report import write_report
from harness.bench.result import load_result, save_result
from harness.bench.spec import BenchSpec, SizeDistribution, parse_size, parse_target
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
    a.record_outcome(Outcome.ACCEPTED, code=250, second=0, token="t1", sent_at=1.0)
    a.record_outcome(Outcome.REJECTED, code=554)
    a.record_latency("message", 0.002)
    b.record_outcome(Outcome.TEMP_FAILED, code=451)
    b.record_outcome(Outcome.TIMEOUT)
    b.record_outcome(Outcome.CONNECTION_ERROR, error="refused")
    b.record_latency("message", 0.004)
    merged = Metrics.from_wire(a.to_wire())
    merged.merge(Metrics.from_wire(b.to_wire()))
    assert merged.attempted == 5
    assert merged.balanced
    assert merged.codes == {"rejected": {"554": 1}, "temp_failed": {"451": 1}}
    assert merged.accepted_tokens == {"t1": 1.0}
    assert merged.summary("message")["count"] == 2
    with pytest.raises(ValueError, match="unknown outcome"):
        merged.record_outcome("lost")


def _result(rate: float, p99: float) -> dict[str, object]:
    return {
        "schema": 1,
        "accept_rate": rate,
        "spec": {"target": "smtp://h:25", "mode": "closed", "sessions": 4},
        "outcomes": {"attempted": 10, "accepted": 10},
        "latency_ms": {"message": {"p50": 1.0, "p99": p99}},
        "latency_cdf_ms": {"message": [[0.5, 0], [1.0, 50], [p99, 99], [p99 * 2, 100]]},
        "timeline": [{"second": 0, "accepted": 5}, {"second": 1, "accepted": 5}],
        "delivery": {
            "delivered": 10,
            "ttm_ms": {"p99": 80.0},
            "ttm_cdf_ms": [[10.0, 0], [80.0, 99]],
            "queue": [[0.0, 3], [1.0, 0]],
        },
    }


def test_compare_flags_only_real_regressions() -> None:
    limit = parse_percent("10%")
    ok = compare(_result(1000, 5.0), _result(950, 5.4), limit)
    assert not any(r.regressed for r in ok)
    bad = compare(_result(1000, 5.0), _result(850, 5.0), limit)
    assert [r.metric for r in bad if r.regressed] == ["accept_rate"]
    slow = compare(_result(1000, 5.0), _result(1000, 6.0), limit)
    assert [r.metric for r in slow if r.regressed] == ["p99_ms"]
    with pytest.raises(BenchError, match="not a percentage"):
        parse_percent("ten")


def test_report_writes_markdown_and_html_with_plots(tmp_path: Path) -> None:
    path = save_result(_result(1234.5, 7.0), tmp_path / "r.json")
    written = write_report(load_result(path), tmp_path, "r")
    md = written["markdown"].read_text()
    assert "1,234.5" in md
    page = written["html"].read_text()
    assert page.count("data:image/png;base64,") == 3  # throughput, latency CDF, queue depth


def test_load_result_rejects_other_json(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(BenchError, match="not a mailstack bench result"):
        load_result(tmp_path / "x.json")
