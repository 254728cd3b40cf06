"""The postfix role's bulk delivery profile, rendered offline from the role's own templates,
defaults and vars: off, main.cf and master.cf carry none of it; on, the bulk transport, its
settings and the sender table are there and hang together the way Postfix reads them. The
profile's checks name each bad variable."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import pytest
import yaml

from tests.filter_plugins import load_filters
from tests.role_render import ansible_environment, role_files, role_variables

ROLES = Path(__file__).parents[2] / "roles"
ROLE = ROLES / "postfix"

#: What the play knows that no role file sets.
_FACTS: dict[str, Any] = {
    "ansible_managed": "Ansible managed",
    "ansible_facts": {"fqdn": "mx.example.test"},
    "inventory_hostname": "mx",
    "mail_accounts_domains": [{"name": "example.test"}],
    # A server of its own: in group "mail" only, so it plays every tier.
    "group_names": ["mail"],
    "groups": {"all": ["mx"], "mail": ["mx"], "ungrouped": []},
    "hostvars": {"mx": {"ansible_host": "192.0.2.25"}},
}

#: qmgr's per-transport parameter suffixes (postconf(5), "transport_..." parameters).
_QMGR_SUFFIXES = {
    "destination_concurrency_limit",
    "initial_destination_concurrency",
    "destination_concurrency_positive_feedback",
    "destination_concurrency_negative_feedback",
    "destination_concurrency_failed_cohort_limit",
    "destination_rate_delay",
    "destination_recipient_limit",
}
_TIME_VALUE = re.compile(r"^\d+[smhdw]?$")


@pytest.fixture(scope="module")
def plugin() -> ModuleType:
    return load_filters("postfix")


def _environment() -> jinja2.Environment:
    """Jinja as Ansible's template module sets it up, with the filters the role's templates
    and vars use."""
    return ansible_environment(("mail_accounts", "mail_common", "postfix"))


def _variables(env: jinja2.Environment, **overrides: Any) -> dict[str, Any]:
    """The role's defaults and vars (Debian 12), its dependencies' defaults and ``overrides``,
    templated until nothing more resolves (what needs a registered result stays out); what
    the play knows, as given (a fleet host's groups and name), over the defaults' host."""
    deps = [ROLES / d / "defaults/main.yml" for d in ("mail_accounts", "mail_common", "tls")]
    return role_variables(env, [*deps, *role_files("postfix")], _FACTS, **overrides)


def _render(name: str, templates: Path = ROLE / "templates", **overrides: Any) -> str:
    env = _environment()
    ctx = _variables(env, **overrides)
    return env.from_string((templates / name).read_text()).render(ctx)


def _table(name: str, **overrides: Any) -> str:
    env = _environment()
    ctx = _variables(env, **overrides)
    item = {"key": name, "value": ctx["__postfix_tables"][name]}
    return env.from_string((ROLE / "templates/table.j2").read_text()).render(ctx, item=item)


def _main_cf_lines(text: str) -> list[tuple[str, str]]:
    """main.cf as Postfix reads it, in order: name = value, continued on indented lines."""
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():
            assert pairs, line
            pairs[-1] = (pairs[-1][0], f"{pairs[-1][1]} {line.strip()}")
            continue
        name, sep, value = (part.strip() for part in line.partition("="))
        assert sep, f"not name = value: {line!r}"
        assert re.fullmatch(r"[A-Za-z0-9_]+", name), f"not a parameter name: {line!r}"
        pairs.append((name, value))
    return pairs


def _main_cf(text: str) -> dict[str, str]:
    """main.cf's parameters; a name given twice fails here (Postfix takes the last silently)."""
    pairs = _main_cf_lines(text)
    names = [name for name, _ in pairs]
    assert len(set(names)) == len(names), (
        f"set twice: {sorted(n for n in set(names) if names.count(n) > 1)}"
    )
    return dict(pairs)


def _master_cf(text: str) -> dict[str, dict[str, Any]]:
    """master.cf services by (name, type): the eight fields and their -o settings."""
    services: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():
            assert current is not None, line
            option, value = line.split(None, 1)
            assert option == "-o", line
            key, sep, setting = value.partition("=")
            assert sep, f"-o needs name=value: {line!r}"
            assert not re.search(r"\s", setting), f"a space in an -o value: {line!r}"
            current["options"][key] = setting
            continue
        fields = line.split()
        assert len(fields) >= 8, f"not a service line: {line!r}"
        current = {"fields": fields[:8], "args": fields[8:], "options": {}}
        key = f"{fields[0]}/{fields[1]}"
        assert key not in services, f"{key} defined twice"
        services[key] = current
    return services


def _strip_bulk_blocks(template: str) -> str:
    """The template as it would be without the profile: each `if postfix_bulk_enabled` block
    cut out, from its tag to its own endif's line end (nested ifs included). Both tags must
    stand alone on their lines: then trim_blocks eats their newlines, and an off block emits
    not a byte (a space after a tag, or a tag mid-line, would)."""
    opening = "{% if postfix_bulk_enabled %}\n"
    while (start := template.find(opening)) >= 0:
        assert start == 0 or template[start - 1] == "\n", "the if tag is not at a line start"
        depth, end = 0, 0
        for tag in re.finditer(r"\{%\s*(if|endif)\b.*?%\}(\n?)", template[start:]):
            depth += 1 if tag.group(1) == "if" else -1
            if depth == 0:
                assert tag.group(2) == "\n", "the endif tag does not end its line"
                end = start + tag.end()
                break
        assert end, "unbalanced if/endif"
        template = template[:start] + template[end:]
    return template


# --- Off: nothing of the profile in the rendered files


@pytest.mark.parametrize("name", ["main.cf.j2", "master.cf.j2"])
def test_off_renders_no_bulk_lines(name: str) -> None:
    text = _render(name)
    assert "bulk" not in text.lower()
    for global_timer in ("queue_run_delay", "backoff_time", "queue_lifetime", "ttl_limit"):
        assert global_timer not in text


@pytest.mark.parametrize("name", ["main.cf.j2", "master.cf.j2"])
def test_off_renders_what_the_templates_render_without_the_profile(
    name: str, tmp_path: Path
) -> None:
    """Byte for byte: the profile's blocks add no stray blank line or space when off (checked
    here against the template without them; against the templates before the profile, the
    same holds for 128 combinations of the role's switches)."""
    template = (ROLE / "templates" / name).read_text()
    stripped = _strip_bulk_blocks(template)
    assert "postfix_bulk" not in stripped, "a bulk block was not cut out"
    (tmp_path / name).write_text(stripped)
    for extra in ({}, {"postfix_extra_main_cf": {"smtp_helo_timeout": "60s"}}):
        assert _render(name, **extra) == _render(name, tmp_path, **extra)


def test_off_keeps_the_existing_tables_and_their_header() -> None:
    env = _environment()
    tables = _variables(env)["__postfix_tables"]
    assert sorted(tables) == [
        "sender_logins",
        "virtual_aliases",
        "virtual_domains",
        "virtual_mailboxes",
    ]
    assert "# Generated from mail_accounts; edit the inventory" in _table("virtual_domains")


# --- On: the transport, its settings, the sender table

_ON = {
    "postfix_bulk_enabled": True,
    "postfix_bulk_senders": [
        "Bounces@News.Example.test",
        "@promo.example.test",
        "bounces@news.example.test",
    ],
}


def test_on_master_cf_has_the_bulk_smtp_transport_after_the_stock_ones() -> None:
    services = _master_cf(_render("master.cf.j2", **_ON))
    bulk = services["bulk/unix"]
    # private, unpriv, chroot like the stock smtp client; maxproc from the variable.
    assert bulk["fields"] == ["bulk", "unix", "-", "-", "y", "-", "20", "smtp"]
    assert bulk["options"] == {
        "syslog_name": "postfix/bulk",
        "smtp_connection_cache_on_demand": "yes",
        "smtp_connection_cache_time_limit": "2s",
        "smtp_connection_reuse_time_limit": "300s",
        "smtp_connection_reuse_count_limit": "0",
    }
    assert services["smtp/unix"]["options"] == {}  # the stock client is untouched
    assert list(services).index("bulk/unix") > list(services).index("relay/unix")


def test_on_main_cf_routes_the_senders_and_limits_the_transport() -> None:
    params = _main_cf(_render("main.cf.j2", **_ON))
    assert params["sender_dependent_default_transport_maps"] == (
        "texthash:/etc/postfix/bulk_senders"
    )
    assert {k: v for k, v in params.items() if k.startswith("bulk_")} == {
        "bulk_destination_concurrency_limit": "5",
        "bulk_initial_destination_concurrency": "2",
        "bulk_destination_concurrency_positive_feedback": "1/4",
        "bulk_destination_concurrency_negative_feedback": "1/4",
        "bulk_destination_concurrency_failed_cohort_limit": "10",
        "bulk_destination_rate_delay": "0s",
        "bulk_destination_recipient_limit": "50",
    }
    assert {
        k: params[k]
        for k in (
            "queue_run_delay",
            "minimal_backoff_time",
            "maximal_backoff_time",
            "maximal_queue_lifetime",
            "bounce_queue_lifetime",
        )
    } == {
        "queue_run_delay": "300s",
        "minimal_backoff_time": "300s",
        "maximal_backoff_time": "4000s",
        "maximal_queue_lifetime": "5d",
        "bounce_queue_lifetime": "5d",
    }
    # smtp's own limits and scache's cap stay Postfix's defaults.
    assert not any(k.startswith(("smtp_destination", "default_destination")) for k in params)
    assert "connection_cache_ttl_limit" not in params


def test_on_everything_postfix_reads_fits_together() -> None:
    """What postconf would say, offline: each bulk_* parameter belongs to a master.cf service
    of that name, the table the map names is the file the role writes, every time value is
    one Postfix parses, and site additions still come last (so they win)."""
    overrides = {**_ON, "postfix_extra_main_cf": {"bulk_destination_concurrency_limit": 3}}
    pairs = _main_cf_lines(_render("main.cf.j2", **overrides))
    limits = [value for name, value in pairs if name == "bulk_destination_concurrency_limit"]
    assert limits == ["5", "3"]  # the site's value last: Postfix takes it
    services = _master_cf(_render("master.cf.j2", **_ON))
    params = _main_cf(_render("main.cf.j2", **_ON))
    for name in (k for k in params if k.startswith("bulk_")):
        assert name.removeprefix("bulk_") in _QMGR_SUFFIXES, name
    assert services["bulk/unix"]["fields"][7] == "smtp"
    env = _environment()
    ctx = _variables(env, **_ON)
    assert params["sender_dependent_default_transport_maps"] == (
        f"texthash:/etc/postfix/{ctx['__postfix_bulk_table']}"
    )
    assert ctx["__postfix_bulk_table"] in ctx["__postfix_tables"]
    for name in (
        "bulk_destination_rate_delay",
        "queue_run_delay",
        "minimal_backoff_time",
        "maximal_backoff_time",
        "maximal_queue_lifetime",
        "bounce_queue_lifetime",
    ):
        assert _TIME_VALUE.match(params[name]), name
    for name, value in services["bulk/unix"]["options"].items():
        if name.endswith("_time_limit"):
            assert _TIME_VALUE.match(value), name


def test_on_sender_table_maps_each_sender_once_to_the_transport() -> None:
    table = _table("bulk_senders", **_ON)
    lines = table.splitlines()
    assert "# Generated from postfix_bulk_senders; edit the inventory" in table
    rows = [line.split("\t") for line in lines if line and not line.startswith("#")]
    # Lower case, once each, in the inventory's order; a bare transport name, as
    # default_transport takes it (the sender map does not take a null next hop).
    assert rows == [["bounces@news.example.test", "bulk"], ["@promo.example.test", "bulk"]]
    services = _master_cf(_render("master.cf.j2", **_ON))
    assert {f"{value}/unix" for _, value in rows} <= set(services)


def test_a_longer_session_cache_raises_the_scache_cap_with_it() -> None:
    params = _main_cf(_render("main.cf.j2", **_ON, postfix_bulk_connection_cache_time_limit="1m"))
    assert params["connection_cache_ttl_limit"] == "1m"


def test_every_profile_variable_is_checked(plugin: ModuleType) -> None:
    """The check sees every postfix_bulk_* variable but the switch (vars/main.yml lists them)."""
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    settings = yaml.safe_load((ROLE / "vars/main.yml").read_text())["__postfix_bulk_settings"]
    assert set(settings) == {n for n in defaults if n.startswith("postfix_bulk_")} - {
        "postfix_bulk_enabled"
    }
    profile = {n: v for n, v in defaults.items() if n in settings}
    assert plugin.postfix_bulk_errors(profile) == [
        "postfix_bulk_senders is empty, so the "
        "profile would route no mail: list the campaign's envelope senders, e.g. "
        "[bounces@news.example.test, @news.example.test]"
    ]
    assert plugin.postfix_bulk_errors({**profile, "postfix_bulk_senders": ["@a.test"]}) == []


# --- The checks: each mistake named, with its mend


def _defaults() -> dict[str, Any]:
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    profile = {n: v for n, v in defaults.items() if n.startswith("postfix_bulk_")}
    return {**profile, "postfix_bulk_senders": ["bounces@news.example.test"]}


@pytest.mark.parametrize(
    ("changes", "named", "mend"),
    [
        ({"postfix_bulk_senders": ["example.test"]}, "postfix_bulk_senders[0]", "@example.test"),
        ({"postfix_bulk_senders": ["a@b@c"]}, "postfix_bulk_senders[0]", "@domain"),
        ({"postfix_bulk_destination_rate_delay": "1 s"}, "rate_delay", "e.g. 300s"),
        ({"postfix_bulk_destination_rate_delay": "1s"}, "concurrency_limit", "limit to 1"),
        (
            {
                "postfix_bulk_destination_rate_delay": "1s",
                "postfix_bulk_destination_concurrency_limit": 1,
                "postfix_bulk_initial_destination_concurrency": 1,
                "postfix_bulk_destination_concurrency_failed_cohort_limit": 1,
            },
            "failed_cohort_limit is 1",
            "set it to 10",
        ),
        ({"postfix_bulk_maximal_queue_lifetime": 3600}, "maximal_queue_lifetime", "3600s"),
        ({"postfix_bulk_bounce_queue_lifetime": "101d"}, "bounce_queue_lifetime", "lower it"),
        (
            {"postfix_bulk_bounce_queue_lifetime": "6d"},
            "bounce_queue_lifetime (518400s)",
            "raise postfix_bulk_maximal_queue_lifetime",
        ),
        (
            {"postfix_bulk_queue_run_delay": "10m"},
            "postfix_bulk_queue_run_delay (600s)",
            "at most postfix_bulk_minimal_backoff_time",
        ),
        ({"postfix_bulk_minimal_backoff_time": "0s"}, "minimal_backoff_time", "at least 1s"),
        ({"postfix_bulk_destination_recipient_limit": 1}, "recipient_limit", "per recipient"),
        ({"postfix_bulk_destination_concurrency_limit": 0}, "concurrency_limit: 0", "no limit"),
        (
            {"postfix_bulk_initial_destination_concurrency": 8},
            "initial_destination_concurrency",
            "at most that",
        ),
        (
            {"postfix_bulk_destination_concurrency_positive_feedback": "2"},
            "positive_feedback",
            "1/4",
        ),
        (
            {"postfix_bulk_destination_concurrency_negative_feedback": "1/x"},
            "negative_feedback",
            "N/concurrency",
        ),
        ({"postfix_bulk_process_limit": True}, "process_limit", "whole number"),
    ],
    ids=[
        "bare-domain",
        "two-ats",
        "bad-time",
        "delay-with-concurrency",
        "delay-few-cohorts",
        "lifetime-without-unit",
        "lifetime-over-100d",
        "bounce-outlives-queue",
        "scan-after-backoff",
        "zero-backoff",
        "one-recipient",
        "unlimited-concurrency",
        "initial-above-limit",
        "feedback-above-1",
        "feedback-garbled",
        "bool-as-int",
    ],
)
def test_mistakes_are_named_with_their_mend(
    plugin: ModuleType, changes: dict[str, Any], named: str, mend: str
) -> None:
    errors = plugin.postfix_bulk_errors({**_defaults(), **changes})
    assert any(named in e and mend in e for e in errors), errors


@pytest.mark.parametrize(
    "changes",
    [
        {
            "postfix_bulk_destination_rate_delay": "2s",
            "postfix_bulk_destination_concurrency_limit": 1,
            "postfix_bulk_initial_destination_concurrency": 1,
        },
        {
            "postfix_bulk_destination_concurrency_positive_feedback": "1/concurrency",
            "postfix_bulk_destination_concurrency_negative_feedback": 0.5,
        },
        {
            "postfix_bulk_queue_run_delay": 60,
            "postfix_bulk_minimal_backoff_time": "1m",
            "postfix_bulk_maximal_backoff_time": "2h",
            "postfix_bulk_maximal_queue_lifetime": "2d",
            "postfix_bulk_bounce_queue_lifetime": "0d",
        },
        {
            "postfix_bulk_destination_concurrency_limit": "3",
            "postfix_bulk_connection_reuse_count_limit": "100",
        },
    ],
    ids=["paced-one-at-a-time", "other-feedback-forms", "ints-and-units", "numbers-as-text"],
)
def test_sound_settings_pass(plugin: ModuleType, changes: dict[str, Any]) -> None:
    assert plugin.postfix_bulk_errors({**_defaults(), **changes}) == []


@pytest.mark.parametrize(
    ("value", "bare_unit", "seconds"),
    [
        ("0s", "s", 0),
        (90, "s", 90),
        ("5m", "s", 300),
        ("2h", "s", 7200),
        ("5d", "s", 432000),
        ("1w", "s", 604800),
        ("5", "d", 432000),
    ],
)
def test_postfix_time_values_in_seconds(
    plugin: ModuleType, value: object, bare_unit: str, seconds: int
) -> None:
    assert plugin.postfix_seconds(value, bare_unit) == seconds


@pytest.mark.parametrize("value", ["1.5s", "-1s", "5 m", "5ms", "", None, True])
def test_what_postfix_would_not_parse_as_time_is_refused(plugin: ModuleType, value: object) -> None:
    with pytest.raises(ValueError, match="not a Postfix time value"):
        plugin.postfix_seconds(value)
