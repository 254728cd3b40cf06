"""Reading ansible-playbook's output; the example inventory is valid as shipped."""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.provision import PlaybookResult, parse_output
from tests.filter_plugins import load_filters

ROOT = Path(__file__).parents[2]

OUTPUT = """
PLAY [Mail stack] **************************************************************

TASK [dovecot : Render dovecot.conf] *******************************************
changed: [mx1]
ok: [mx2]

TASK [postfix : Render Postfix lookup tables] **********************************
changed: [mx2] => (item=virtual_aliases)

TASK [rspamd : Put each public half beside the inventory] **********************
changed: [mx1 -> localhost] => (item=example.test s1)

RUNNING HANDLER [postfix : Reload Postfix] *************************************
changed: [mx2]

PLAY RECAP *********************************************************************
mx1                        : ok=30   changed=1    unreachable=0    failed=0    skipped=3
mx2                        : ok=31   changed=2    unreachable=0    failed=1    skipped=3
"""


def test_parse_output_lists_changed_tasks_and_sums_the_recap() -> None:
    result = PlaybookResult(returncode=2, seconds=1.0)
    parse_output(OUTPUT, result)
    assert result.changed_tasks == [
        "mx1: dovecot : Render dovecot.conf",
        "mx2: postfix : Render Postfix lookup tables",
        "mx1: rspamd : Put each public half beside the inventory",
        "mx2: postfix : Reload Postfix",
    ]
    assert (result.ok, result.changed, result.failed) == (61, 3, 1)
    assert not result.success


def test_example_inventory_accounts_pass_the_roles_validation() -> None:
    filters = load_filters("mail_accounts")
    for path in (
        ROOT / "inventory/example/group_vars/mail/main.yml",
        ROOT / "inventory/lab/group_vars/all.yml",
    ):
        data = yaml.safe_load(path.read_text())
        errors = filters.mail_accounts_errors(
            data["mail_accounts_domains"],
            data["mail_accounts_mailboxes"],
            data.get("mail_accounts_aliases", []),
        )
        assert errors == [], (path, errors)
