"""The rspamd role's DKIM filters: mistakes named by entry, one generating host per domain,
and only published halves handed to the zones."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.filter_plugins import ROLES, load_filters


@pytest.fixture(scope="module")
def plugin() -> ModuleType:
    return load_filters("rspamd")


def _key(selector: str, state: str, algorithm: str = "rsa", domain: str = "a.test") -> dict:
    return {"domain": domain, "selector": selector, "state": state, "algorithm": algorithm}


def test_a_sound_rotation_has_no_errors(plugin: ModuleType) -> None:
    keys = [
        _key("s1", "expired"),
        _key("s2", "active"),
        _key("s3", "future"),
        _key("s0", "revoked"),
    ]
    assert plugin.rspamd_dkim_errors(keys, ["a.test"]) == []


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ([_key("s1", "active", domain="nowhere.test")], "rspamd_dkim_keys[0].domain"),
        ([_key("s1", "active"), _key("s1", "future")], "rspamd_dkim_keys[1].selector"),
        ([_key("s1", "active"), _key("s2", "active")], "rspamd_dkim_keys[1].state"),
        ([_key("e1", "active", "ed25519")], "ed25519 keys only"),
    ],
    ids=["unserved-domain", "selector-twice", "two-active", "ed25519-alone"],
)
def test_mistakes_are_named(plugin: ModuleType, keys: list[dict], named: str) -> None:
    errors = plugin.rspamd_dkim_errors(keys, ["a.test"])
    assert any(named in e for e in errors), errors


def test_one_host_generates_each_domains_keys(plugin: ModuleType) -> None:
    hostvars = {
        "mx2": {"mail_accounts_domains": [{"name": "a.test"}, {"name": "b.test"}]},
        "mx1": {"mail_accounts_domains": [{"name": "a.test"}]},
    }
    assert plugin.rspamd_dkim_key_host("a.test", ["mx2", "mx1"], hostvars) == "mx1"
    assert plugin.rspamd_dkim_key_host("b.test", ["mx2", "mx1"], hostvars) == "mx2"
    with pytest.raises(ValueError, match=r"c\.test"):
        plugin.rspamd_dkim_key_host("c.test", ["mx1"], hostvars)


def test_keys_to_generate_span_every_hosts_own_list(plugin: ModuleType) -> None:
    """Hosts serving different domains list different keys: each key is made once, on the
    first host serving its domain — not only the keys of the play's first host (a bug that
    left a second server without its domain's key)."""
    hostvars = {
        "mx1": {
            "mail_accounts_domains": [{"name": "a.test"}],
            "rspamd_dkim_keys": [_key("s1", "active"), _key("s0", "revoked")],
        },
        "mx2": {
            "mail_accounts_domains": [{"name": "a.test"}, {"name": "b.test"}],
            "rspamd_dkim_keys": [
                _key("s1", "active"),
                _key("p1", "future", domain="b.test"),
                {**_key("v1", "active", domain="b.test"), "private_key": "PEM"},
            ],
        },
    }
    assert plugin.rspamd_dkim_to_generate(["mx2", "mx1"], hostvars) == [
        {"domain": "a.test", "selector": "s1", "algorithm": "rsa", "host": "mx1"},
        {"domain": "b.test", "selector": "p1", "algorithm": "rsa", "host": "mx2"},
    ]


def test_only_keys_with_a_public_half_are_published(plugin: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "a.test").mkdir()
    (tmp_path / "a.test" / "s2.pub").write_text("MIIBIjAN\n")
    keys = [
        _key("s2", "active"),
        _key("s3", "future"),
        _key("s0", "revoked"),
        _key("x", "active", domain="b.test"),
    ]
    published = plugin.rspamd_dkim_published(keys, ["a.test"], str(tmp_path))
    assert published == [
        {**_key("s2", "active"), "public_key": "MIIBIjAN"},
        {**_key("s0", "revoked"), "public_key": ""},  # revoked: p= empty, no file needed
    ]  # s3 not generated yet; b.test not served here


def test_the_host_names_parent_domain_signs_its_own_mail(plugin: ModuleType) -> None:
    """Bounces come From MAILER-DAEMON@<host name>: signed with the hosted domain above it (a
    .test or other unlisted suffix defeats rspamd's own esld lookup, so the role says it)."""
    domains = ["example.test", "shop.example.test", "peer.test"]
    assert plugin.rspamd_dkim_parent(domains, "mx1.shop.example.test") == "shop.example.test"
    assert plugin.rspamd_dkim_parent(domains, "MX1.example.test.") == "example.test"
    assert plugin.rspamd_dkim_parent(domains, "example.test") == ""  # a hosted domain itself
    assert plugin.rspamd_dkim_parent(domains, "mx.other.test") == ""


def test_arc_seals_only_mail_addressed_to_forwards_off_the_server(plugin: ModuleType) -> None:
    domains = [
        {"name": "example.test"},
        {"name": "Lists.Example.test", "catch_all": "owner@elsewhere.test"},
        {"name": "catchall.example.test", "catch_all": "alice@example.test"},
    ]
    aliases = [
        {"address": "sales@example.test", "to": ["alice@example.test", "bob@example.test"]},
        {"address": "Forward@Example.test", "to": ["carol@peer.test"]},
        {"address": "both@example.test", "to": ["alice@example.test", "x@other.test"]},
        {"address": "list@example.test", "to": ["someone@lists.example.test"]},
    ]
    assert plugin.rspamd_arc_forwards(aliases, domains) == [
        "@lists.example.test",
        "both@example.test",
        "forward@example.test",
    ]
    assert plugin.rspamd_arc_forwards([], domains[:1]) == []
    assert plugin.rspamd_arc_forwards(None, None) == []


# --- The controller, opened to the monitoring server


def _controller(networks: list[str]) -> str:
    from tests.role_render import ansible_environment  # noqa: PLC0415 -- Ansible, only here

    env = ansible_environment(["rspamd"], ROLES / "rspamd" / "templates")
    template = env.get_template("worker-controller.inc.j2")
    return template.render(
        ansible_managed="Ansible managed", rspamd_controller_trusted_networks=networks
    )


def _settings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_the_controller_stays_debians_when_no_network_is_trusted() -> None:
    assert _settings(_controller([])) == []


def test_trusted_networks_open_the_controller_to_them_and_keep_loopback() -> None:
    assert _settings(_controller(["10.213.40.14", "192.0.2.5/24", "2001:db8::1"])) == [
        'bind_socket = "*:11334";',
        'secure_ip = "127.0.0.1";',
        'secure_ip = "::1";',
        'secure_ip = "10.213.40.14/32";',
        'secure_ip = "192.0.2.0/24";',
        'secure_ip = "2001:db8::1/128";',
    ]


def test_a_trusted_network_that_is_not_one_is_named(plugin: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"rspamd_controller_trusted_networks\[1\]: 'mon'"):
        plugin.rspamd_networks(["10.0.0.1", "mon"])
    with pytest.raises(ValueError, match="must be a list"):
        plugin.rspamd_networks("10.0.0.1")
