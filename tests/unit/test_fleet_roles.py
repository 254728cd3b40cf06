"""A fleet, rendered offline from the roles' own templates, defaults and vars: each host gets
the Postfix of its tiers (inbound relays the hosted domains to the backend over LMTP, SASL
asks the backend over TCP, mail leaving goes through the outbound tier), and a host in no tier
group stays the single server it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.filter_plugins import load_filters
from tests.unit.test_postfix_bulk_templates import _main_cf, _render, _table

plugin = load_filters("mail_common")
PLAYBOOKS = Path(__file__).parents[2] / "playbooks"

#: The fleet lab's shape (harness/lab/fleet-topology.yml), with addresses.
GROUPS = {
    "all": ["mx1", "mx2", "mbox", "out"],
    "mail": ["mx1", "mx2", "mbox", "out"],
    "mx": ["mx1", "mx2"],
    "mailbox": ["mbox"],
    "submission": ["out"],
    "outbound": ["out"],
}
HOSTVARS: dict[str, dict[str, Any]] = {
    "mx1": {"mail_dns_ipv4": "10.9.0.11", "ansible_host": "127.0.0.1"},
    "mx2": {"mail_dns_ipv4": "10.9.0.12", "ansible_host": "127.0.0.1"},
    "mbox": {"mail_common_fleet_address": "10.8.0.13", "mail_dns_ipv4": "10.9.0.13"},
    "out": {"mail_dns_ipv4": "10.9.0.14", "ansible_host": "127.0.0.1"},
}


def _fleet_host(name: str) -> dict[str, Any]:
    groups = [g for g, hosts in GROUPS.items() if name in hosts and g != "all"]
    return {
        "inventory_hostname": name,
        "group_names": groups,
        "groups": GROUPS,
        "hostvars": HOSTVARS,
        "ansible_facts": {"fqdn": f"{name}.example.test"},
    }


def _master_services(text: str) -> set[str]:
    """master.cf's inet services (their first column)."""
    return {line.split()[0] for line in text.splitlines() if " inet " in f" {line} "}


def test_a_host_in_no_tier_group_plays_every_tier() -> None:
    assert plugin.mail_common_tiers(["mail", "peer"]) == ["mx", "mailbox", "submission", "outbound"]
    assert plugin.mail_common_tiers(["mail", "outbound", "mx"]) == ["mx", "outbound"]
    assert plugin.mail_common_fleet_hosts({"mail": ["a"], "peer": ["a"]}) == []


def test_fleet_addresses_prefer_the_fleet_address_then_the_public_one() -> None:
    assert plugin.mail_common_fleet_addresses(["mbox", "mx1"], HOSTVARS) == [
        "10.8.0.13",
        "10.9.0.11",
    ]
    assert plugin.mail_common_fleet_address("x", {"x": {}}) == "x"
    assert plugin.mail_common_cidr("2001:db8::1") == "[2001:db8::1]/128"
    assert plugin.mail_common_inet("2001:db8::1", 24) == "inet:[2001:db8::1]:24"


def test_single_server_keeps_local_sockets_and_every_listener() -> None:
    main = _main_cf(_render("main.cf.j2"))
    assert main["virtual_transport"] == "lmtp:unix:private/dovecot-lmtp"
    assert main["smtpd_sasl_path"] == "private/auth"
    assert "relay_domains" not in main
    assert main["relayhost"] == ""
    assert main["mynetworks"] == "127.0.0.0/8 [::1]/128"
    assert "inet:127.0.0.1:12340" in main["smtpd_recipient_restrictions"]
    assert _master_services(_render("master.cf.j2")) == {"smtp", "submission", "submissions"}


