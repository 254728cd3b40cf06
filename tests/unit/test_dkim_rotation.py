"""DKIM rotation steps: what each changes in a domain's keys, refusals that name the key, and
the inventory file edited in place with its comments kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from harness.dkim.keysfile import KeysFile, find_keys_files
from harness.dkim.plan import plan_activate, plan_publish, plan_revoke
from harness.errors import DkimError
from tests.unit.cli_run import mailstack

DAY = dt.date(2026, 12, 3)


def _key(selector: str, state: str, domain: str = "a.test") -> dict[str, str]:
    return {"domain": domain, "selector": selector, "state": state}


def test_publish_adds_a_future_key_named_by_date_once() -> None:
    keys = [_key("s202611-rsa", "active"), _key("s1", "active", domain="b.test")]
    (change,) = plan_publish(keys, "a.test", DAY)
    assert (change.selector, change.state, change.add) == ("s202612-rsa", "future", True)
    # the month's name taken: the day's
    (again,) = plan_publish([*keys, _key("s202612-rsa", "revoked")], "a.test", DAY)
    assert again.selector == "s20261203-rsa"
    # a future key already there: the step was taken, nothing new
    assert plan_publish([*keys, _key("s202612-rsa", "future")], "a.test", DAY) == []


def test_publish_refuses_a_reused_selector_and_an_unknown_domain() -> None:
    keys = [_key("s202611-rsa", "revoked"), _key("s202612-rsa", "active")]
    with pytest.raises(DkimError, match="already has a key with that selector"):
        plan_publish(keys, "a.test", DAY, selector="s202611-rsa")
    with pytest.raises(DkimError, match=r"c\.test has no key"):
        plan_publish(keys, "c.test", DAY)


def test_activate_expires_the_key_it_replaces_and_only_that() -> None:
    keys = [
        _key("old", "active"),
        _key("new", "future"),
        _key("older", "expired"),
        _key("other", "active", domain="b.test"),
    ]
    changes = [(c.selector, c.state) for c in plan_activate(keys, "a.test")]
    assert changes == [("old", "expired"), ("new", "active")]
    with pytest.raises(DkimError, match="no future key"):
        plan_activate([_key("old", "active")], "a.test")


def test_revoke_touches_expired_keys_only() -> None:
    keys = [_key("new", "active"), _key("old", "expired"), _key("gone", "revoked")]
    assert [(c.selector, c.state) for c in plan_revoke(keys, "a.test")] == [("old", "revoked")]
    assert plan_revoke(keys, "a.test", "gone") == []  # already revoked
    with pytest.raises(DkimError, match=r"new of a\.test is active, not expired"):
        plan_revoke(keys, "a.test", "new")
    with pytest.raises(DkimError, match="has no such key"):
        plan_revoke(keys, "a.test", "nope")


KEYS_YAML = """---
# Mail domains of the shop
mailstack_lab_password: "{{ vault_pw }}"   # stays quoted, comment kept
rspamd_dkim_keys:
  - domain: a.test
    selector: s202611-rsa
    state: active  # the first key
  - domain: b.test
    selector: s1
    state: active
"""


def test_a_step_edits_the_file_in_place_keeping_comments_and_quotes(tmp_path: Path) -> None:
    path = tmp_path / "group_vars" / "all.yml"
    path.parent.mkdir()
    path.write_text(KEYS_YAML)
    (found,) = find_keys_files(str(tmp_path / "hosts.yml"), "a.test")
    changes = plan_publish(found.domain_keys("a.test"), "a.test", DAY)
    found.apply(changes)
    found.save()
    text = path.read_text()
    assert text.startswith("---\n# Mail domains of the shop\n")
    assert 'mailstack_lab_password: "{{ vault_pw }}"   # stays quoted, comment kept' in text
    assert "state: active  # the first key" in text
    keys = yaml.safe_load(text)["rspamd_dkim_keys"]
    assert keys[-1] == {"domain": "a.test", "selector": "s202612-rsa", "state": "future"}
    assert KeysFile(path).domain_keys("b.test") == [_key("s1", "active", domain="b.test")]


def test_the_keys_file_is_found_or_the_error_says_which_to_name(tmp_path: Path) -> None:
    inventory = str(tmp_path / "hosts.yml")
    with pytest.raises(DkimError, match=r"no file under .* lists rspamd_dkim_keys of a\.test"):
        find_keys_files(inventory, "a.test")
    for host in ("mx1", "mx2"):
        (tmp_path / "host_vars").mkdir(exist_ok=True)
        (tmp_path / "host_vars" / f"{host}.yml").write_text(KEYS_YAML)
    with pytest.raises(DkimError, match=r"2 files list rspamd_dkim_keys of a\.test") as err:
        find_keys_files(inventory, "a.test")
    assert "--keys-file" in str(err.value)
    given = [tmp_path / "host_vars" / "mx1.yml", tmp_path / "host_vars" / "mx2.yml"]
    assert len(find_keys_files(inventory, "a.test", given)) == 2
    given[1].write_text(KEYS_YAML.replace("state: active  #", "state: expired  #"))
    with pytest.raises(DkimError, match=r"list different keys of a\.test"):
        find_keys_files(inventory, "a.test", given)


def test_the_cli_names_the_missing_keys_file_and_changes_nothing(tmp_path: Path) -> None:
    """Bad input: one error line with how to mend it, exit 2, no file written."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  children:\n    mail:\n      hosts:\n        mx1.a.test:\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text(KEYS_YAML)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    done = mailstack(
        "dkim", "revoke", "-i", str(inventory), "--domain", "c.test",
        "--resolver", "127.0.0.1:9", state=tmp_path / "state",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "no file under" in done.stderr
    assert "c.test" in done.stderr
    assert "pass --keys-file" in done.stderr
    assert sorted(p.name for p in tmp_path.rglob("*") if "state" not in p.parts) == before
    assert (tmp_path / "group_vars" / "all.yml").read_text() == KEYS_YAML
