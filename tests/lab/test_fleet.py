"""The shipped fleet topology end to end: two MX (mx2 the backup), a mailbox backend and a
submission/outbound host, Debian 12 and 13 mixed. It converges (and a second run changes
nothing), passes verify on every tier, publishes MX for the mx tier only, keeps the backend's
fleet ports to the fleet, and a backup MX queues mail while the backend is down and hands it
on when the backend is back. Its Prometheus (mon) scrapes every exporter, which answer it
only, and a bench run's report carries the servers' series of its window."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import dns.resolver
import pytest
from docker import DockerClient

from harness.bench.server_side import prometheus_for
from harness.bench.stats import histogram, summary
from harness.config import Paths
from harness.lab.lab import Lab
from harness.lab.zones import publish_lab_zones
from harness.metrics.prometheus import Health, PrometheusClient
from harness.metrics.window import server_series
from harness.provision import PlaybookResult, run_site
from harness.remote import inventory_host
from harness.verify.suite.helpers import assert_delivered, inbound
from harness.verify.targets import Target, load_targets
from tests.lab.conftest import run_cli

pytestmark = [pytest.mark.lab, pytest.mark.slow]

FLEET_LAB = "t-fleet"
#: The backend's TCP services for the other tiers: LMTP, SASL auth, quota-status.
FLEET_PORTS = {"lmtp": 24, "auth": 12345, "quota-status": 12340}


@pytest.fixture(scope="module")
def fleet(engine: DockerClient, lab_paths: Paths) -> Iterator[dict[str, Any]]:
    topology = resources.files("harness.lab").joinpath("fleet-topology.yml")
    data = run_cli("lab", "up", "--lab", FLEET_LAB, "--topology", str(topology))
    yield data
    Lab(engine, lab_paths, FLEET_LAB).down()


@pytest.fixture(scope="module")
def inventory(fleet: dict[str, Any]) -> str:
    return str(fleet["state"]["inventory"])


@pytest.fixture(scope="module")
def converged(fleet: dict[str, Any], inventory: str, lab_paths: Paths) -> PlaybookResult:
    result = run_site(lab_paths.project, inventory)
    assert result.success, result.output[-5000:]
    publish_lab_zones(FLEET_LAB)  # DNS serves the DKIM key the converge made
    return result


@pytest.fixture(scope="module")
def targets(converged: PlaybookResult, inventory: str) -> dict[str, Target]:
    return {t.name: t for t in load_targets(inventory)}


def _ip(fleet: dict[str, Any], name: str) -> str:
    return str(next(h["ip"] for h in fleet["state"]["hosts"] if h["name"] == name))


def test_fleet_converges_and_a_second_run_changes_nothing(
    converged: PlaybookResult, inventory: str, lab_paths: Paths
) -> None:
    assert sorted(converged.hosts) == ["mbox", "mon", "mx1", "mx2", "out"]
    again = run_site(lab_paths.project, inventory)
    assert again.success, again.output[-3000:]
    assert again.changed == 0, again.changed_tasks


def test_verify_passes_with_each_check_on_the_tiers_that_offer_it(
    converged: PlaybookResult,
) -> None:
    report = run_cli("verify", "--lab", FLEET_LAB)
    assert report["ok"], [r for r in report["results"] if r["outcome"] == "failed"]

    def hosts(check: str) -> set[str]:
        return {r["host"] for r in report["results"] if r["check"] == check}

    def passed(check: str) -> set[str]:
        return {
            r["host"] for r in report["results"] if (r["check"], r["outcome"]) == (check, "passed")
        }

    # Mail to the domain lands on the backend whichever MX takes it (read there over IMAP).
    assert passed("test_inbound_to_mailbox") >= {"mx1", "mx2"}
    assert passed("test_inbound_to_catch_all") >= {"mx1", "mx2"}
    assert hosts("test_imap_login_without_tls_is_refused") == {"mbox"}
    assert passed("test_submitted_mail_is_signed_with_the_active_key") == {"out"}
    assert hosts("test_wrong_password_is_refused") == {"out"}  # SASL asked of the backend
    assert passed("test_quota_status_only_where_configured") == {"mbox"}
    # Postfix only where a tier needs it, Dovecot only on the backend, and every port
    # listening exactly where offered (no IMAP on an MX, no SMTP on the backend).
    for check in (
        "test_daemon_runs_exactly_where_its_tiers_are[dovecot]",
        "test_daemon_runs_exactly_where_its_tiers_are[postfix]",
        "test_port_listening_exactly_when_offered[imaps]",
        "test_port_listening_exactly_when_offered[smtp]",
    ):
        assert passed(check) == {"mx1", "mx2", "mbox", "out"}, check


def test_dns_publishes_the_mx_tier_as_mx_with_the_backup_second(
    fleet: dict[str, Any], converged: PlaybookResult
) -> None:
    ask = dns.resolver.Resolver(configure=False)
    ask.nameservers, ask.port = ["127.0.0.1"], int(fleet["state"]["dns"]["port"])
    mx = sorted((r.preference, str(r.exchange)) for r in ask.resolve("example.test", "MX"))
    assert mx == [(10, "mx1.example.test."), (20, "mx2.example.test.")]
    spf = "".join(s.decode() for r in ask.resolve("example.test", "TXT") for s in r.strings)
    assert f"ip4:{_ip(fleet, 'out')}" in spf
    assert f"ip4:{_ip(fleet, 'mbox')}" not in spf  # the backend sends nothing


def test_backend_fleet_ports_answer_the_fleet_only(
    fleet: dict[str, Any], inventory: str, converged: PlaybookResult
) -> None:
    mbox = _ip(fleet, "mbox")
    # From this machine (the lab bridge's gateway, not a fleet host): a TCP reset.
    for name, port in FLEET_PORTS.items():
        try:
            socket.create_connection((mbox, port), timeout=5).close()
        except ConnectionRefusedError:
            continue
        pytest.fail(f"{name} ({port}) on the backend answers a host outside the fleet")
    # From an MX: LMTP greets.
    lmtp = (mbox, FLEET_PORTS["lmtp"])
    probe = (
        f"import socket; s = socket.create_connection({lmtp!r}, timeout=5); "
        "print(s.recv(200).decode().strip())"
    )
    greeting = inventory_host("mx1", inventory).check_output(f'python3 -c "{probe}"')
    assert greeting.startswith("220 "), greeting


#: The daemons of the roles' packages, which the lab bakes into every image with their units off.
ROLE_DAEMONS = (
    "postfix",
    "dovecot",
    "rspamd",
    "redis-server",
    "fail2ban",
    "rsyslog",
    "prometheus",
    "prometheus-node-exporter",
    "prometheus-postfix-exporter",
)


def _active(host: Any) -> set[str]:
    states = host.run("systemctl is-active " + " ".join(ROLE_DAEMONS)).stdout.split()
    return {d for d, state in zip(ROLE_DAEMONS, states, strict=True) if state == "active"}


def test_a_host_runs_the_daemons_of_its_roles_and_no_other(
    converged: PlaybookResult, inventory: str
) -> None:
    """The images hold every role's packages, but a host boots with none of their daemons: a
    generator runs none, the monitoring host Prometheus only, and the backend no Postfix."""
    assert _active(inventory_host("gen1", inventory)) == set()
    assert _active(inventory_host("mon", inventory)) == {"prometheus"}
    mbox = _active(inventory_host("mbox", inventory))
    assert "dovecot" in mbox
    assert not mbox & {"postfix", "rspamd", "prometheus", "prometheus-postfix-exporter"}


@pytest.fixture(scope="module")
def prometheus(converged: PlaybookResult, inventory: str) -> PrometheusClient:
    client = prometheus_for(None, inventory)
    assert client is not None, "the fleet lab has no host in group monitoring"
    client.wait_ready(60)
    return client


def test_exporters_answer_prometheus_only_and_it_has_every_series(
    prometheus: PrometheusClient,
) -> None:
    """Prometheus scrapes, on each host of the tiers that run it, the node exporter, the
    Postfix exporter, Dovecot's endpoint and rspamd's controller, and every one answers it;
    this machine, outside the monitoring network, gets a TCP reset from each."""
    deadline = time.monotonic() + 30
    while True:  # a Prometheus just (re)started lists its targets, then scrapes them
        targets = [t for t in prometheus.targets() if t.job != "prometheus"]
        if targets and all(t.health is Health.UP for t in targets):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    found = {(t.job, t.labels["host"]): t for t in targets}
    assert sorted(found) == sorted(
        [(j, h) for j in ("node",) for h in ("mbox", "mx1", "mx2", "out")]
        + [(j, h) for j in ("postfix", "rspamd") for h in ("mx1", "mx2", "out")]
        + [("dovecot", "mbox")]
    )
    down = {k: t.last_error for k, t in found.items() if t.health is not Health.UP}
    assert not down, down
    for (job, host), target in found.items():
        address, _, port = target.url.split("/")[2].rpartition(":")
        try:
            socket.create_connection((address, int(port)), timeout=5).close()
        except ConnectionRefusedError:
            continue
        pytest.fail(f"{job} on {host} ({target.url}) answers a host outside the monitoring one")
    now = time.time()
    series = server_series(prometheus, now - 60, now)
    assert series.data["missing"] == [], series.data
    assert set(series.hosts("cpu")) == {"mbox", "mx1", "mx2", "out"}
    assert set(series.hosts("queue")) == {"mx1", "mx2", "out"}
    assert set(series.hosts("deliveries")) == {"mbox"}
    assert set(series.hosts("scan_ms")) == {"mx1", "mx2", "out"}


def _queue(host: Any) -> list[dict[str, Any]]:
    """The host's Postfix queue, one entry per message (postqueue -j)."""
    return [json.loads(line) for line in host.check_output("postqueue -j").splitlines() if line]