def test_mx_relays_hosted_domains_to_the_backend_over_lmtp() -> None:
    ctx = _fleet_host("mx1")
    main = _main_cf(_render("main.cf.j2", **ctx))
    assert main["relay_domains"] == "texthash:/etc/postfix/virtual_domains"
    assert main["relay_recipient_maps"] == "texthash:/etc/postfix/virtual_mailboxes"
    assert main["transport_maps"] == "texthash:/etc/postfix/transport"
    assert "virtual_mailbox_domains" not in main
    assert "virtual_transport" not in main
    # Known recipients only, and the quota asked of the backend at RCPT time.
    # While the backend is down, its quota-status does not answer: accept and queue, not 451.
    assert main["smtpd_recipient_restrictions"].endswith(
        "check_policy_service { inet:10.8.0.13:12340, default_action=DUNNO, try_limit=1 }"
    )
    rows = [line.split("\t") for line in _table("transport", **ctx).splitlines() if "\t" in line]
    assert rows == [["example.test", "lmtp:inet:10.8.0.13:24"]]
    # The fleet's hosts relay through each other; mail leaving goes via the outbound tier.
    assert main["mynetworks"].split()[2:] == [
        "10.8.0.13/32",
        "10.9.0.11/32",
        "10.9.0.12/32",
        "10.9.0.14/32",
    ]
    assert main["relayhost"] == "[10.9.0.14]:25"
    assert main["smtp_tls_policy_maps"] == "inline:{ [10.9.0.14]:25=encrypt }"
    assert _master_services(_render("master.cf.j2", **ctx)) == {"smtp"}


def test_submission_and_outbound_host_asks_the_backend_for_sasl() -> None:
    ctx = _fleet_host("out")
    main = _main_cf(_render("main.cf.j2", **ctx))
    assert main["smtpd_sasl_path"] == "inet:10.8.0.13:12345"
    assert main["relayhost"] == ""  # it is the outbound tier: straight to each domain's MX
    assert _master_services(_render("master.cf.j2", **ctx)) == {
        "smtp",
        "submission",
        "submissions",
    }


@pytest.mark.parametrize("host", ["mx1", "out"])
def test_an_explicit_relayhost_wins_over_the_outbound_tier(host: str) -> None:
    ctx = _fleet_host(host)
    main = _main_cf(_render("main.cf.j2", postfix_relayhost="[smtp.isp.test]:587", **ctx))
    assert main["relayhost"] == "[smtp.isp.test]:587"


def test_the_rolling_update_puts_a_host_back_only_after_it_passed_verify() -> None:
    """One host at a time, the first failure stops the play, and each host goes drain ->
    converge -> verify -> put back, in that order (a host that fails verify stays drained)."""
    plays = yaml.safe_load((PLAYBOOKS / "rolling.yml").read_text())
    assert plays[0]["ansible.builtin.import_playbook"] == "tiers.yml"
    play = plays[1]
    assert play["serial"] == 1
    assert play["max_fail_percentage"] == 0
    names = [t["name"] for t in play["tasks"]]

    def first(prefix: str) -> int:
        return next(i for i, n in enumerate(names) if n.startswith(prefix))

    order = [first("Drain"), first("Converge"), first("Verify"), first("Put the host back")]
    assert order == sorted(order), names
    verify = play["tasks"][first("Verify")]
    assert verify.get("ignore_errors") is not True
    assert verify["delegate_to"] == "localhost"


def test_after_the_backend_every_postfix_host_runs_its_queue_also_outside_the_limit() -> None:
    """Found measuring a rolling update of the backend alone (--limit mbox): the MX queued the
    mail the drained backend refused, and nothing told them to send it until their next queue
    run, minutes later. The hosts come from the inventory's groups, not from the limited
    play's."""
    play = yaml.safe_load((PLAYBOOKS / "rolling.yml").read_text())[1]
    task = next(t for t in play["tasks"] if t["name"].startswith("Backend back"))
    assert "groups['mail']" in task["loop"]
    assert "mailstack_postfix" not in task["loop"]
    hostvars = {h: {"group_names": [g for g, m in GROUPS.items() if h in m]} for h in GROUPS["all"]}
    postfix = plugin.mail_common_tier_hosts(
        GROUPS["mail"], hostvars, ["mx", "submission", "outbound"]
    )
    assert postfix == ["mx1", "mx2", "out"]
