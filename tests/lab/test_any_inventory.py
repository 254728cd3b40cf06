"""The roles and the verify suite on an inventory that is not the lab's defaults: other
quota-status port, size limits, mail roots, address delimiter and SASL mechanisms; 465 off on
one host and 587 and quotas off on the other; a catch-all domain whose name says nothing.
Also: check mode on hosts that were never converged runs to the end and changes nothing, a
setting Postfix applies only on a restart gets a restart (and nothing else does), and every
hash form the mail_accounts role accepts is one Dovecot verifies."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dkim
import pytest
import yaml
from click.testing import CliRunner
from docker import DockerClient

from harness.cli import cli
from harness.config import Paths
from harness.lab.lab import Lab
from harness.lab.zones import publish_lab_zones
from harness.provision import PlaybookResult, run_site
from harness.smtp.message import TOKEN_HEADER, token_message
from harness.verify.mail import TargetIMAP, submit
from harness.verify.suite.helpers import assert_signed, send_raw_inbound, txt_lookup
from harness.verify.targets import Target, load_targets
from tests.filter_plugins import load_filters
from tests.lab.conftest import BIN, run_cli
from tests.lab.mailstream import SubmissionStream, delivered_by_token

ALT_LAB = "t-alt"
TOPOLOGY = """
domains:
  - name: example.test
    mx: [mxa]
hosts:
  - {name: mxa, distro: debian12, groups: [mail]}
  - {name: mxb, distro: debian13, groups: [mail]}
"""
DOMAINS = [
    {"name": "example.test"},
    # A catch-all domain with an ordinary name: verify must find it from the data.
    {"name": "shop.example.test", "catch_all": "alice@example.test"},
]
#: The domain's keys, listed per host (both serve it): the rotation test edits both files.
KEYS = [{"domain": "example.test", "selector": "s202611-rsa", "state": "active"}]
HOST_VARS: dict[str, dict[str, Any]] = {
    "mxa": {
        "mail_accounts_domains": DOMAINS,
        "mail_common_quota_status_port": 12999,
        "mail_common_recipient_delimiter": "-",
        "postfix_message_size_limit": 10485760,
        "dovecot_vmail_home": "/srv/mail",
        "postfix_submissions_enabled": False,
        "dovecot_auth_mechanisms": ["plain"],
        "postfix_inet_protocols": "ipv4",  # applied only by a restart
        "mail_dns_dmarc_policy": "reject",  # both hosts serve example.test: they must agree
        "mail_dns_ttl": 10,  # a DKIM rotation waits one TTL before the new key signs
        "rspamd_dkim_keys": KEYS,
    },
    "mxb": {
        "mail_accounts_domains": DOMAINS,
        "mail_common_quota_enabled": False,
        "postfix_submission_enabled": False,
        "postfix_message_size_limit": 5242880,
        "dovecot_vmail_home": "/srv/vmail",
        "mail_dns_dmarc_policy": "reject",
        "mail_dns_ttl": 10,
        "rspamd_dkim_keys": KEYS,
    },
}
#: Checks that must skip, by host, and nothing else may (the lab publishes no IPv6).
#: both hosts serve example.test: no mail between them leaves by MX
_NO_PEER = {
    "test_mail_to_another_server_arrives_authenticated[->none]",
    "test_mail_forwarded_to_another_server_carries_a_valid_arc_set[->none]",
    "test_bounce_of_mail_the_other_server_refuses_comes_back_signed[->none]",
}
EXPECTED_SKIPS = {
    "mxa": {
        *_NO_PEER,
        "test_no_open_relay_ipv6",
        "test_ehlo_after_tls_offers_auth_on_submission_ports[submissions]",
        "test_submission_with_auth_arrives_intact[465-tls]",
        "test_certificate_valid_for_host_name_and_trusted[submissions]",
        "test_tls_older_than_1_2_refused[submissions]",
    },
    "mxb": {
        *_NO_PEER,
        "test_no_open_relay_ipv6",
        "test_ehlo_before_tls_offers_starttls_and_no_auth[submission]",
        "test_ehlo_after_tls_offers_auth_on_submission_ports[submission]",
        "test_submission_with_auth_arrives_intact[587-starttls]",
        "test_certificate_valid_for_host_name_and_trusted[submission]",
        "test_auth_on_587_without_tls_is_refused",
        "test_over_quota_is_refused_at_rcpt",
        "test_full_mailbox_is_refused_at_rcpt",
    },
}


def _master_pid(engine: DockerClient, host: str) -> str:
    """The running Postfix master's PID: a restart changes it, a reload does not."""
    code, out = _exec(engine, host, "cat", "/var/spool/postfix/pid/master.pid")
    assert code == 0, out
    return out.strip()