def test_backup_mx_queues_while_the_backend_is_down_and_delivers_when_it_returns(
    targets: dict[str, Target], inventory: str
) -> None:
    mbox, mx2 = inventory_host("mbox", inventory), inventory_host("mx2", inventory)
    accounts = targets["mx2"].accounts
    assert _queue(mx2) == []
    mbox.check_output("systemctl stop dovecot")
    try:
        # Accepted (250) with the backend down: RCPT's quota check does not wait for it.
        msg = inbound(targets["mx2"], accounts.mailbox)
        deadline = time.monotonic() + 30
        while not (held := [q for q in _queue(mx2) if q["queue_name"] == "deferred"]):
            assert time.monotonic() < deadline, f"not deferred on the backup MX: {_queue(mx2)}"
            time.sleep(0.5)
        reasons = [r.get("delay_reason", "") for q in held for r in q["recipients"]]
        assert any("Connection refused" in r for r in reasons), reasons
    finally:
        mbox.check_output("systemctl start dovecot")
    # The backend is back: the next queue run (forced here, instead of waiting for it) hands
    # the message on, and it lands once.
    mx2.check_output("postqueue -f")
    assert_delivered(targets["mx2"], accounts.mailbox, accounts.password, msg)
    deadline = time.monotonic() + 30
    while _queue(mx2):
        assert time.monotonic() < deadline, _queue(mx2)
        time.sleep(0.5)


