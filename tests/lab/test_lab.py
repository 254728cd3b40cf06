"""The lab end to end: real images, containers running systemd, SSH, DNS and the egress rule."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.reversename
import pytest
import testinfra
from click.testing import CliRunner
from docker import DockerClient

from harness.cli import cli
from harness.config import Paths
from harness.errors import LabError
from harness.lab.distros import DISTROS
from harness.lab.images import ImageBuilder
from harness.lab.lab import Lab
from harness.lab.names import LAB_LABEL, bridge_name, network_name
from harness.lab.network import egress_rule_present
from harness.lab.packages import role_packages
from harness.lab.topology import DEFAULT_PORTS, default_topology
from tests.lab.conftest import BIN, MAIN_LAB, RECEIVER, ansible, run_cli


def _inventory(lab: dict[str, Any]) -> str:
    return str(lab["state"]["inventory"])


def _host(lab: dict[str, Any], name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={_inventory(lab)}")


def _dns(lab: dict[str, Any], name: str, rdtype: str) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    # A short timeout: an answer must come at once, never after a forwarder gives up.
    return dns.query.udp(query, "127.0.0.1", port=lab["state"]["dns"]["port"], timeout=2)


def test_images_are_cached_on_rebuild(engine: DockerClient, lab_paths: Paths) -> None:
    builder = ImageBuilder(engine, lab_paths.build)
    for distro in DISTROS.values():
        builder.ensure(distro, role_packages(lab_paths.roles, distro))  # built once if needed
        again = builder.ensure(distro, role_packages(lab_paths.roles, distro))
        assert again.layers == {"base": "cached", "bake": "cached"}
        labels = engine.images.get(again.tag).labels
        assert labels["mailstack.distro"] == distro.name


def test_lab_is_up_with_both_distros(main_lab: dict[str, Any]) -> None:
    assert main_lab["up"] is True
    assert main_lab["egress_rule"] is True
    hosts = {h["name"]: h for h in main_lab["state"]["hosts"]}
    assert {n: h["distro"] for n, h in hosts.items()} == {
        "mx1": "debian12",
        "mx2": "debian13",
        RECEIVER: "debian13",
    }
    assert set(DEFAULT_PORTS) <= set(map(int, hosts["mx1"]["ports"]))
    assert 4190 in map(int, hosts["mx2"]["ports"])


def test_ansible_reaches_every_host_through_the_generated_inventory(
    main_lab: dict[str, Any],
) -> None:
    inv = _inventory(main_lab)
    ping = ansible("ansible", "all", "-m", "ansible.builtin.ping", inventory=inv)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert ping.stdout.count("pong") == len(main_lab["state"]["hosts"])  # the receiver too
    setup = ansible(
        "ansible",
        "all",
        "-o",  # one line a host: "mx1 | SUCCESS => {...}"
        "-m",
        "ansible.builtin.setup",
        "-a",
        "filter=ansible_distribution*",
        inventory=inv,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    facts = {}
    for line in setup.stdout.splitlines():
        host, _, result = line.partition(" | SUCCESS => ")
        facts[host] = json.loads(result)["ansible_facts"]
    assert facts["mx1"]["ansible_distribution_major_version"] == "12"
    assert facts["mx2"]["ansible_distribution_major_version"] == "13"


def test_groups_and_lab_vars_come_from_topology_and_group_vars(main_lab: dict[str, Any]) -> None:
    inv = _inventory(main_lab)
    graph = ansible("ansible-inventory", "--graph", inventory=inv)
    assert "@backup:" in graph.stdout
    assert "@mail:" in graph.stdout
    assert "@peer:" in graph.stdout
    host = ansible("ansible-inventory", "--host", "mx2", inventory=inv)
    data = json.loads(host.stdout)
    assert data["mailstack_lab"] is True  # from inventory/lab/group_vars/all.yml
    # a host's name lives under the first domain it is MX for
    assert data["mailstack_lab_fqdn"] == "mx2.peer.test"
    # group peer's variables replace those of all.yml: its own domain and accounts
    assert [d["name"] for d in data["mail_accounts_domains"]] == ["peer.test", "lists.peer.test"]


FQDNS = {"mx1": "mx1.example.test", "mx2": "mx2.peer.test", RECEIVER: f"{RECEIVER}.bigmail.test"}


def test_systemd_runs_as_pid_1_in_every_host(main_lab: dict[str, Any]) -> None:
    for name, fqdn in FQDNS.items():
        host = _host(main_lab, name)
        assert host.check_output("systemctl is-system-running") == "running"
        assert host.check_output("ps -o comm= -p 1") == "systemd"
        assert host.service("ssh").is_running
        assert host.check_output("hostname -f") == fqdn


def test_ssh_command_runs_on_a_host(main_lab: dict[str, Any]) -> None:
    done = subprocess.run(
        [
            str(BIN / "mailstack"),
            "lab",
            "ssh",
            "--lab",
            MAIN_LAB,
            "mx2",
            "cat",
            "/etc/debian_version",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("13")


def _answers(lab: dict[str, Any], name: str, rdtype: str) -> list[str]:
    reply = _dns(lab, name, rdtype)
    assert reply.rcode() == dns.rcode.NOERROR, (name, rdtype, dns.rcode.to_text(reply.rcode()))
    assert reply.flags & dns.flags.AA, (name, rdtype)  # authoritative, not forwarded
    return sorted(str(r) for rrset in reply.answer for r in rrset)


def test_dns_serves_the_inventory_zones_and_refuses_the_rest_at_once(
    main_lab: dict[str, Any], engine: DockerClient
) -> None:
    """The lab's NSD serves what `mailstack dns zone` makes from the lab's inventory: mx1
    serves example.test, mx2 peer.test (group_vars), each host has an A record and a PTR that
    points back (forward-confirmed), each domain an SPF record naming its own host only, and
    DMARC is published."""
    ips = {h["name"]: h["ip"] for h in main_lab["state"]["hosts"]}
    assert _answers(main_lab, "example.test", "MX") == ["10 mx1.example.test."]
    assert _answers(main_lab, "peer.test", "MX") == ["10 mx2.peer.test."]
    assert _answers(main_lab, "mx2.peer.test", "A") == [ips["mx2"]]
    for name, ip in ips.items():
        reverse = dns.reversename.from_address(ip).to_text()
        assert _answers(main_lab, reverse, "PTR") == [f"{FQDNS[name]}."]
    for domain, own, other in (("example.test", "mx1", "mx2"), ("peer.test", "mx2", "mx1")):
        spf = [t for t in _answers(main_lab, domain, "TXT") if "v=spf1" in t]
        assert len(spf) == 1, spf
        assert f"ip4:{ips[own]}" in spf[0]
        assert f"ip4:{ips[other]}" not in spf[0]
        assert any("v=DMARC1" in t for t in _answers(main_lab, f"_dmarc.{domain}", "TXT"))
    assert _dns(main_lab, "nobody.example.test", "A").rcode() == dns.rcode.NXDOMAIN
    assert _dns(main_lab, "example.com", "A").rcode() == dns.rcode.REFUSED
    assert _dns(main_lab, "1.2.0.192.in-addr.arpa", "PTR").rcode() == dns.rcode.REFUSED
    # the zone file it serves is one NSD's own checker accepts, as a provider's would
    dns_container = engine.containers.get(f"mailstack-{MAIN_LAB}-dns")
    for zone in ("example.test", "peer.test"):
        check = dns_container.exec_run(["nsd-checkzone", zone, f"/etc/nsd/mailstack/{zone}.zone"])
        assert check.exit_code == 0, check.output
    # inside a host, through the container's resolver: a lab name resolves, an outside name
    # fails fast (getent exit 2) instead of hanging until `timeout` kills it (exit 124)
    host = _host(main_lab, "mx1")
    assert "mx2.peer.test" in host.check_output("getent hosts mx2.peer.test")
    assert host.run("timeout 5 getent hosts example.com").rc == 2


#: Run by a lab host's python3 (stdlib only): N questions to the lab's DNS, 100 in flight at
#: a time; prints how many went unanswered, or came back truncated (NSD's RRL "slip").
_BURST = """
import socket, struct, sys
server, n = sys.argv[1], int(sys.argv[2])
name = b"".join(bytes([len(p)]) + p.encode() for p in "bench.client.test".split(".")) + b"\\0"
answered = set()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((server, 53))
s.settimeout(1)
for start in range(0, n, 100):
    for i in range(start, min(n, start + 100)):
        s.send(struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 15, 1))
    try:
        while len(answered) < min(n, start + 100):
            rid, flags = struct.unpack(">HH", s.recv(4096)[:4])
            if flags & 0x000F == 5 and not flags & 0x0200:
                answered.add(rid)
    except socket.timeout:
        pass
