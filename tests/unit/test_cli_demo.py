"""The demo returns data (timings, converge results, verify report, bench paths); the CLI
shows it and fails with one line naming every problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from harness.bench.model import BenchSuite
from harness.demo import DemoResult
from harness.provision import PlaybookResult
from harness.verify.exchange import Exchange
from harness.verify.runner import CheckResult, VerifyReport


def _run(accepted: int, attempted: int = 10) -> dict[str, Any]:
    outcomes = {
        "attempted": attempted,
        "accepted": accepted,
        "temp_failed": 0,
        "rejected": attempted - accepted,
        "connection_error": 0,
        "timeout": 0,
        "codes": {"rejected": {"550": attempted - accepted}} if attempted > accepted else {},
        "balanced": True,
    }
    return {"outcomes": outcomes, "errors": {}}


def _exchange(results: dict[str, str]) -> Exchange:
    return Exchange(
        sender="mx1",
        receiver="mx2",
        from_address="alice@example.test",
        to_address="carol@peer.test",
        token="t",
        raw=b"",
        results=results,
        received="from mx1.example.test (mx1.example.test [10.0.0.1]) by mx2.peer.test with ESMTPS",
        seconds=1.0,
    )


PASSING = {"spf": "pass", "dkim": "pass", "dmarc": "pass", "arc": "none"}


def _demo(
    *, again_changed: int, failed: bool, accepted: int, results: dict[str, str] = PASSING
) -> DemoResult:
    verify = VerifyReport(inventory="inv", seconds=1.0)
    verify.results = [CheckResult("test_x", "mx1", "failed" if failed else "passed", 0.1)]
    bench = cast("BenchSuite", {"accept_rate": 1.0, "ratios": {}, "runs": {"sink": _run(10)}})
    bench["runs"]["stack-587"] = cast("Any", _run(accepted))
    return DemoResult(
        lab="default",
        already_up=False,
        status={"name": "default"},
        converge=PlaybookResult(returncode=0, seconds=2.0, changed=5),
        converge_again=PlaybookResult(
            returncode=0, seconds=1.0, changed=again_changed, changed_tasks=["mx1: t"]
        ),
        verify=verify,
        exchanges=[_exchange(results)],
        bench=bench,
        bench_result=Path("bench-results/demo.json"),
        bench_report=Path("bench-results/demo.html"),
        kept=False,
        timings={"lab up": 1.0, "converge": 2.0},
    )


def test_a_clean_demo_has_no_problems_and_is_json() -> None:
    result = _demo(again_changed=0, failed=False, accepted=10)
    assert result.problems() == []
    data = json.loads(json.dumps(result.to_json()))
    assert data["converge"]["changed"] == 5
    assert "output" not in data["converge"]
    assert data["verify"]["ok"] is True
    assert data["bench"]["result"] == "bench-results/demo.json"
    assert data["exchanges"][0]["results"]["dkim"] == "pass"
    assert data["exchanges"][0]["tls"] is True


def test_every_problem_is_named() -> None:
    unsigned = {"spf": "pass", "dmarc": "fail"}
    problems = _demo(again_changed=1, failed=True, accepted=0, results=unsigned).problems()
    assert problems[0] == "converge again changed 1 task(s): mx1: t"
    assert problems[1] == "verify: 1 check(s) failed"
    assert problems[2] == "mail mx1 -> mx2: {'spf': 'pass', 'dmarc': 'fail'}"
    assert problems[3].startswith("bench stack-587: none of 10 messages accepted (10 rejected")
    assert len(problems) == 4