def _exec(engine: DockerClient, host: str, *command: str) -> tuple[int, str]:
    done = engine.containers.get(f"mailstack-{ALT_LAB}-{host}").exec_run(list(command))
    return int(done.exit_code), str(done.output.decode(errors="replace"))


@pytest.fixture(scope="module")
def alt_lab(
    engine: DockerClient, lab_paths: Paths, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Two fresh hosts whose inventory overrides the defaults through host_vars."""
    topo = tmp_path_factory.mktemp("alt") / "alt.yml"
    topo.write_text(TOPOLOGY)
    data = run_cli("lab", "up", "--lab", ALT_LAB, "--topology", str(topo))
    host_vars = Path(data["state"]["inventory"]).parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    for host, values in HOST_VARS.items():
        (host_vars / f"{host}.yml").write_text(yaml.safe_dump(values))
    # the lab's DNS then serves what this inventory says (p=reject)
    published = CliRunner().invoke(cli, ["dns", "publish", "--lab", ALT_LAB])
    assert published.exit_code == 0, published.output
    yield data
    Lab(engine, lab_paths, ALT_LAB).down()


@pytest.fixture(scope="module")
def fresh_check(alt_lab: dict[str, Any], lab_paths: Paths) -> PlaybookResult:
    """--check --diff on hosts that were never converged (before the converge below)."""
    return run_site(lab_paths.project, alt_lab["state"]["inventory"], check=True, diff=True)


@pytest.fixture(scope="module")
def alt_converged(
    alt_lab: dict[str, Any], fresh_check: PlaybookResult, lab_paths: Paths
) -> PlaybookResult:
    first = run_site(lab_paths.project, alt_lab["state"]["inventory"])
    assert first.success, first.output[-5000:]
    publish_lab_zones(ALT_LAB)  # DNS serves the DKIM keys the converge made
    return first


def test_check_mode_on_never_converged_hosts_runs_to_the_end(
    fresh_check: PlaybookResult, engine: DockerClient
) -> None:
    assert fresh_check.success, fresh_check.output[-5000:]
    assert sorted(fresh_check.hosts) == ["mxa", "mxb"]
    assert fresh_check.changed > 0  # it reports what a converge would do...
    for host in HOST_VARS:  # ...and does none of it
        code, _ = _exec(engine, host, "test", "-e", "/etc/dovecot/users")
        assert code != 0, f"check mode wrote /etc/dovecot/users on {host}"


def test_second_converge_of_the_non_default_inventory_changes_nothing(
    alt_converged: PlaybookResult, alt_lab: dict[str, Any], lab_paths: Paths
) -> None:
    again = run_site(lab_paths.project, alt_lab["state"]["inventory"])
    assert again.success, again.output[-3000:]
    assert again.changed == 0, again.changed_tasks


def test_verify_passes_on_the_non_default_inventory(
    alt_converged: PlaybookResult, alt_lab: dict[str, Any], tmp_path: Path, engine: DockerClient
) -> None:
    out = tmp_path / "verify.json"
    done = subprocess.run(
        [str(BIN / "mailstack"), "verify", "-i", alt_lab["state"]["inventory"], "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    summary = json.loads(out.read_text())
    by_host: dict[str, dict[str, str]] = {}
    for r in summary["results"]:
        by_host.setdefault(r["host"], {})[r["check"]] = r["outcome"]
    for host, outcomes in by_host.items():
        skipped = {c for c, o in outcomes.items() if o == "skipped"}
        assert skipped == EXPECTED_SKIPS[host], host
        for check in (
            "test_inbound_to_catch_all",
            "test_unknown_user_is_550_5_1_1",
            "test_over_size_is_552",
            "test_quota_status_only_where_configured",
            "test_port_listening_exactly_when_offered[submission]",
            "test_port_listening_exactly_when_offered[submissions]",
            "test_delivered_mail_has_this_hosts_results_and_no_forged_ones",
            "test_our_domain_sent_from_outside_its_spf_fails_dmarc",  # refused: p=reject
        ):
            assert outcomes[check] == "passed", (host, check)
    assert by_host["mxa"]["test_over_quota_is_refused_at_rcpt"] == "passed"
    # the mail went where the inventory said, not to the default root
    for host, root in (("mxa", "/srv/mail"), ("mxb", "/srv/vmail")):
        code, _ = _exec(engine, host, "test", "-d", f"{root}/example.test/alice/Maildir/new")
        assert code == 0, f"no Maildir under {root} on {host}"
        code, _ = _exec(engine, host, "test", "-e", "/var/mail/vhosts/example.test")
        assert code != 0, f"mail under the default root on {host}"


def test_restart_only_settings_restart_postfix_and_nothing_else_does(
    alt_converged: PlaybookResult,
    alt_lab: dict[str, Any],
    lab_paths: Paths,
    engine: DockerClient,
) -> None:
    inventory = alt_lab["state"]["inventory"]

    def postfix_run(*extra: str) -> PlaybookResult:
        done = run_site(
            lab_paths.project, inventory, tags="role::postfix", limit="mxa", extra_vars=list(extra)
        )
        assert done.success, done.output[-3000:]
        return done

    code, protocols = _exec(engine, "mxa", "postconf", "-h", "inet_protocols")
    assert (code, protocols.strip()) == (0, "ipv4")
    pid = _master_pid(engine, "mxa")
    postfix_run("postfix_message_size_limit=10485761")  # main.cf changes: a reload is enough
    assert _master_pid(engine, "mxa") == pid, "a reload-only change restarted Postfix"
    postfix_run("postfix_inet_protocols=all")  # applied only by a restart
    restarted = _master_pid(engine, "mxa")
    assert restarted != pid, "inet_protocols changed but Postfix was only reloaded"
    back = postfix_run()  # the inventory's own values again: ipv4, another restart
    assert any("Restart Postfix" in t for t in back.changed_tasks), back.changed_tasks
    assert _master_pid(engine, "mxa") != restarted


@pytest.mark.parametrize("scheme", ["SHA512-CRYPT", "BLF-CRYPT", "ARGON2I", "ARGON2ID"])
def test_every_hash_form_the_role_accepts_is_one_dovecot_verifies(
    alt_converged: PlaybookResult, engine: DockerClient, scheme: str
) -> None:
    filters = load_filters("mail_accounts")
    for host in HOST_VARS:
        code, made = _exec(engine, host, "doveadm", "pw", "-s", scheme, "-p", "s3cret-pw")
        assert code == 0, (host, made)
        crypt = made.strip().removeprefix(f"{{{scheme}}}")
        # bare and prefixed, as an admin may paste either into the inventory
        assert filters.hash_scheme(crypt) == scheme, (host, crypt)
        assert filters.hash_scheme(made.strip()) == scheme, (host, made)
        prefixed = filters._scheme_prefixed(crypt)
        code, out = _exec(engine, host, "doveadm", "pw", "-t", prefixed, "-p", "s3cret-pw")
        assert code == 0, (host, prefixed, out)
        code, _ = _exec(engine, host, "doveadm", "pw", "-t", prefixed, "-p", "wrong-pw")
        assert code != 0, (host, "a wrong password verified")


def _submit_and_read(target: Target) -> bytes:
    """A message submitted as the test mailbox to itself, as stored (signed)."""
    acc = target.accounts
    msg = token_message(acc.mailbox, [acc.mailbox], "rotation", 1024)
    assert asyncio.run(submit(target, acc.mailbox, acc.password, msg)) == {}
    with TargetIMAP(target, acc.mailbox, acc.password) as imap:
        assert len(imap.wait_for_token(msg.token)) == 1
        return imap.fetch_raw(imap.search_header(TOKEN_HEADER, msg.token)[0])


def _replayed(raw: bytes) -> bytes:
    """The stored message from its signature down (what the signer produced), with a fresh
    token below the signed headers."""
    original = raw[raw.find(b"DKIM-Signature:") :]
    head, sep, body = original.partition(b"\r\n\r\n")
    token = secrets.token_hex(6)
    return head + f"\r\n{TOKEN_HEADER}: replay-{token}".encode() + sep + body


def test_dkim_rotation_end_to_end_loses_nothing(
    alt_converged: PlaybookResult, alt_lab: dict[str, Any]
) -> None:
    """`mailstack dkim publish/activate/revoke` on a domain two hosts serve, while mail is
    submitted all along: the new key is made once and signs on both hosts; a message signed
    with the old key verifies until the revocation and fails after it (refused: p=reject);
    every accepted message arrives exactly once, and signed."""
    inventory = alt_lab["state"]["inventory"]
    host_vars = Path(inventory).parent / "host_vars"
    files = [arg for h in HOST_VARS for arg in ("--keys-file", str(host_vars / f"{h}.yml"))]
    domain = "example.test"

    def step(name: str) -> dict[str, Any]:
        data: dict[str, Any] = run_cli("dkim", name, "--lab", ALT_LAB, "--domain", domain, *files)
        return data

    targets = {t.name: t for t in load_targets(inventory)}
    mxa = targets["mxa"]
    resolver = txt_lookup(mxa.resolver)
    (old,) = mxa.dkim_active[domain]
    signed_old = _submit_and_read(mxa)
    assert dkim.verify(signed_old, dnsfunc=resolver)
    stream = SubmissionStream(mxa)
    stream.start()
    try:
        published = step("publish")
        (new,) = [k["selector"] for k in published["keys"] if k["state"] == "future"]
        step("activate")
        # the old key is expired but still published: mail signed with it still verifies
        assert dkim.verify(signed_old, dnsfunc=resolver)
        for target in load_targets(inventory):  # both hosts sign with the new key now
            if target.services & {"submission", "submissions"}:
                assert_signed(_submit_and_read(target), domain, [new], target.resolver)
        revoked = step("revoke")
        assert {k["selector"]: k["state"] for k in revoked["keys"]} == {
            old: "revoked",
            new: "active",
        }
    finally:
        stream.stop()
    # revoked: the old signature fails (dkimpy), and offered again the message is refused
    assert not dkim.verify(signed_old, dnsfunc=resolver)
    acc = mxa.accounts
    reply = send_raw_inbound(mxa, acc.mailbox, acc.mailbox, _replayed(signed_old))
    assert reply.code >= 500, f"a message signed with a revoked key was accepted: {reply}"
    # zero loss: every 250 delivered exactly once, each signed by the domain
    assert stream.refused == []
    assert len(stream.accepted) >= 20, "the stream hardly ran"
    deadline = time.monotonic() + 60
    while True:  # the last accepted ones may still be on their way
        delivered = delivered_by_token(mxa)
        missing = [t for t in stream.accepted if t not in delivered]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    doubled = [t for t in stream.accepted if len(delivered.get(t, [])) > 1]
    assert (missing, doubled) == ([], [])
    selectors = {
        s for t in stream.accepted for d in delivered[t] for dom, s in d.signatures if dom == domain
    }
    unsigned = [t for t in stream.accepted if not delivered[t][0].signatures]
    assert unsigned == []
    assert selectors == {old, new}, selectors
