"""The roles keep the project's conventions: specs for every role, prefixed names, docs in sync."""

from __future__ import annotations

from pathlib import Path

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
