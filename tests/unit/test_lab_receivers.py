"""Provider-like receivers as lab hosts: the shipped outbound topology, the zones the lab
serves for their domains (MX, A, PTR) and the profiles a rehearsal may give them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import dns.zone
import pytest

from harness.bench.outbound import receiver_profiles
from harness.errors import BenchError
from harness.lab.receivers import journal_lines, receiver_config
from harness.lab.state import DnsState, HostState, LabState
from harness.lab.topology import parse_topology
from harness.lab.zones import lab_zones


def _outbound_topology() -> str:
    return resources.files("harness.lab").joinpath("outbound-topology.yml").read_text("utf-8")


def test_the_outbound_topology_has_receivers_outside_group_mail() -> None:
    topology = parse_topology(_outbound_topology(), "outbound-topology.yml")
    receivers = {h.name: h.receiver for h in topology.hosts if h.receiver}
    assert receivers == {"gmail": "gmail-like", "yahoo": "yahoo-like"}
    assert all("mail" not in h.groups for h in topology.hosts if h.receiver)
    assert topology.fqdn("gmail") == "gmail.bigmail.test"


def _receiver(name: str, ip: str, domains: list[str], profile: str) -> HostState:
    return HostState(
        name=name,
        fqdn=f"{name}.{domains[0]}",
        distro="debian12",
        image="",
        container=f"ms-t-{name}",
        ip=ip,
        groups=[],
        receiver=profile,
        mx_for=domains,
    )


def test_the_lab_serves_each_receiver_domain_with_mx_a_and_ptr(tmp_path: Path) -> None:
    state = LabState(
        name="t",
        folder=tmp_path,
        network="n",
        bridge="b",
        subnet="10.9.8.0/24",
        domains=["example.test", "bigmail.test", "yahoo-like.test"],
        dns=DnsState(container="dns", ip="10.9.8.2", port=0),
        hosts=[
            _receiver("gmail", "10.9.8.11", ["bigmail.test"], "gmail-like"),
            _receiver("yahoo", "10.9.8.12", ["yahoo-like.test"], "yahoo-like"),
        ],
        cgroup_version=1,
    )
    zones = {
        origin: dns.zone.from_text(text, origin=origin, relativize=False)
        for origin, text in lab_zones(state, serial=2611290000)
    }
    assert set(zones) == {"bigmail.test.", "yahoo-like.test.", "8.9.10.in-addr.arpa."}
    big = zones["bigmail.test."]
    assert big.find_rdataset("bigmail.test.", "MX")[0].to_text() == "10 gmail.bigmail.test."
    assert big.find_rdataset("gmail.bigmail.test.", "A")[0].to_text() == "10.9.8.11"
    reverse = zones["8.9.10.in-addr.arpa."]
    assert reverse.find_rdataset("12.8.9.10.in-addr.arpa.", "PTR")[0].to_text() == (
        "yahoo.yahoo-like.test."
    )


def test_a_receiver_config_inlines_its_profile_and_listens_on_the_bridge() -> None:
    host = _receiver("gmail", "10.9.8.11", ["bigmail.test"], "gmail-like")
    config = receiver_config(host, {"name": "strict"})
    assert config["hostname"] == "gmail.bigmail.test"
    assert config["listen"] == {"host": "0.0.0.0", "port": 25}  # noqa: S104 -- in a container
    assert config["profile"] == {"name": "strict"}


def test_receiver_profiles_take_shipped_names_and_files(tmp_path: Path) -> None:
    strict = tmp_path / "strict.yml"
    strict.write_text("name: strict\nrate: {per_second: 1, burst: 2}\n")
    profiles = receiver_profiles(["gmail=yahoo-like", f"yahoo={strict}"])
    assert profiles["gmail"]["name"] == "yahoo-like"
    assert profiles["yahoo"]["rate"]["per_second"] == 1


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("gmail", "is not HOST=NAME or HOST=FILE"),
        ("gmail=nowhere.yml", "neither a shipped profile"),
    ],
)
def test_a_bad_receiver_profile_is_named(value: str, words: str) -> None:
    with pytest.raises(BenchError, match=words):
        receiver_profiles([value])


def test_a_profile_file_with_a_bad_field_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\nrate: {per_second: 1, burst: 0}\n")
    with pytest.raises(BenchError, match=r"rate\.burst"):
        receiver_profiles([f"gmail={bad}"])


def test_a_journal_read_mid_write_leaves_the_partial_line_for_the_next_read() -> None:
    """The bug: a poll read the journal while the receiver was writing a line, and the
    half line stopped the whole rehearsal with a JSON error."""
    text = '{"token": "a", "outcome": "accepted"}\n{"token": "b", "outc'
    assert journal_lines(text) == [{"token": "a", "outcome": "accepted"}]
    assert journal_lines(text + 'ome": "deferred"}\n')[1]["outcome"] == "deferred"
    assert journal_lines("") == []
