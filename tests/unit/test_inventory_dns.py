"""What the lab generates: the Ansible inventory, known_hosts, the DNS server's files."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

import yaml

from harness.lab.containers import files_tar
from harness.lab.dns import nsd_files
from harness.lab.inventory import inventory_data, write_inventory, write_known_hosts
from harness.lab.sshkeys import known_hosts_line, new_keypair
from harness.lab.state import DnsState, HostState, LabState
from harness.lab.topology import parse_topology

TOPO = parse_topology(
    """
domains:
  - {name: example.test, mx: [mx1]}
  - {name: other.test, mx: [mx2, mx1]}
hosts:
  - {name: mx1, groups: [mail]}
  - {name: mx2, distro: debian13, groups: [mail, backup]}
""",
    "t",
)


def _state(folder: Path) -> LabState:
    hosts = [
        HostState(
            name=h.name,
            fqdn=TOPO.fqdn(h.name),
            distro=h.distro,
            image="img",
            container=f"c-{h.name}",
            ip=f"10.0.0.{10 + i}",
            groups=list(h.groups),
            ports={22: 40000 + i, 25: 41000 + i},
            host_key=new_keypair(h.name).public_openssh,
        )
        for i, h in enumerate(TOPO.hosts)
    ]
    return LabState(
        name="t",
        folder=folder,
        network="n",
        bridge="b",
        subnet="10.0.0.0/24",
        domains=["example.test", "other.test"],
        dns=DnsState(container="d", ip="10.0.0.2", port=5353),
        hosts=hosts,
        cgroup_version=1,
    )


def test_inventory_has_hosts_groups_and_strict_host_keys(tmp_path: Path) -> None:
    data = inventory_data(_state(tmp_path))["all"]
    assert data["hosts"]["mx2"]["ansible_host"] == "127.0.0.1"
    assert data["hosts"]["mx2"]["ansible_port"] == 40001
    assert set(data["children"]) == {"mail", "backup"}
    assert set(data["children"]["mail"]["hosts"]) == {"mx1", "mx2"}
    args = data["vars"]["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in args
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in args
    assert data["vars"]["ansible_ssh_private_key_file"] == str(tmp_path / "id_ed25519")


def test_written_inventory_links_the_lab_group_vars(tmp_path: Path) -> None:
    group_vars = tmp_path / "project" / "group_vars"
    group_vars.mkdir(parents=True)
    state = _state(tmp_path / "lab")
    path = write_inventory(state, group_vars)
    assert yaml.safe_load(path.read_text())["all"]["hosts"]["mx1"]["ansible_port"] == 40000
    assert (path.parent / "group_vars").resolve() == group_vars.resolve()
    write_inventory(state, group_vars)  # rewriting is fine


def test_known_hosts_pins_each_host_key_by_port(tmp_path: Path) -> None:
    state = _state(tmp_path)
    text = write_known_hosts(state).read_text().splitlines()
    key_type, key = state.hosts[1].host_key.split()[:2]
    assert text[1] == f"[127.0.0.1]:40001 {key_type} {key}"
    assert known_hosts_line("h", 22, "ssh-ed25519 AAA c") == "h ssh-ed25519 AAA"


def test_state_round_trips_through_json(tmp_path: Path) -> None:
    state = _state(tmp_path)
    state.save()
    loaded = LabState.load(tmp_path)
    assert loaded == state
    assert LabState.load(tmp_path / "none") is None


def test_nsd_serves_exactly_the_zones_it_is_given_and_nothing_else() -> None:
    zones = [("example.test.", "$ORIGIN example.test.\n"), ("143.213.10.in-addr.arpa.", "x\n")]
    files = nsd_files(zones)
    conf = files["etc/nsd/mailstack/nsd.conf"][0].decode()
    assert "name: example.test\n    zonefile: example.test.zone" in conf
    assert "name: 143.213.10.in-addr.arpa\n" in conf
    assert conf.count("zone:") == 2
    # authoritative only: no forwarding, no recursion settings, no zone transfer to anyone
    for word in ("forward", "recurs", "provide-xfr", "request-xfr"):
        assert word not in conf
    assert files["etc/nsd/mailstack/example.test.zone"][0] == b"$ORIGIN example.test.\n"
    assert set(files) == {
        "etc/nsd/mailstack/nsd.conf",
        "etc/nsd/mailstack/example.test.zone",
        "etc/nsd/mailstack/143.213.10.in-addr.arpa.zone",
    }


def test_files_put_into_containers_carry_real_times() -> None:
    """NSD skips a zone file whose time equals the zone's (0 at start): 1970 meant no zones."""
    with tarfile.open(fileobj=io.BytesIO(files_tar({"etc/x/a.zone": (b"x", 0o644)}))) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["etc/x", "etc/x/a.zone"]
    assert all(m.mtime > time.time() - 60 for m in members)
