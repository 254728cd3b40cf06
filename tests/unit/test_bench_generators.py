"""A bench spread over generator hosts, offline: how a run is cut into shares, how a share
travels to a host, and that merging the hosts' metrics is exact — counts are sums, histograms
hold every sample, percentiles are those of the summed histograms, not averages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.bench import stats
from harness.bench.generators import Part, RemoteGenerators, exactness, merge, shares
from harness.bench.metrics import Metrics, Outcome
from harness.bench.remote import decode_spec, encode_spec, main
from harness.bench.spec import BenchSpec, SizeDistribution, parse_target
from harness.errors import BenchError
from tests.filter_plugins import ROLES

SPEC = BenchSpec(
    target=parse_target("smtp://10.0.0.10:25?tls_name=mx1.example.test"),
    sender="bench@client.test",
    recipients=("alice@example.test", "bob@example.test"),
    messages=1001,
    sessions=5,
    rate=100.0,
    sizes=SizeDistribution.parse("1k:70,10k:30"),
)


def test_shares_add_up_to_the_run_and_split_the_rate_by_messages() -> None:
    parts = shares(SPEC, 2)
    assert [p.messages for p in parts] == [501, 500]
    assert [p.sessions for p in parts] == [3, 2]
    assert sum(p.rate or 0 for p in parts) == pytest.approx(100.0)
    assert parts[0].seed != parts[1].seed
    assert all(p.target == SPEC.target and p.sizes == SPEC.sizes for p in parts)


def test_more_generators_than_sessions_is_named() -> None:
    with pytest.raises(BenchError, match="--generators 6"):
        shares(SPEC, 6)


def test_a_share_travels_as_one_word_and_comes_back_equal() -> None:
    word = encode_spec(SPEC)
    assert word.isascii()
    assert " " not in word
    assert decode_spec(word) == SPEC


def test_the_remote_entry_point_says_how_to_call_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["only-one-argument"]) == 2
    assert "usage" in capsys.readouterr().err


def _metrics(latencies_ms: list[float], accepted: int, refused: int, prefix: str) -> Metrics:
    m = Metrics()
    for i, ms in enumerate(latencies_ms):
        m.record_latency("message", ms / 1000)
        m.record_outcome(Outcome.ACCEPTED, at=i / 100, token=f"{prefix}{i}", sent_at=1.0)
    for _ in range(accepted - len(latencies_ms)):
        m.record_outcome(Outcome.ACCEPTED)
    for _ in range(refused):
        m.record_outcome(Outcome.TEMP_FAILED, code=421)
    return m


def test_merged_percentiles_are_those_of_all_samples_not_an_average() -> None:
    # One fast generator, one slow: the average of their p50s lies between the two runs, the
    # true p50 of all samples is the fast run's (it has three quarters of them).
    fast = Part("gen1", 0.0, 1.0, 0.0, _metrics([10.0] * 300, 300, 2, "a"))
    slow = Part("gen2", 0.0, 1.0, 0.0, _metrics([200.0] * 100, 100, 0, "b"))
    merged = merge([fast, slow])
    assert merged.buckets[Outcome.ACCEPTED] == 400
    assert merged.buckets[Outcome.TEMP_FAILED] == 2
    assert merged.attempted == 402
    p50 = merged.summary("message")
    assert p50 is not None
    assert p50["p50"] == pytest.approx(10.0, rel=0.01)
    averaged = (fast.metrics.summary("message")["p50"] + slow.metrics.summary("message")["p50"]) / 2  # type: ignore[index]
    assert p50["p50"] != pytest.approx(averaged, rel=0.01)
    assert p50["p99"] == pytest.approx(200.0, rel=0.01)
    assert exactness([fast, slow], merged) == {"counts": True, "histograms": True, "tokens": True}


def test_exactness_notices_a_lost_count_or_sample() -> None:
    parts = [Part("gen1", 0.0, 1.0, 0.0, _metrics([5.0] * 10, 10, 0, "a"))]
    short = merge(parts)
    short.buckets[Outcome.ACCEPTED] -= 1
    assert exactness(parts, short)["counts"] is False
    thin = merge(parts)
    thin.histograms["message"].record_value(stats.clamp_us(1))
    assert exactness(parts, thin)["histograms"] is False


def test_too_few_generator_hosts_are_named(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  children:\n    generators:\n      hosts:\n        gen1:\n    mail:\n"
        "      hosts:\n        mx1:\n"
    )
    assert RemoteGenerators.of(str(inventory), 1).hosts == ("gen1",)
    with pytest.raises(BenchError, match=r"group 'generators' has 1 host\(s\) \(gen1\)"):
        RemoteGenerators.of(str(inventory), 2)


#: The controller's packages a generator host does not get (bench_generator_requirements names
#: what it does): importing any of them there fails. PyYAML did, through the result types.
_NOT_ON_GENERATORS = (
    "yaml",
    "click",
    "rich",
    "docker",
    "ansible",
    "matplotlib",
    "dns",
    "testinfra",
    "cryptography",
)


def test_the_generator_entry_point_imports_with_the_generator_hosts_packages_only() -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    requirements = yaml.safe_load(
        (ROLES / "bench_generator" / "defaults" / "main.yml").read_text()
    )["bench_generator_requirements"]
    assert not set(requirements) & set(_NOT_ON_GENERATORS)
    probe = (
        "import importlib.abc, sys\n"
        "class Absent(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.partition('.')[0] in {_NOT_ON_GENERATORS!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Absent())\n"
        "import harness.bench.remote\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
