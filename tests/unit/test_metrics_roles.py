"""The metrics and prometheus roles and Dovecot's metrics endpoint, rendered offline from the
roles' own templates, defaults and vars: the exporters' flags, the firewall table (checked by
nft when it can run), Dovecot's stats listener and metrics in each version's syntax, and
prometheus.yml with one target per mail host per exporter (checked by promtool)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from harness.errors import MailstackError
from harness.lab.hostpkgs import ensure_host_packages
from tests.conftest import in_ci
from tests.filter_plugins import ROLES, load_filters
from tests.role_render import ansible_environment, role_files, role_variables

PLAYBOOKS = ROLES.parent / "playbooks"
_MANAGED = "Ansible managed"


def _inventory(hosts: dict[str, dict[str, Any]], groups: dict[str, list[str]]) -> dict[str, Any]:
    """``groups`` and ``hostvars`` as the play sees them (each host's group_names included)."""
    all_groups = {"all": sorted(hosts), "ungrouped": [], **groups}
    hostvars = {
        name: {
            **values,
            "inventory_hostname": name,
            "group_names": sorted(g for g, members in groups.items() if name in members),
        }
        for name, values in hosts.items()
    }
    return {"groups": all_groups, "hostvars": hostvars}


def _facts(host: str, inventory: dict[str, Any], version: int = 12) -> dict[str, Any]:
    """What the play knows about ``host`` that no role file sets."""
    return {
        "ansible_managed": _MANAGED,
        "ansible_check_mode": False,
        "ansible_facts": {
            "distribution": "Debian",
            "distribution_major_version": str(version),
            "fqdn": f"{host}.example.test",
        },
        "inventory_hostname": host,
        "group_names": inventory["hostvars"][host]["group_names"],
        "mail_accounts_domains": [{"name": "example.test"}],
        **inventory,
    }


_SINGLE = _inventory({"mx": {"ansible_host": "192.0.2.25"}}, {"mail": ["mx"]})


def _render(
    role: str,
    template: str,
    *,
    deps: tuple[str, ...] = ("mail_common",),
    host: str = "mx",
    inventory: dict[str, Any] = _SINGLE,
    version: int = 12,
    **overrides: Any,
) -> str:
    env = ansible_environment((*deps, role), ROLES / role / "templates")
    files = [ROLES / d / "defaults/main.yml" for d in deps] + role_files(role, version)
    ctx = role_variables(env, files, _facts(host, inventory, version), **overrides)
    assert env.loader is not None
    return env.get_template(template).render(ctx)


def _variables(role: str, *, host: str = "mx", inventory: dict[str, Any] = _SINGLE, **over: Any):
    env = ansible_environment(("mail_common", role))
    files = [ROLES / "mail_common/defaults/main.yml", *role_files(role)]
    return role_variables(env, files, _facts(host, inventory), **over)


def _defaults(role: str) -> dict[str, Any]:
    return yaml.safe_load((ROLES / role / "defaults/main.yml").read_text())


def _fails_in_ci(why: str) -> None:
    if in_ci():
        pytest.fail(f"{why} (CI=true: every check runs)")
    pytest.skip(f"{why} (with CI=true this fails)")


# --- The metrics role: off does nothing


def test_off_every_task_of_the_metrics_role_is_skipped() -> None:
    """Apart from loading its per-OS variables, every task and import is gated on
    metrics_enabled: a host without it is left alone."""
    tasks = yaml.safe_load((ROLES / "metrics/tasks/main.yml").read_text())
    assert tasks[0]["name"] == "Load per-OS variables"
    for task in tasks[1:]:
        assert "metrics_enabled" in str(task.get("when", "")), task["name"]


def test_the_play_runs_the_exporters_on_mail_and_prometheus_on_monitoring() -> None:
    plays = yaml.safe_load((PLAYBOOKS / "metrics.yml").read_text())
    assert [(p["hosts"], [r["role"] for r in p["roles"]]) for p in plays] == [
        ("mail", ["metrics"]),
        ("monitoring", ["prometheus"]),
    ]
    for play in plays:
        assert play["force_handlers"] is True
        assert [r["tags"] for r in play["roles"]] == [[f"role::{play['roles'][0]['role']}"]]


# --- The exporters' flags


def _args(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.startswith("ARGS=")]
    assert len(lines) == 1, text
    assert lines[0].startswith('ARGS="'), lines[0]
    assert lines[0].endswith('"'), lines[0]
    return lines[0][len('ARGS="') : -1].split()


def test_the_exporters_listen_on_every_address_by_default() -> None:
    node = _args(_render("metrics", "prometheus-node-exporter.j2"))
    postfix = _args(_render("metrics", "prometheus-postfix-exporter.j2"))
    assert node == ["--web.listen-address=:9100"]
    # The showq socket under mail_common's queue directory; the log rsyslog writes.
    assert postfix == [
        "--web.listen-address=:9154",
        "--postfix.showq_path=/var/spool/postfix/public/showq",
        "--postfix.logfile_path=/var/log/mail.log",
    ]


@pytest.mark.parametrize(
    ("address", "listen"), [("10.0.0.5", "10.0.0.5:9100"), ("2001:db8::5", "[2001:db8::5]:9100")]
)
def test_a_listen_address_is_written_as_the_exporters_read_it(address: str, listen: str) -> None:
    text = _render(
        "metrics",
        "prometheus-node-exporter.j2",
        metrics_listen_address=address,
        metrics_node_exporter_extra_args=["--collector.systemd"],
    )
    assert _args(text) == [f"--web.listen-address={listen}", "--collector.systemd"]


@pytest.mark.parametrize(
    ("groups", "runs_postfix"),
    [
        ({"mail": ["mx"]}, True),  # a server of its own plays every tier
        ({"mail": ["mx"], "mailbox": ["mx"]}, False),  # a mailbox-only backend has no Postfix
        ({"mail": ["mx"], "mailbox": ["mx"], "mx": ["mx"]}, True),
        ({"mail": ["mx"], "outbound": ["mx"]}, True),
    ],
)
def test_the_postfix_exporter_runs_where_postfix_runs(
    groups: dict[str, list[str]], runs_postfix: bool
) -> None:
    ctx = _variables("metrics", inventory=_inventory({"mx": {}}, groups))
    assert ctx["metrics_postfix_exporter_enabled"] is runs_postfix


# --- The firewall


@pytest.fixture(scope="module")
def plugin() -> ModuleType:
    return load_filters("metrics")


def test_the_settings_check_names_each_bad_variable(plugin: ModuleType) -> None:
    ports = {"metrics_node_exporter_port": 9100, "dovecot_metrics_port": 0}
    assert plugin.metrics_errors(["192.0.2.1", "10.0.0.0/8", "2001:db8::/64"], ports, [11334]) == [
        "dovecot_metrics_port: 0 is not a port (1 to 65535)"
    ]
    errors = plugin.metrics_errors(["monitor.example.test", "10.0.0.0/33"], {}, [70000])
    assert errors == [
        "metrics_firewall_extra_ports[0]: 70000 is not a port (1 to 65535)",
        "metrics_allowed_networks[0]: 'monitor.example.test' is not an address or a network "
        "(e.g. 192.0.2.10, 192.0.2.0/24, 2001:db8::/64)",
        "metrics_allowed_networks[1]: '10.0.0.0/33' is not an address or a network "
        "(e.g. 192.0.2.10, 192.0.2.0/24, 2001:db8::/64)",
    ]
    assert plugin.metrics_errors("10.0.0.1", {}, []) == [
        "metrics_allowed_networks must be a list, got '10.0.0.1'"
    ]


def test_the_networks_are_split_by_family(plugin: ModuleType) -> None:
    networks = ["192.0.2.10", "198.51.100.7/24", "2001:db8::/64", "192.0.2.10/32"]
    assert plugin.metrics_networks(networks, 4) == ["192.0.2.10/32", "198.51.100.0/24"]
    assert plugin.metrics_networks(networks, 6) == ["2001:db8::/64"]
    assert plugin.metrics_networks([], 4) == []


_NETWORKS = ["192.0.2.10", "198.51.100.0/24", "2001:db8::/64"]


def test_the_firewall_admits_loopback_and_the_allowed_networks_to_the_guarded_ports() -> None:
    text = _render(
        "metrics",
        "metrics-firewall.nft.j2",
        metrics_allowed_networks=_NETWORKS,
        metrics_firewall_extra_ports=[11334],
    )
    # The table is replaced whole on each load, and left to itself.
    assert text.count("table inet mailstack_metrics") == 3
    assert "delete table inet mailstack_metrics" in text
    assert "flush ruleset" not in text
    assert "elements = { 192.0.2.10/32, 198.51.100.0/24 }" in text
    assert "elements = { 2001:db8::/64 }" in text
    rules = [line.strip() for line in text.split("chain input {")[1].splitlines()]
    assert rules[1:6] == [
        "type filter hook input priority filter - 1; policy accept;",
        'iif "lo" accept',
        "ip saddr @allowed4 accept",
        "ip6 saddr @allowed6 accept",
        "tcp dport { 9100, 9154, 9900, 11334 } reject with tcp reset",
    ]


def test_with_no_allowed_network_only_loopback_gets_in() -> None:
    text = _render("metrics", "metrics-firewall.nft.j2", dovecot_metrics_port=9901)
    assert "set allowed" not in text
    assert "saddr" not in text
    assert "tcp dport { 9100, 9154, 9901 } reject with tcp reset" in text


def _nft() -> str:
    """nft, which checks a ruleset only as root; in CI installed when missing (Debian's
    nftables package enables no service)."""
    if os.geteuid() != 0:
        _fails_in_ci("nft checks a ruleset only as root")
    search = "/usr/sbin:/sbin:/usr/bin"
    if shutil.which("nft", path=search) is None and in_ci():
        try:
            ensure_host_packages({"nft": "nftables"}, "the metrics firewall test")
        except MailstackError as error:
            pytest.fail(f"CI=true: {error}")
    found = shutil.which("nft", path=search)
    if found is None:
        _fails_in_ci("nft is not installed (apt-get install nftables)")
    assert found is not None
    return found


@pytest.mark.parametrize("networks", [[], _NETWORKS])
def test_nft_accepts_the_firewall(networks: list[str], tmp_path: Path) -> None:
    nft = _nft()
    rules = tmp_path / "metrics-firewall.nft"
    rules.write_text(
        _render("metrics", "metrics-firewall.nft.j2", metrics_allowed_networks=networks)
    )
    done = subprocess.run(
        [nft, "-c", "-f", str(rules)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


# --- Dovecot's metrics endpoint


def _dovecot(version: int, **overrides: Any) -> str:
    return _render(
        "dovecot",
        f"dovecot-2.{version - 9}.conf.j2",
        deps=("mail_accounts", "mail_common", "tls"),
        version=version,
        **overrides,
    )


def _blocks(text: str) -> list[tuple[str, dict[str, str], list[Any]]]:
    """dovecot.conf as nested blocks: (header, settings, sub-blocks); unbalanced braces fail."""
    root: list[Any] = []
    stack: list[tuple[str, dict[str, str], list[Any]]] = [("", {}, root)]
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.strip().startswith("#") else ""
        if not line:
            continue
        if line.endswith("{"):
            block: tuple[str, dict[str, str], list[Any]] = (line[:-1].strip(), {}, [])
            stack[-1][2].append(block)
            stack.append(block)
        elif line == "}":
            assert len(stack) > 1, f"a }} too many: {raw!r}"
            stack.pop()
        else:
            key, sep, value = (part.strip() for part in line.partition("="))
            assert sep, f"not key = value: {raw!r}"
            stack[-1][1][key] = value
    assert len(stack) == 1, f"unclosed: {stack[-1][0]!r}"
    return root


def _named(blocks: list[Any], prefix: str) -> dict[str, tuple[dict[str, str], list[Any]]]:
    return {h: (s, b) for h, s, b in blocks if h.startswith(prefix)}


_METRICS = {"auth_successes", "auth_failures", "imap_commands", "lmtp_commands", "mail_deliveries"}


@pytest.mark.parametrize("version", [12, 13])
def test_off_dovecot_conf_has_no_stats_listener_or_metrics(version: int) -> None:
    text = _dovecot(version)
    assert "service stats" not in text
    assert not re.search(r"^metric ", text, re.MULTILINE)
    assert "metrics" not in text.lower()


@pytest.mark.parametrize("version", [12, 13])
def test_off_dovecot_conf_is_what_it_was_without_the_metrics_line(
    version: int, tmp_path: Path
) -> None:
    """Byte for byte: the include line and its comment add nothing when off."""
    name = f"dovecot-2.{version - 9}.conf.j2"
    template = (ROLES / "dovecot/templates" / name).read_text()
    lines = template.splitlines(keepends=True)
    assert lines[-1].startswith("{% if dovecot_metrics_enabled %}{% include 'metrics-2.")
    assert lines[-2].startswith("{# ")
    (tmp_path / name).write_text("".join(lines[:-2]))
    env = ansible_environment(("mail_accounts", "mail_common", "tls", "dovecot"), tmp_path)
    files = [ROLES / d / "defaults/main.yml" for d in ("mail_accounts", "mail_common", "tls")]
    ctx = role_variables(
        env, files + role_files("dovecot", version), _facts("mx", _SINGLE, version)
    )
    assert env.get_template(name).render(ctx) == _dovecot(version)


def _served(version: int, **overrides: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """dovecot.conf with the metrics on: the settings of the stats service's http listener,
    and each metric's (settings, sub-blocks) by name; every metric filters named events."""
    blocks = _blocks(_dovecot(version, dovecot_metrics_enabled=True, **overrides))
    ((listener, settings, sub),) = _named(blocks, "service stats")["service stats"][1]
    assert (listener, sub) == ("inet_listener http", [])
    metrics = {h.split()[1]: body for h, body in _named(blocks, "metric ").items()}
    assert set(metrics) == _METRICS
    for name, (metric, _) in metrics.items():
        assert metric["filter"].startswith("event="), name
    return settings, metrics


def test_dovecot_2_3_serves_the_metrics_with_its_syntax() -> None:
    listener, metrics = _served(12)
    assert listener == {"address": "*", "port": "9900"}
    # group_by is one setting in 2.3, not a block
    assert all(sub == [] for _, sub in metrics.values())
    assert metrics["imap_commands"][0]["group_by"] == "cmd_name tagged_reply_state"
    assert metrics["lmtp_commands"][0] == {
        "filter": "event=smtp_server_command_finished AND protocol=lmtp",
        "group_by": "cmd_name status_code duration:exponential:2:7:10",
    }
    assert metrics["mail_deliveries"][0]["group_by"] == "duration:exponential:2:7:10"


def test_dovecot_2_4_serves_the_metrics_with_its_syntax() -> None:
    listener, metrics = _served(13, dovecot_metrics_port=9901)
    assert listener == {"listen": "*", "port": "9901"}
    # one named group_by block per field in 2.4
    assert not any("group_by" in settings for settings, _ in metrics.values())
    exponential = (
        "method exponential",
        {"min_magnitude": "2", "max_magnitude": "7", "base": "10"},
        [],
    )
    assert metrics["imap_commands"][1] == [
        ("group_by cmd_name", {}, []),
        ("group_by tagged_reply_state", {}, []),
    ]
    assert metrics["lmtp_commands"][1] == [
        ("group_by cmd_name", {}, []),
        ("group_by status_code", {}, []),
        ("group_by duration", {}, [exponential]),
    ]
    assert metrics["mail_deliveries"][1] == [("group_by duration", {}, [exponential])]


def test_both_dovecot_versions_filter_the_same_events() -> None:
    def filters(version: int) -> dict[str, str]:
        return {name: settings["filter"] for name, (settings, _) in _served(version)[1].items()}

    assert filters(12) == filters(13)


# --- Prometheus


_FLEET = _inventory(
    {
        # a fleet address wins over the public one
        "mx1": {
            "mail_common_fleet_address": "10.0.0.1",
            "mail_dns_ipv4": "192.0.2.1",
            "metrics_enabled": True,
            "rspamd_controller_trusted_networks": ["192.0.2.9"],
        },
        # the public address; its own node port; Dovecot's endpoint on (but no mailbox tier)
        "mx2": {
            "mail_dns_ipv4": "192.0.2.2",
            "metrics_enabled": "true",
            "metrics_node_exporter_port": 9101,
            "dovecot_metrics_enabled": True,
        },
        # the backend: ansible_host, IPv6; no Postfix here
        "store": {
            "ansible_host": "2001:db8::3",
            "metrics_enabled": True,
            "dovecot_metrics_enabled": True,
            "rspamd_controller_trusted_networks": ["192.0.2.9"],  # but no rspamd here
        },
        # exporters off: in no exporter's job; rspamd's controller is not an exporter of them
        "spare": {
            "ansible_host": "192.0.2.4",
            "metrics_enabled": False,
            "rspamd_controller_trusted_networks": ["192.0.2.0/24"],
        },
        "prom": {"ansible_host": "192.0.2.9"},
    },
    {
        "mail": ["mx1", "mx2", "spare", "store"],
        "mx": ["mx1", "mx2", "spare"],
        "mailbox": ["store"],
        "monitoring": ["prom"],
    },
)


def _prometheus_yml(inventory: dict[str, Any] = _FLEET, **overrides: Any) -> str:
    return _render("prometheus", "prometheus.yml.j2", host="prom", inventory=inventory, **overrides)


def _jobs(text: str) -> dict[str, list[tuple[str, str]]]:
    """Each job's (target, host label) pairs."""
    config = yaml.safe_load(text)
    return {
        job["job_name"]: [
            (target, group.get("labels", {}).get("host", ""))
            for group in job["static_configs"]
            for target in group["targets"]
        ]
        for job in config["scrape_configs"]
    }


def test_prometheus_scrapes_each_host_per_exporter_it_runs() -> None:
    assert _jobs(_prometheus_yml()) == {
        "prometheus": [("127.0.0.1:9090", "")],
        "node": [
            ("10.0.0.1:9100", "mx1"),
            ("192.0.2.2:9101", "mx2"),
            ("[2001:db8::3]:9100", "store"),
        ],
        "postfix": [("10.0.0.1:9154", "mx1"), ("192.0.2.2:9154", "mx2")],
        "dovecot": [("[2001:db8::3]:9900", "store")],
        "rspamd": [("10.0.0.1:11334", "mx1"), ("192.0.2.4:11334", "spare")],
    }


def test_a_single_server_is_in_every_job_once() -> None:
    inventory = _inventory(
        {
            "mx": {
                "ansible_host": "192.0.2.25",
                "metrics_enabled": True,
                "dovecot_metrics_enabled": True,
                "rspamd_controller_trusted_networks": ["192.0.2.9"],
            },
            "prom": {},
        },
        {"mail": ["mx"], "monitoring": ["prom"]},
    )
    jobs = _jobs(_prometheus_yml(inventory))
    assert {job: targets for job, targets in jobs.items() if job != "prometheus"} == {
        job: [(f"192.0.2.25:{port}", "mx")]
        for job, port in (("node", 9100), ("postfix", 9154), ("dovecot", 9900), ("rspamd", 11334))
    }


def test_rspamd_is_scraped_where_its_controller_trusts_others_and_postfix_runs() -> None:
    # mx2 leaves the controller on localhost; store trusts the server but runs no rspamd
    assert _jobs(_prometheus_yml())["rspamd"] == [
        ("10.0.0.1:11334", "mx1"),
        ("192.0.2.4:11334", "spare"),
    ]
    assert "rspamd" not in _jobs(_prometheus_yml(prometheus_scrape_rspamd=False))


def test_a_job_with_no_host_stays_a_valid_job() -> None:
    inventory = _inventory({"mx": {}, "prom": {}}, {"mail": ["mx"], "monitoring": ["prom"]})
    config = yaml.safe_load(_prometheus_yml(inventory))
    assert [j["static_configs"] for j in config["scrape_configs"][1:]] == [[], [], [], []]


def test_the_interval_and_the_flags_come_from_the_variables() -> None:
    config = yaml.safe_load(_prometheus_yml(prometheus_scrape_interval="2s"))
    assert config["global"] == {"scrape_interval": "2s", "evaluation_interval": "2s"}
    flags = _args(
        _render(
            "prometheus",
            "prometheus.default.j2",
            host="prom",
            inventory=_FLEET,
            prometheus_listen_address="::1",
            prometheus_retention_time="30d",
        )
    )
    assert flags == ["--web.listen-address=[::1]:9090", "--storage.tsdb.retention.time=30d"]
    assert _args(_render("prometheus", "prometheus.default.j2", host="prom", inventory=_FLEET)) == [
        "--web.listen-address=:9090",
        "--storage.tsdb.retention.time=15d",
    ]


@pytest.fixture(scope="module")
def promtool(tmp_path_factory: pytest.TempPathFactory) -> str:
    """promtool from the host, or in CI from Debian's package, unpacked but not installed
    (installing prometheus would start a server on the CI machine)."""
    found = shutil.which("promtool")
    if found:
        return found
    if not in_ci():
        pytest.skip(
            "promtool is not installed (Debian 12: apt-get install prometheus; 13: promtool); "
            "with CI=true it is fetched from Debian's archive"
        )
    where = tmp_path_factory.mktemp("promtool")
    for attempt in (["apt-get", "download", "promtool"], ["apt-get", "download", "prometheus"]):
        if subprocess.run(attempt, cwd=where, capture_output=True, check=False).returncode == 0:
            break
    else:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
        subprocess.run(
            ["apt-get", "download", "prometheus"], cwd=where, capture_output=True, check=False
        )
    for deb in where.glob("*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(where / "root")], check=True)
    tool = where / "root/usr/bin/promtool"
    if not tool.is_file():
        pytest.fail("CI=true: promtool is neither installed nor fetchable with apt-get download")
    return str(tool)


@pytest.mark.parametrize(
    "overrides", [{}, {"prometheus_scrape_interval": "1s", "prometheus_scrape_rspamd": True}]
)
def test_promtool_accepts_prometheus_yml(
    promtool: str, overrides: dict[str, Any], tmp_path: Path
) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(_prometheus_yml(**overrides))
    done = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- One value, one source


def test_prometheus_default_ports_are_the_exporters_defaults() -> None:
    """Where a host's inventory sets no port, Prometheus uses its own defaults: they must be
    the ports the metrics and dovecot roles default to."""
    prometheus, metrics, dovecot = (
        _defaults("prometheus"),
        _defaults("metrics"),
        _defaults("dovecot"),
    )
    assert prometheus["prometheus_node_exporter_port"] == metrics["metrics_node_exporter_port"]
    assert (
        prometheus["prometheus_postfix_exporter_port"] == metrics["metrics_postfix_exporter_port"]
    )
    assert prometheus["prometheus_dovecot_port"] == dovecot["dovecot_metrics_port"]


def test_other_roles_variables_fall_back_to_their_roles_defaults() -> None:
    """A role that reads another role's variable with | default(x) (it runs in another play)
    falls back to exactly that role's default."""
    for role in ("metrics", "prometheus"):
        for path in (ROLES / role).rglob("*.yml"):
            for name, fallback in re.findall(r"(\w+) \| default\((\d+)\)", path.read_text()):
                owner = name.split("_", 1)[0]
                if owner == role:
                    continue
                assert _defaults(owner)[name] == int(fallback), (path, name)