def test_rolling_update_under_load_loses_nothing(
    converged: PlaybookResult, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """mx2 drained (its open sessions reset after the grace period), converged, verified and
    put back while 15 msg/s go to the domain through both MX: the clients cut off go on to mx1,
    and every message that got a 250 is on the backend."""
    out = tmp_path_factory.mktemp("fleet") / "rolling.json"
    args = ["--scenario", "rolling", "--limit", "mx2", "--rate", "15", "--seconds", "40"]
    data = run_cli("fleet", "run", "--lab", FLEET_LAB, *args, "--fault-at", "8", "--out", str(out))
    result = data["results"][0]
    assert result["ok"], result
    assert result["event"]["ok"]
    assert result["event"]["hosts"] == ["mx2"]
    assert result["clients"]["accepted"] == 15 * 40
    assert result["server"]["missing"] == 0, result["server"]["missing_tokens"]
    # A copy twice only where a reset cut a session after its 250 (the client sent it again).
    assert result["server"]["duplicates"] <= sum(result["clients"]["failures"].values())
    via = result["clients"]["via"]
    assert set(via["before"]) == {"mx1", "mx2"}  # both MX carry the load
    # The load comes from the lab's outside address, which the drain turns away (verify, from
    # the gateway, still gets in): after the grace period (3 s in the lab's inventory) mx2
    # takes nothing until it is put back.
    assert via["during"].get("mx1", 0) > 2 * via["during"].get("mx2", 0)
    assert result["clients"]["failures"], "no client session was cut by the drain"
    assert result["throughput"]["baseline_per_s"] == 15.0
    page = out.with_suffix(".html").read_text()
    # The servers' side of the same minute, from the lab's Prometheus, under the clients' plot.
    assert result["server_series"]["missing"] == [], result["server_series"]
    assert set(result["server_series"]["quantities"][0]["hosts"]) >= {"mx1", "mx2"}
    assert 'alt="Server side: rolling"' in page


def test_rolling_update_stops_at_the_first_host_that_fails_verify(
    converged: PlaybookResult, inventory: str, lab_paths: Paths
) -> None:
    """A verify that fails (here: a command that does) stops the play at mx1, which stays
    drained for the admin; mx2, after it, is left alone."""
    mx1, mx2 = inventory_host("mx1", inventory), inventory_host("mx2", inventory)
    try:
        result = run_site(
            lab_paths.project,
            inventory,
            playbook_name="rolling.yml",
            limit="mx1:mx2",
            extra_vars=["rolling_verify_command=false"],
        )
        assert not result.success
        assert any("mx1" in t and "Drain" in t for t in result.changed_tasks), result.changed_tasks
        assert not any(t.startswith("mx2") for t in result.changed_tasks), result.changed_tasks
        assert mx1.run("nft list table inet mailstack_drain").rc == 0  # still drained
        assert mx2.run("nft list table inet mailstack_drain").rc != 0
    finally:
        mx1.run("nft delete table inet mailstack_drain")


def test_two_generators_run_together_and_merge_exactly(
    converged: PlaybookResult, inventory: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`bench run --generators 2` installs the generator on gen1 and gen2 with a playbook (a
    second install changes nothing), runs half the messages on each from one instant, and
    merges: counts are the parts' sums, percentiles those of the parts' histograms added up
    (checked here again from their own encoding), every accepted message on the backend."""
    out = tmp_path_factory.mktemp("gen") / "two.json"
    args = ["--host", "mx1", "--generators", "2", "-n", "600", "-c", "6", "--out", str(out)]
    data = run_cli("bench", "run", "--lab", FLEET_LAB, *args)
    gens = data["generators"]
    assert gens["hosts"] == ["gen1", "gen2"]
    assert gens["exact"] == {"counts": True, "histograms": True, "tokens": True}
    parts = gens["parts"]
    assert [p["attempted"] for p in parts] == [300, 300]
    assert all(p["late_start_s"] < 1.0 for p in parts), parts  # they started together
    outcomes = data["outcomes"]
    for bucket in ("accepted", "temp_failed", "rejected", "connection_error", "timeout"):
        assert outcomes[bucket] == sum(p["buckets"].get(bucket, 0) for p in parts), bucket
    assert outcomes["accepted"] == 600
    summed = histogram()
    for part in parts:
        summed.decode_and_add(part["histograms"]["message"].encode())
    assert summed.get_total_count() == 600
    assert data["latency_ms"]["message"] == summary(summed)
    assert data["delivery"]["missing"] == 0, data["delivery"]["missing_tokens"]
    assert data["delivery"]["delivered"] == 600
    # The servers' side of the same window, from the lab's Prometheus: the backend's deliveries
    # per second add up to about the 600 delivered (rates over a few scrapes smooth the edges).
    server = data["server"]
    assert server["missing"] == [], server
    deliveries = {q["key"]: q for q in server["quantities"]}["deliveries"]["hosts"]["mbox"]
    counted = sum(rate for t, rate in deliveries if t >= 0) * server["step_s"]
    assert 300 <= counted <= 900, (counted, deliveries)
    again = run_site(
        Path(__file__).parents[2], inventory, playbook_name="generators.yml", limit="gen1,gen2"
    )
    assert again.success, again.output[-2000:]
    assert again.changed == 0, again.changed_tasks