print(n - len(answered))
"""


def test_dns_answers_a_burst_of_lookups_without_dropping_any(
    main_lab: dict[str, Any], engine: DockerClient
) -> None:
    """A mail host under load asks the lab's DNS thousands of times a second (the same
    REFUSED question about a sender's domain, over and over): every question is answered in
    full. NSD's response rate limiting dropped or truncated answers (111 of 800 here), and
    Postfix waited out the resolver's timeouts: 2 s stalls on 8 % of a bench's messages."""
    dns_ip = main_lab["state"]["dns"]["ip"]
    host = engine.containers.get(f"mailstack-{MAIN_LAB}-mx1")
    done = host.exec_run(["python3", "-c", _BURST, dns_ip, "800"])
    assert done.exit_code == 0, done.output
    assert done.output.decode().strip() == "0", f"unanswered of 800: {done.output!r}"


def test_dns_publish_serves_what_the_inventory_says_now(main_lab: dict[str, Any]) -> None:
    """Change the inventory, publish: the lab answers the new records (a DKIM rotation goes
    the same way); change it back, publish: the old answer returns."""
    host_vars = Path(main_lab["state"]["inventory"]).parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "mx1.yml").write_text("mail_dns_mx_priority: 20\n")

    def publish() -> None:
        done = CliRunner().invoke(cli, ["dns", "publish", "--lab", MAIN_LAB])
        assert done.exit_code == 0, done.output

    def verify_dns() -> tuple[int, dict[str, str]]:
        """verify's exit code and each host's DNS check outcome."""
        done = subprocess.run(
            [
                *(str(BIN / "mailstack"), "verify", "--json"),
                *("-i", main_lab["state"]["inventory"], "-k", "dns"),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        report = json.loads(done.stdout)
        return done.returncode, {r["host"]: r["outcome"] for r in report["results"]}

    try:
        # not yet published: verify's DNS check sees the difference and fails
        # mx1's domain is stale; mx2's (peer.test) is not
        assert verify_dns() == (1, {"mx1": "failed", "mx2": "passed"})
        publish()
        assert verify_dns() == (0, {"mx1": "passed", "mx2": "passed"})
        assert _answers(main_lab, "example.test", "MX") == ["20 mx1.example.test."]
    finally:
        (host_vars / "mx1.yml").unlink()
        publish()
    assert _answers(main_lab, "example.test", "MX") == ["10 mx1.example.test."]


def test_egress_is_dropped_by_a_rule_on_the_lab_bridge(
    main_lab: dict[str, Any], engine: DockerClient
) -> None:
    bridge = bridge_name(MAIN_LAB)
    rules = subprocess.run(
        ["iptables", "-w", "-S", "DOCKER-USER"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert f"-A DOCKER-USER -i {bridge} ! -o {bridge} -j DROP" in rules
    # before the chain's RETURN, so it takes effect
    assert rules.index(f"-A DOCKER-USER -i {bridge} ! -o {bridge} -j DROP") < rules.index(
        "-A DOCKER-USER -j RETURN"
    )
    net = engine.networks.get(network_name(MAIN_LAB))
    assert net.attrs["Options"]["com.docker.network.bridge.name"] == bridge
    assert net.attrs["Internal"] is False  # ports must still publish
    # every container sits on the lab network only, with its ports on loopback only
    for container in engine.containers.list(filters={"label": f"{LAB_LABEL}={MAIN_LAB}"}):
        assert list(container.attrs["NetworkSettings"]["Networks"]) == [network_name(MAIN_LAB)]
        for bindings in container.attrs["NetworkSettings"]["Ports"].values():
            assert {b["HostIp"] for b in bindings or []} <= {"127.0.0.1"}


def test_up_on_a_running_lab_is_a_no_op(main_lab: dict[str, Any], engine: DockerClient) -> None:
    before = {
        c.name: c.id for c in engine.containers.list(filters={"label": f"{LAB_LABEL}={MAIN_LAB}"})
    }
    again = run_cli("lab", "up", "--lab", MAIN_LAB)
    assert again["already_up"] is True
    after = {
        c.name: c.id for c in engine.containers.list(filters={"label": f"{LAB_LABEL}={MAIN_LAB}"})
    }
    assert after == before


def _nothing_left(engine: DockerClient, name: str, folder: Path) -> None:
    assert engine.containers.list(all=True, filters={"label": f"{LAB_LABEL}={name}"}) == []
    assert engine.networks.list(filters={"label": f"{LAB_LABEL}={name}"}) == []
    assert not egress_rule_present(name)
    assert not folder.exists()
    link = subprocess.run(
        ["ip", "link", "show", bridge_name(name)], capture_output=True, check=False
    )
    assert link.returncode != 0


def test_a_second_lab_runs_beside_the_first_and_down_leaves_nothing(
    main_lab: dict[str, Any], engine: DockerClient, lab_paths: Paths
) -> None:
    second = run_cli("lab", "up", "--lab", "t-second")
    try:
        assert second["up"] is True
        assert second["state"]["subnet"] != main_lab["state"]["subnet"]
        ping = ansible("ansible", "all", "-m", "ansible.builtin.ping", inventory=_inventory(second))
        assert ping.returncode == 0, ping.stdout
        assert Lab(engine, lab_paths, MAIN_LAB).status()["up"] is True
    finally:
        down = run_cli("lab", "down", "--lab", "t-second")
    assert down["containers"] == len(default_topology().hosts) + 1  # and the DNS
    assert down["rules"] == 1
    _nothing_left(engine, "t-second", lab_paths.lab("t-second"))
    assert Lab(engine, lab_paths, MAIN_LAB).status()["up"] is True


def test_down_cleans_a_crashed_half_up_lab(engine: DockerClient, lab_paths: Paths) -> None:
    name = "t-crash"
    run_cli("lab", "up", "--lab", name)
    folder = lab_paths.lab(name)
    # as if `up` died before writing its state, and a container died with it
    (folder / "state.json").unlink()
    engine.containers.get(f"mailstack-{name}-mx1").kill()
    the_lab = Lab(engine, lab_paths, name)
    assert the_lab.status()["up"] is False
    assert the_lab.has_leftovers()
    # `up` over the wreck cleans it first and comes up whole
    again = run_cli("lab", "up", "--lab", name)
    assert again["already_up"] is False
    assert again["up"] is True
    engine.containers.get(f"mailstack-{name}-dns").kill()
    (folder / "state.json").unlink()
    report = the_lab.down()
    assert report.containers == len(default_topology().hosts) + 1
    _nothing_left(engine, name, folder)


@pytest.mark.parametrize("name", ["Bad_Name", "much-too-long-name"])
def test_bad_lab_name_is_refused(engine: DockerClient, lab_paths: Paths, name: str) -> None:
    with pytest.raises(LabError, match="invalid lab name"):
        Lab(engine, lab_paths, name)
