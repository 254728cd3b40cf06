"""The mail stack on the lab: converge Debian 12 and 13, idempotence, check mode, accounts as
code, and the verify suite passing on both."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import yaml
from docker import DockerClient

from harness.config import Paths
from harness.provision import PlaybookResult, run_site
from harness.smtp.message import token_message
from harness.verify.mail import TargetIMAP, submit
from harness.verify.targets import load_targets
from tests.lab.conftest import BIN, MAIN_LAB

ROLE_TAGS = (
    "role::mail_accounts",
    "role::mail_common",
    "role::mail_dns",
    "role::tls",
    "role::dovecot",
    "role::rspamd",
    "role::postfix",
)


def _inventory(lab: dict[str, Any]) -> str:
    return str(lab["state"]["inventory"])


def _explain(result: PlaybookResult) -> str:
    return "changed tasks: " + "; ".join(result.changed_tasks) + "\n" + result.output[-3000:]


def test_first_converge_configures_both_distros(converged: PlaybookResult) -> None:
    assert converged.changed > 0
    hosts = {task.split(":")[0] for task in converged.changed_tasks}
    assert hosts == {"mx1", "mx2"}


def test_second_converge_changes_nothing(
    converged: PlaybookResult, main_lab: dict[str, Any], lab_paths: Paths
) -> None:
    again = run_site(lab_paths.project, _inventory(main_lab))
    assert again.success, again.output[-3000:]
    assert again.changed == 0, _explain(again)


def test_check_mode_on_a_converged_host_changes_nothing(
    converged: PlaybookResult, main_lab: dict[str, Any], lab_paths: Paths
) -> None:
    check = run_site(lab_paths.project, _inventory(main_lab), check=True, diff=True)
    assert check.success, check.output[-3000:]
    assert check.changed == 0, _explain(check)


@pytest.mark.parametrize("tag", ROLE_TAGS)
def test_every_role_tag_works_alone(
    converged: PlaybookResult, main_lab: dict[str, Any], lab_paths: Paths, tag: str
) -> None:
    result = run_site(lab_paths.project, _inventory(main_lab), check=True, tags=tag)
    assert result.success, result.output[-3000:]
    assert result.changed == 0, _explain(result)
    role = tag.removeprefix("role::")
    assert f"TASK [{role} : " in result.output


def _verify(inventory: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "verify.json"
    done = subprocess.run(
        [
            str(BIN / "mailstack"),
            "verify",
            "-i",
            inventory,
            "--out",
            str(out),
            "--junit-xml",
            str(tmp_path / "verify.xml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    summary: dict[str, Any] = json.loads(out.read_text())
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    return summary


def test_verify_suite_passes_on_debian_12_and_13(
    converged: PlaybookResult, main_lab: dict[str, Any], tmp_path: Path
) -> None:
    summary = _verify(_inventory(main_lab), tmp_path)
    assert summary["ok"] is True
    assert summary["failed"] == 0
    by_host: dict[str, list[dict[str, Any]]] = {}
    for result in summary["results"]:
        by_host.setdefault(result["host"], []).append(result)
    assert set(by_host) == {"mx1", "mx2"}
    for host, results in by_host.items():
        skipped = {r["check"] for r in results if r["outcome"] == "skipped"}
        # the lab publishes on 127.0.0.1 only; everything else must really run
        assert skipped <= {"test_no_open_relay_ipv6"}, (host, skipped)
        assert sum(r["outcome"] == "passed" for r in results) >= 35
    assert (tmp_path / "verify.xml").read_text().count("<testcase") == len(summary["results"])


def test_an_account_change_shows_in_check_diff_then_applies(
    converged: PlaybookResult, main_lab: dict[str, Any], lab_paths: Paths
) -> None:
    inventory = Path(_inventory(main_lab))
    group_vars = yaml.safe_load((lab_paths.lab_group_vars / "all.yml").read_text())
    mailboxes = group_vars["mail_accounts_mailboxes"]
    mailboxes.append({"address": "carol@example.test", "password": "{{ mailstack_lab_password }}"})
    host_vars = inventory.parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "mx1.yml").write_text(yaml.safe_dump({"mail_accounts_mailboxes": mailboxes}))
    try:
        check = run_site(lab_paths.project, str(inventory), check=True, diff=True)
        assert check.success, check.output[-3000:]
        assert "carol@example.test" in check.output  # the diff of the Postfix tables
        assert {t.split(":")[0] for t in check.changed_tasks} == {"mx1"}
        assert any("Render the Dovecot user database" in t for t in check.changed_tasks)
        assert any("Render Postfix lookup tables" in t for t in check.changed_tasks)
        applied = run_site(lab_paths.project, str(inventory))
        assert applied.success, applied.output[-3000:]
        assert sorted(applied.changed_tasks) == sorted(check.changed_tasks)
        login = subprocess.run(
            [
                str(BIN / "python"),
                "-c",
                "import imaplib,ssl,sys; c=ssl.create_default_context(cafile=sys.argv[3]);"
                "c.check_hostname=False; i=imaplib.IMAP4_SSL('127.0.0.1',int(sys.argv[1]),"
                "ssl_context=c); print(i.login('carol@example.test',sys.argv[2])[0])",
                str(
                    next(h for h in main_lab["state"]["hosts"] if h["name"] == "mx1")["ports"][
                        "993"
                    ]
                ),
                group_vars["mailstack_lab_password"],
                str(Path(main_lab["state"]["folder"]) / "pki" / "ca.crt"),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert login.stdout.strip() == "OK", login.stderr
    finally:
        (host_vars / "mx1.yml").unlink()
        restored = run_site(lab_paths.project, str(inventory))
        assert restored.success


@pytest.mark.parametrize(
    ("mailboxes", "aliases", "named"),
    [
        (
            [{"address": "alice-at-example.test", "password": "x"}],
            [],
            "mail_accounts_mailboxes[0].address",
        ),
        (
            [],
            [{"address": "info@nowhere.test", "to": ["alice@example.test"]}],
            "mail_accounts_aliases[0].address",
        ),
        (
            [{"address": "alice@example.test", "password_hash": "plaintext-secret"}],
            [],
            "mail_accounts_mailboxes[0].password_hash",
        ),
        ("alice@example.test", [], "mail_accounts_mailboxes"),
    ],
    ids=["malformed-address", "alias-in-unknown-domain", "plaintext-as-hash", "not-a-list"],
)
def test_bad_accounts_fail_before_any_task_runs(
    converged: PlaybookResult,
    main_lab: dict[str, Any],
    lab_paths: Paths,
    tmp_path: Path,
    mailboxes: Any,
    aliases: Any,
    named: str,
) -> None:
    bad = {
        "mail_accounts_domains": [{"name": "example.test"}],
        "mail_accounts_mailboxes": mailboxes,
        "mail_accounts_aliases": aliases,
    }
    extra = tmp_path / "bad.yml"
    extra.write_text(yaml.safe_dump(bad))
    result = run_site(lab_paths.project, _inventory(main_lab), extra_vars=[f"@{extra}"])
    assert not result.success
    assert named in result.output
    assert result.changed == 0
    # nothing of tls, dovecot or postfix ran
    assert "TASK [tls : Load" not in result.output
    assert "TASK [dovecot : Load" not in result.output
    if "plaintext-secret" in json.dumps(bad):
        assert "plaintext-secret" not in result.output  # the rejected secret is not echoed


def _mail_log(engine: DockerClient, container: str) -> str:
    """The last minutes of the mail log (syslog facility mail) inside a lab container."""
    command = ["journalctl", "SYSLOG_FACILITY=2", "--no-pager", "-o", "cat", "--since", "-5min"]
    return str(engine.containers.get(container).exec_run(command).output.decode(errors="replace"))


def test_relayhost_with_sasl_sends_through_the_smarthost(
    converged: PlaybookResult, main_lab: dict[str, Any], lab_paths: Paths, engine: DockerClient
) -> None:
    """mx1 sends outbound mail through mx2 (the "ISP"), authenticating with SASL over TLS."""
    inventory = _inventory(main_lab)
    smarthost = next(h for h in main_lab["state"]["hosts"] if h["name"] == "mx2")["fqdn"]
    # a mailbox of the smarthost (mx2, group peer) to log in with, and send as
    login = next(t for t in load_targets(inventory) if t.name == "mx2").accounts
    relay = [
        f"postfix_relayhost=[{smarthost}]:587",
        f"postfix_relayhost_username={login.mailbox}",
        f"postfix_relayhost_password={login.password}",
    ]
    mx1 = f"mailstack-{MAIN_LAB}-mx1"
    mx2 = f"mailstack-{MAIN_LAB}-mx2"
    try:
        applied = run_site(lab_paths.project, inventory, extra_vars=relay, limit="mx1")
        assert applied.success, applied.output[-3000:]
        token = secrets.token_hex(6)
        rcpt = f"someone-{token}@elsewhere.test"
        sent = engine.containers.get(mx1).exec_run(
            [
                "sh",
                "-c",
                f"printf 'Subject: {token}\\n\\nvia relayhost\\n' | "
                f"sendmail -f {login.mailbox} {rcpt}",
            ]
        )
        assert sent.exit_code == 0, sent.output
        deadline = time.monotonic() + 60
        log = ""
        while time.monotonic() < deadline:
            log = _mail_log(engine, mx2)
            if f"to=<{rcpt}>" in log:
                break
            time.sleep(1)
        assert f"sasl_username={login.mailbox}" in log
        assert f"to=<{rcpt}>" in log  # mx2 took the message for onward delivery
        sender_log = _mail_log(engine, mx1)
        assert f"to=<{rcpt}>, relay={smarthost}" in sender_log
        # "Trusted": the chain verified against the lab CA (an "Untrusted TLS connection"
        # would also contain "TLS connection established", so the word itself is checked).
        assert f"Trusted TLS connection established to {smarthost}" in sender_log
    finally:
        restored = run_site(lab_paths.project, inventory, limit="mx1")
        assert restored.success


def test_rspamd_down_defers_submission_and_nothing_passes_unchecked(
    converged: PlaybookResult, main_lab: dict[str, Any], engine: DockerClient
) -> None:
    """milter_default_action = tempfail: with rspamd stopped, submission gets a 4xx and no
    message is queued or delivered past it; with rspamd back, mail flows again."""
    inventory = _inventory(main_lab)
    target = next(t for t in load_targets(inventory) if t.name == "mx1")
    acc = target.accounts
    mx1 = engine.containers.get(f"mailstack-{MAIN_LAB}-mx1")
    stopped = token_message(acc.mailbox, [acc.mailbox], "rspamd down", 512)
    assert mx1.exec_run(["systemctl", "stop", "rspamd"]).exit_code == 0
    try:
        with pytest.raises(aiosmtplib.SMTPResponseException) as deferred:
            asyncio.run(submit(target, acc.mailbox, acc.password, stopped))
        assert 400 <= deferred.value.code < 500, deferred.value
    finally:
        assert mx1.exec_run(["systemctl", "start", "rspamd"]).exit_code == 0
    queue = mx1.exec_run(["postqueue", "-j"]).output.decode()
    assert stopped.token not in queue
    # rspamd compiles its rules on start: wait for the milter, then mail flows again
    deadline = time.monotonic() + 120
    listening = f"ss -ltn | grep -q ':{target.milter_port} '"
    while mx1.exec_run(["sh", "-c", listening]).exit_code != 0:
        assert time.monotonic() < deadline, "the rspamd milter did not come back"
        time.sleep(1)
    back = token_message(acc.mailbox, [acc.mailbox], "rspamd back", 512)
    assert asyncio.run(submit(target, acc.mailbox, acc.password, back)) == {}
    with TargetIMAP(target, acc.mailbox, acc.password) as imap:
        assert len(imap.wait_for_token(back.token)) == 1
        assert imap.search_header("X-Mailstack-Token", stopped.token) == []
