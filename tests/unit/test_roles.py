"""The roles keep the project's conventions: specs for every role, prefixed names, docs in sync."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.roledocs import stale_role_readmes

ROLES = Path(__file__).parents[2] / "roles"
ALL_ROLES = sorted(p.name for p in ROLES.iterdir() if p.is_dir())


def test_role_readmes_match_their_argument_specs() -> None:
    assert stale_role_readmes(ROLES) == [], "run: .venv/bin/mailstack roles-doc"


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_default_is_prefixed_and_specified(role: str) -> None:
    specs = yaml.safe_load((ROLES / role / "meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((ROLES / role / "defaults/main.yml").read_text()) or {}
    for name in defaults:
        assert name.startswith(f"{role}_"), name
        assert name in options, f"{role}: {name} has no argument spec"


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_template_says_it_is_managed(role: str) -> None:
    for template in (ROLES / role / "templates").glob("*.j2"):
        assert "ansible_managed | comment" in template.read_text(), template


def _specs_and_defaults(role: str) -> tuple[dict[str, Any], dict[str, Any]]:
    specs = yaml.safe_load((ROLES / role / "meta/argument_specs.yml").read_text())
    defaults = yaml.safe_load((ROLES / role / "defaults/main.yml").read_text()) or {}
    return specs["argument_specs"]["main"]["options"], defaults


@pytest.mark.parametrize("role", ALL_ROLES)
def test_argument_spec_defaults_equal_the_role_defaults(role: str) -> None:
    """The spec is what Ansible checks and what the README shows; defaults/main.yml is what
    the role uses. They must say the same, and a required variable can have no default (or
    `required` could never fire)."""
    options, defaults = _specs_and_defaults(role)
    for name, spec in options.items():
        if spec.get("required"):
            assert name not in defaults, f"{role}: {name} is required but has a default"
            assert "default" not in spec, f"{role}: {name} is required but its spec has a default"
        elif "default" in spec:
            assert name in defaults, f"{role}: {name} has a spec default but none in defaults"
            assert spec["default"] == defaults[name], f"{role}: {name} defaults differ"
        else:
            # Only a templated default (another role's value, a fact) cannot be in the spec.
            assert name in defaults, f"{role}: {name} has no default anywhere and is optional"
            assert "{{" in str(defaults[name]), f"{role}: put {name}'s default in the spec"


def test_roles_share_one_variable_for_each_contract_value() -> None:
    """Postfix and Dovecot read the sockets, quota-status address and delimiter from
    mail_common: neither role keeps a copy that could drift."""
    for role in ("postfix", "dovecot"):
        options, defaults = _specs_and_defaults(role)
        text = "\n".join(p.read_text() for p in (ROLES / role).rglob("*") if p.is_file())
        for copy in ("socket", "quota_status_port", "quota_status_address", "delimiter"):
            assert not [n for n in [*options, *defaults] if copy in n], (role, copy)
        for shared in ("mail_common_lmtp_socket", "mail_common_auth_socket"):
            assert shared in text, (role, shared)
        assert "12340" not in text, role
        assert "private/" not in text, role


def test_the_mail_play_runs_notified_handlers_even_when_a_task_fails() -> None:
    # Seen in the lab: a run that failed after dovecot.conf changed left Dovecot on its old
    # config (quota-status not listening), and the next run, seeing no change, notified
    # nothing: Postfix answered 451 to every recipient until Dovecot was reloaded by hand.
    site = yaml.safe_load((Path(__file__).parents[2] / "playbooks" / "site.yml").read_text())
    plays = [p for p in site if "roles" in p]  # the plays that configure daemons
    assert plays
    assert all(p.get("force_handlers") is True for p in plays), [p["name"] for p in plays]
    roles = [r["role"] for p in plays for r in p["roles"]]
    assert roles.index("fail2ban") > roles.index("postfix")  # it reads the daemons' logs
    assert roles.index("rspamd") < roles.index("postfix")  # the milter listens first
    # Found on Debian 13 once lab images stopped starting Postfix at boot: Dovecot's sockets go
    # into Postfix's spool folder, which Postfix makes on its first start, so Dovecot could not
    # start on a fresh host of both tiers.
    assert roles.index("postfix") < roles.index("dovecot")
    # ...and with Postfix's tier first, bad account data must still stop the play before any
    # role changes a thing: the first role applied validates the accounts before its own tasks.
    first = yaml.safe_load((ROLES / roles[0] / "meta" / "main.yml").read_text())
    assert first["dependencies"][0]["role"] == "mail_accounts", roles[0]
    rolling = (Path(__file__).parents[2] / "playbooks" / "rolling.yml").read_text()
    assert rolling.index("loop: [rspamd, postfix]") < rolling.index("name: dovecot")


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_package_list_a_role_declares_is_installed_by_its_tasks(role: str) -> None:
    """The lab bakes every __<role>_*packages list into its images, so a list no task installs
    passes in the lab and fails on a real server (the fleet firewall's nftables did)."""
    base = ROLES / role
    declared = {
        key
        for path in (base / "vars").glob("*.yml")
        for key in (yaml.safe_load(path.read_text()) or {})
        if key.startswith(f"__{role}_") and key.endswith("packages")
    }
    tasks = "\n".join(p.read_text() for p in (base / "tasks").glob("*.yml"))
    for key in sorted(declared):
        # name: on one line, or a folded value over the lines indented below it
        found = re.search(rf"name: (?:>-\n)?(?:[^\n]*\n\s{{6,}})*[^\n]*\b{key}\b", tasks)
        assert found, f"{role}: no task installs {key}"
