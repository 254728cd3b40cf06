"""The rspamd role's rate limits, rendered offline from its template and defaults: one bucket
per login, campaign logins moved to their own bucket by a selector rspamd accepts, and nothing
when switched off."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
import yaml
from ansible.plugins.filter.core import FilterModule as AnsibleCoreFilters

ROLE = Path(__file__).parents[2] / "roles" / "rspamd"


def _render(**overrides: Any) -> str:
    env = jinja2.Environment(  # noqa: S701 - config files, not HTML
        undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True
    )
    env.filters.update(AnsibleCoreFilters().filters())
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables = {**defaults, "ansible_managed": "Ansible managed", **overrides}
    template = env.from_string((ROLE / "templates" / "ratelimit.conf.j2").read_text())
    return template.render(variables)


def _buckets(text: str) -> dict[str, dict[str, str]]:
    found = {}
    for name, body in re.findall(r"\n  (\w+) \{\n(.*?)\n  \}", text, re.DOTALL):
        found[name] = dict(re.findall(r"(\w+) = (.*?);", body))
    return found


def test_every_login_gets_the_default_budget():
    buckets = _buckets(_render())
    assert set(buckets) == {"mailstack_user"}
    user = buckets["mailstack_user"]
    assert user["selector"] == '"user.lower"'
    assert user["burst"] == "200"
    assert user["rate"] == '"200 / 1h"'
    assert "rate limit exceeded" in user["message"].lower()
    assert 'servers = "127.0.0.1:6379";' in _render()


def test_campaign_logins_leave_the_default_bucket_for_their_own():
    text = _render(
        rspamd_ratelimit_campaign_users=["News@Example.test", "carol@peer.test"],
        rspamd_ratelimit_campaign_burst=9000,
    )
    buckets = _buckets(text)
    listed = "'news@example.test','carol@peer.test'"
    # The same logins on both sides: excluded from one bucket, the only members of the other.
    assert buckets["mailstack_user"]["selector"] == f'"user.lower.not_in({listed})"'
    assert buckets["mailstack_campaign"]["selector"] == f'"user.lower.in({listed})"'
    assert buckets["mailstack_campaign"]["burst"] == "9000"


def test_switched_off_there_is_no_bucket_and_no_redis():
    text = _render(rspamd_ratelimit_enabled=False)
    assert "rates {}" in text
    assert "servers" not in text
    assert not _buckets(text)
