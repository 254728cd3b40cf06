"""The soak's arithmetic and its report, on client logs and samples made up to known values:
windows, percentiles, failures and retries, queue depth and daemon memory per window, the
verdict; the options it refuses; the JSON, HTML and Markdown it writes. The load itself runs
in the lab (tests/lab/test_soak.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.bench.spec import parse_target
from harness.chaos.sender import Attempt, SendLog, SendPlan
from harness.errors import SoakError
from harness.fuzz.lab import rss_by_family
from harness.soak.peak import Peak
from harness.soak.plan import SoakPlan
from harness.soak.report import verdict_table, windows_table, write_soak_report
from harness.soak.result import Observed, soak_result
from harness.soak.windows import cut, p50_p99, rate_series, rss_growth_mib, windows
from tests.unit.cli_run import mailstack

STARTED = 1_700_000_000.0  # the clients' start, epoch


def _log(seconds: float = 60.0, rate: float = 10.0) -> SendLog:
    plan = SendPlan(
        target=parse_target("smtp://127.0.0.1:25"),
        sender="soak@client.test",
        recipients=("alice@example.test",),
        rate=rate,
        seconds=seconds,
    )
    return SendLog(started=STARTED, plan=plan, seconds=seconds)


def _send(log: SendLog, token: str, due: float, *tries: tuple[float, str]) -> None:
    """One message due at ``due`` and its attempts (seconds since the start, outcome)."""
    log.recipient[token] = log.plan.recipients[0]
    log.due[token] = due
    for at, outcome in tries:
        log.attempts.append(Attempt(at, token, outcome, 451 if outcome == "temp_failed" else 250))
        if outcome == "accepted":
            log.accepted[token] = at


def _rss(postfix_kib: int, dovecot_kib: int = 20_480) -> dict[str, dict[str, Any]]:
    return rss_by_family(f"{postfix_kib} smtpd\n4096 master\n{dovecot_kib} dovecot\n1000 bash\n")


def test_a_run_is_cut_into_windows_of_equal_length_the_last_one_shorter():
    assert cut(60, 20) == [(0, 20), (20, 40), (40, 60)]
    assert cut(50, 20) == [(0, 20), (20, 40), (40, 50)]
    assert cut(20, 20) == [(0, 20)]
    # Clients still sending after the load's planned end: the last window runs on with them.
    assert cut(60, 20, until=75.5) == [(0, 20), (20, 40), (40, 75.5)]
    assert cut(60, 20, until=59.0) == [(0, 20), (20, 40), (40, 60)]


def test_percentiles_come_from_the_bench_histogram_in_milliseconds():
    summary = p50_p99([i / 1000 for i in range(1, 101)])  # 1 .. 100 ms
    assert summary is not None
    assert summary["p50"] == pytest.approx(50, rel=0.01)
    assert summary["p99"] == pytest.approx(99, rel=0.01)
    assert p50_p99([]) is None


def test_each_window_holds_the_messages_whose_250_fell_in_it():
    log = _log()
    # Window 0: ten messages, 20 ms from due to 250, each in the Maildir 100 ms later.
    for i in range(10):
        _send(log, f"a{i}", i, (i + 0.02, "accepted"))
    # Window 1: one message tried twice (a 451 first), 2 s late; it is not in the Maildir.
    _send(log, "b", 25.0, (25.0, "temp_failed"), (27.0, "accepted"))
    # A retry's 250 after the load's end counts in the last window.
    _send(log, "c", 59.0, (59.0, "connection_error"), (61.5, "accepted"))
    first_copy = {f"a{i}": STARTED + i + 0.12 for i in range(10)} | {"c": STARTED + 62.0}
    queue = [(1.0, 3), (21.0, 0), (22.0, -1), (45.0, 9), (63.0, 12)]
    rss = [(0.0, _rss(10_240)), (19.5, _rss(10_240)), (41.0, _rss(12_288)), (60.5, _rss(20_480))]

    wins = windows(log, first_copy, queue, rss, cut(60, 20))

    assert [w.accepted for w in wins] == [10, 1, 1]
    assert wins[0].accepted_per_s == 0.5
    assert wins[0].latency_ms == pytest.approx({"p50": 20, "p99": 20}, rel=0.01)
    assert wins[0].ttm_ms == pytest.approx({"p50": 100, "p99": 100}, rel=0.01)
    assert wins[0].delivered == 10
    assert wins[1].latency_ms == pytest.approx({"p50": 2000, "p99": 2000}, rel=0.01)
    assert wins[1].ttm_ms is None
    assert wins[1].delivered == 0
    assert wins[2].latency_ms == pytest.approx({"p50": 2500, "p99": 2500}, rel=0.01)
    assert [(w.failures, w.retries) for w in wins] == [(0, 0), (1, 1), (1, 1)]
    # An unreadable queue (-1) is no depth; a sample after the load counts in the last window.
    assert [w.queue_max for w in wins] == [3, 0, 12]
    # Memory at each window's end: the sample nearest to it, all of a family's processes.
    assert [w.rss_mib["postfix"] for w in wins] == [14.0, 16.0, 24.0]
    assert wins[0].rss_mib["dovecot"] == 20.0


def test_memory_growth_counts_from_the_first_window_end_to_the_last():
    # Start-up growth (before the first window's end) does not count; later growth does.
    rss = [(0.0, _rss(1_024)), (20.0, _rss(10_240)), (40.0, _rss(30_720)), (60.0, _rss(40_960))]
    growth = rss_growth_mib(rss, cut(60, 20))
    assert growth["postfix"] == 30.0
    assert growth["dovecot"] == 0.0
    assert rss_growth_mib(rss[:1], cut(60, 60))["postfix"] == 0.0
    # a family gone by the end (its daemon died and stayed down) is left out, not a KeyError
    gone = [(20.0, _rss(1_024)), (60.0, {"postfix": _rss(1_024)["postfix"]})]
    assert set(rss_growth_mib(gone, cut(60, 20))) == {"postfix"}


def test_rates_over_time_are_events_per_second_in_buckets():
    assert rate_series([0.1, 0.5, 1.2, 3.9, 4.0, -1.0], end=4.0, bucket=2.0) == [1.5, 1.0]
    assert rate_series([], end=0.0, bucket=1.0) == [0.0]


def _observed(log: SendLog, **kw: Any) -> Observed:
    values: dict[str, Any] = {
        "log": log,
        "copies": {t: [STARTED + at + 0.05] for t, at in log.accepted.items()},
        "drain": 0.5,
        "still_queued": {},
        "queue": [(0.0, 0), (30.0, 2)],
        "rss": [(0.0, _rss(10_240)), (20.0, _rss(10_240)), (60.0, _rss(10_240))],
    }
    values.update(kw)
    return Observed(**values)


def _steady_log() -> SendLog:
    log = _log()
    for i in range(60):
        _send(log, f"t{i}", float(i), (i + 0.03, "accepted"))
    return log


def test_a_run_that_lost_nothing_and_stayed_bounded_holds():
    plan = SoakPlan(minutes=1, window=20)
    data = soak_result(plan, 1.0, None, _observed(_steady_log()))
    assert data["ok"], data["failed"]
    assert [w["accepted"] for w in data["windows"]] == [20, 20, 20]
    assert all(w["latency_ms"]["p99"] > 0 for w in data["windows"])
    assert data["server"]["delivered"] == 60
    assert data["load"]["peak"] is None
    assert data["load"]["fraction"] is None
    json.dumps(data)  # JSON-ready as it is


def test_missing_given_up_undrained_and_grown_memory_each_fail_the_run():
    log = _steady_log()
    log.gave_up.append("never")
    log.rejected["refused"] = 554
    copies = {t: [STARTED + at] for t, at in log.accepted.items() if t != "t5"}
    copies["t7"].append(STARTED + 9.0)  # delivered twice: reported, not failed
    copies["elsewhere"] = [STARTED + 1.0]  # another sender's message: not ours
    rss = [(0.0, _rss(10_240)), (20.0, _rss(10_240)), (60.0, _rss(200_000))]
    plan = SoakPlan(minutes=1, window=20, rss_limit_mib=64)
    data = soak_result(plan, 1.0, None, _observed(log, copies=copies, drain=None, rss=rss))
    assert not data["ok"]
    assert data["server"]["missing_tokens"] == ["t5"]
    assert data["server"]["duplicates"] == 1
    assert data["server"]["duplicate_tokens"] == ["t7"]
    assert data["rss"]["growth_mib"]["postfix"] > 64
    assert data["failed"] == [
        "1 accepted message(s) missing",
        "1 message(s) never accepted",
        "1 message(s) refused with a 5xx",
        "the queue did not drain",
        f"a postfix process grew {data['rss']['growth_mib']['postfix']} MiB (limit 64)",
    ]


def test_clients_that_ran_on_past_the_load_fail_it_the_stack_fell_behind():
    log = _steady_log()
    log.seconds = 75.0  # a backlog: the last messages got their 250 15 s after the load
    data = soak_result(SoakPlan(minutes=1, window=20), 1.0, None, _observed(log))
    assert data["clients"]["late_s"] == 15.0
    assert data["failed"] == [
        "the clients ran 15 s past the load's end: the stack did not keep up with the rate"
    ]
    assert data["windows"][-1]["end_s"] == 75.0
    # A few seconds are the last messages' own latency, not a backlog.
    log.seconds = 65.0
    assert soak_result(SoakPlan(minutes=1, window=20), 1.0, None, _observed(log))["ok"]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (SoakPlan(minutes=0), "--minutes 0: must be above 0"),
        (SoakPlan(minutes=-1), "--minutes -1: must be above 0"),
        (SoakPlan(minutes=1, window=120), r"--window 120: .* no longer than the run \(60 s\)"),
        (SoakPlan(window=0), "--window 0: must be above 0"),
        (SoakPlan(fraction=0), r"--fraction 0: must be above 0 and at most 1"),
        (SoakPlan(fraction=1.5), r"--fraction 1.5: must be above 0 and at most 1"),
        (SoakPlan(rate=-5), "--rate -5: must be above 0"),
        (SoakPlan(service="imap"), "--service imap: not a soak service"),
        (SoakPlan(sessions=0), "--sessions 0: must be above 0"),
        (SoakPlan(rss_limit_mib=0), "--rss-limit 0: must be above 0"),
        (SoakPlan(empty_every=-1), "--empty-every -1: must be 0 or more"),
    ],
)
def test_a_bad_option_is_named_with_how_to_mend_it(plan, message):
    with pytest.raises(SoakError, match=message):
        plan.check()


def test_the_full_fraction_a_window_as_long_as_the_run_and_growing_mailboxes_are_allowed():
    SoakPlan(minutes=1, window=60, fraction=1.0, empty_every=0).check()


def test_the_command_refuses_bad_options_in_one_line_before_it_looks_for_a_lab(tmp_path):
    result = mailstack("soak", "--lab", "nowhere", "--minutes", "1", "--window", "90",
                       state=tmp_path)  # fmt: skip
    assert result.returncode == 6
    assert "--window 90" in result.stderr
    assert "more --minutes" in result.stderr
    assert "Traceback" not in result.stderr
    assert "nowhere" not in result.stderr  # the options were checked first


def _report_data() -> dict[str, Any]:
    plan = SoakPlan(minutes=1, window=20)
    peak = Peak(accept_rate=1.6, drained_rate=1.5, messages=24, seconds=15.0, sessions=8)
    return {
        "lab": "soak",
        "host": "mx1",
        "started": "2025-01-01T00:00:00+00:00",
        "machine": None,
        **soak_result(plan, 1.05, peak, _observed(_steady_log())),
    }


def test_the_report_writes_the_json_a_page_with_its_plots_and_a_markdown_summary(tmp_path):
    data = _report_data()
    page = write_soak_report(data, tmp_path / "results" / "soak.json")
    assert json.loads((tmp_path / "results" / "soak.json").read_text()) == json.loads(
        json.dumps(data)
    )
    text = page.read_text()
    assert page == tmp_path / "results" / "soak.html"
    assert text.count("data:image/png;base64,") == 4
    assert "mailstack soak --lab soak --host mx1 --service submission" in text
    assert "70 % of the measured peak" in text
    markdown = (tmp_path / "results" / "soak.md").read_text()
    assert "## Windows" in markdown
    assert "## Verdict" in markdown
    assert markdown.count("| 0-20 |") == 1


def test_the_tables_show_a_row_per_window_and_a_check_per_rule():
    data = _report_data()
    windows = windows_table(data)
    assert [row[0].text for row in windows.rows] == ["0-20", "20-40", "40-60"]
    assert "postfix MiB" in windows.headers
    verdict = verdict_table(data)
    assert all(row[2].kind in ("met", "info") for row in verdict.rows)
    assert data["load"]["peak"]["rate"] == 1.5
    json.dumps(data)  # with its peak, still JSON-ready
