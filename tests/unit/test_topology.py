"""The topology loader: what a user writes, what the lab gets, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import TopologyError
from harness.lab.topology import DEFAULT_PORTS, default_topology, load_topology, parse_topology

GOOD = """
domains:
  - name: example.test
    mx: [mx2, mx1]
  - other.test
hosts:
  - name: mx1
    distro: debian12
    groups: [mail]
  - name: mx2
    distro: debian13
    groups: [mail, backup]
    ports: [4190, 25]
    resources: {cpus: 1.5, memory: 512M}
"""


def test_good_topology_parses_hosts_domains_and_ports() -> None:
    topo = parse_topology(GOOD, "t.yml")
    assert [h.name for h in topo.hosts] == ["mx1", "mx2"]
    assert topo.distros == ("debian12", "debian13")
    mx2 = topo.hosts[1]
    assert mx2.groups == ("mail", "backup")
    assert mx2.ports == (*DEFAULT_PORTS, 4190)  # 25 not repeated
    assert mx2.resources.cpus == 1.5
    assert mx2.resources.memory == "512m"
    assert topo.domains[0].mx == ("mx2", "mx1")
    assert topo.domains[1].name == "other.test"
    assert topo.domains[1].mx == ("mx1",)  # default MX: the first host
    assert topo.fqdn("mx2") == "mx2.example.test"


def test_default_topology_is_two_servers_on_both_distros() -> None:
    topo = default_topology()
    assert [(h.name, h.distro) for h in topo.hosts] == [("mx1", "debian12"), ("mx2", "debian13")]
    assert [d.name for d in topo.domains] == ["example.test", "catchall.example.test", "peer.test"]
    assert set(DEFAULT_PORTS) <= set(topo.hosts[0].ports)
    # each host named under the first domain it is MX for
    assert (topo.fqdn("mx1"), topo.fqdn("mx2")) == ("mx1.example.test", "mx2.peer.test")
    assert "peer" in topo.hosts[1].groups  # inventory/lab/group_vars/peer.yml applies


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (
            "domains: [example.test]\nhosts:\n  - {name: mx1, distro: debian11}\n",
            "hosts[0].distro",
            "unknown distro 'debian11'",
        ),
        (
            "domains: [example.test]\nhosts:\n  - {name: mx1}\n  - {name: mx1}\n",
            "hosts[1].name",
            "duplicate host 'mx1'",
        ),
        (
            "domains: [example.test]\nhosts:\n  - {name: mx1, ports: [25, 70000]}\n",
            "hosts[0].ports[1]",
            "invalid port 70000",
        ),
        (
            "domains: [example.test]\nhosts:\n  - {name: mx1, ports: ['smtp']}\n",
            "hosts[0].ports[0]",
            "invalid port 'smtp'",
        ),
        (
            "domains: [example.test]\nhosts:\n  - {name: mx1, ports: [true]}\n",
            "hosts[0].ports[0]",
            "invalid port True",
        ),
        (
            "domains: [example.com]\nhosts:\n  - {name: mx1}\n",
            "domains[0].name",
            "not under .test",
        ),
        (
            "domains: [{name: example.test, mx: [mx9]}]\nhosts:\n  - {name: mx1}\n",
            "domains[0].mx[0]",
            "unknown host 'mx9'",
        ),
        ("domains: [example.test]\nhosts: []\n", "hosts", "empty"),
        ("domains: [example.test]\n", "hosts", "missing"),
        (
            "domains: [example.test]\nhosts:\n  - {name: mx1, distr: debian12}\n",
            "hosts[0].distr",
            "unknown key",
        ),
        (
            "domains: [example.test]\nhosts:\n  - {name: MX_1}\n",
            "hosts[0].name",
            "invalid host name",
        ),
        (
            "domains: [example.test]\nhosts:\n  - {name: mx1, resources: {memory: lots}}\n",
            "hosts[0].resources.memory",
            "invalid memory",
        ),
        (
            "domains: [example.test]\nhosts:\n  - {name: mx1, groups: [all]}\n",
            "hosts[0].groups[0]",
            "invalid group name",
        ),
        ("- just\n- a list\n", "", "expected a mapping"),
        (
            "domains: [example.test]\nhosts:\n  - {name: mx1}\n  - {name: big, receiver: bigg}\n",
            "hosts[1].receiver",
            "unknown receiver profile 'bigg'",
        ),
        (
            "domains: [example.test]\nhosts:\n"
            "  - {name: mx1, groups: [mail], receiver: gmail-like}\n",
            "hosts[0].receiver",
            "a receiver is not a mail host",
        ),
    ],
)
def test_bad_topology_names_the_field(text: str, field: str, words: str) -> None:
    with pytest.raises(TopologyError) as caught:
        parse_topology(text, "lab.yml")
    assert caught.value.field == field
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"lab.yml: {field}")


def test_bad_yaml_names_line_and_column() -> None:
    with pytest.raises(TopologyError) as caught:
        parse_topology("hosts:\n  - name: mx1\n   distro: [debian12\n", "broken.yml")
    assert caught.value.field.startswith("line ")
    assert "not valid YAML" in str(caught.value)


def test_missing_file_is_a_topology_error(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot read"):
        load_topology(tmp_path / "nope.yml")


def test_topology_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match="hosts"):
        parse_topology("domains: [a.test]\n", "x")
