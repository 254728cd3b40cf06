"""Abuse controls of the roles, on the provisioned main lab.

Password guessing gets an address banned, on Debian 12 and 13: repeated failed SMTP AUTH on
587 from one lab host bans it at mx1, repeated failed IMAP logins from another ban it at mx2 —
while a legitimate user on a third address logs in and sends, and port 25 stays open to the
banned address. The bans lift after fail2ban_bantime.

The attackers are the lab's own containers (each has its own address on the lab network); the
fail2ban settings are the role's, with the lab's short ban.

A login that sends more than its budget gets 451 (rspamd's rate limit), while a campaign login
sends on with its own budget."""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker import DockerClient

from harness.config import Paths
from harness.lab.require import require_lab
from harness.lab.state import HostState
from harness.provision import PlaybookResult
from harness.verify.targets import Target, load_targets
from tests.lab.conftest import MAIN_LAB, RECEIVER, role_settings

pytestmark = [pytest.mark.lab, pytest.mark.slow]

#: the lab's fail2ban settings (short bans) are in its group_vars
LAB_VARS = Path(__file__).parents[2] / "inventory" / "lab" / "group_vars"

# Runs in a lab container: LOGIN attempts with PASSWORD over SMTP (587, STARTTLS) or IMAP
# (143, STARTTLS); prints one word per attempt: ok, refused (535 / NO), or the error's class.
_ATTEMPTS = r"""
import imaplib, smtplib, ssl, sys
kind, host, user, password, count = sys.argv[1:6]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
for _ in range(int(count)):
    try:
        if kind == "smtp":
            s = smtplib.SMTP(host, 587, timeout=20); s.starttls(context=ctx); s.ehlo()
            s.user, s.password = user, password  # one mechanism: one failure per attempt
            code, text = s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
            s.sendmail(user, [user], b"Subject: abuse test\r\n\r\nlegitimate\r\n"); s.quit()
        elif kind == "imap":
            i = imaplib.IMAP4(host, 143, timeout=20); i.starttls(ssl_context=ctx)
            i.login(user, password); i.logout()
        else:
            s = smtplib.SMTP(host, 25, timeout=10); code = s.ehlo()[0]; s.quit()
            if code != 250:
                raise OSError(code)
        print("ok")
    except (smtplib.SMTPAuthenticationError, imaplib.IMAP4.error):
        print("refused")
    except Exception as exc:
        print(type(exc).__name__)
"""


def _attempts(
    engine: DockerClient, client: HostState, kind: str, server: Target, password: str, count: int
) -> list[str]:
    result = engine.containers.get(client.container).exec_run(
        [
            "python3",
            "-c",
            _ATTEMPTS,
            kind,
            server.lab_ip,
            server.accounts.mailbox,
            password,
            str(count),
        ]
    )
    return result.output.decode().split()


def _banned(engine: DockerClient, host: HostState, jail: str) -> list[str]:
    out = engine.containers.get(host.container).exec_run(["fail2ban-client", "status", jail])
    text = out.output.decode()
    assert out.exit_code == 0, text
    line = next(line for line in text.splitlines() if "Banned IP list" in line)
    return line.split(":", 1)[1].split()


def _wait(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


@pytest.fixture(scope="module")
def lab_hosts(converged: PlaybookResult, main_lab: dict[str, Any]) -> dict[str, Any]:
    inventory = str(main_lab["state"]["inventory"])
    state = require_lab(MAIN_LAB, or_inventory=False)
    return {
        "hosts": {h.name: h for h in state.hosts},
        "targets": {t.name: t for t in load_targets(inventory)},
        "vars": yaml.safe_load((LAB_VARS / "all.yml").read_text()),
    }


@pytest.mark.parametrize(
    ("server", "attacker", "kind", "jail"),
    [("mx1", "mx2", "smtp", "postfix-sasl"), ("mx2", "mx1", "imap", "dovecot")],
    ids=["smtp-auth-debian12", "imap-debian13"],
)
def test_failed_logins_ban_the_address_until_the_ban_lifts(
    lab_hosts, engine: DockerClient, server: str, attacker: str, kind: str, jail: str
):
    hosts, targets = lab_hosts["hosts"], lab_hosts["targets"]
    maxretry = lab_hosts["vars"]["fail2ban_maxretry"]
    bantime = int(lab_hosts["vars"]["fail2ban_bantime"].rstrip("s"))
    target, bad, user = targets[server], hosts[attacker], hosts[RECEIVER]
    password = target.accounts.password
    assert bad.ip not in _banned(engine, hosts[server], jail)

    tries = _attempts(engine, bad, kind, target, "not-the-password", maxretry)
    assert tries == ["refused"] * maxretry, tries
    assert _wait(lambda: bad.ip in _banned(engine, hosts[server], jail), 20), "no ban"

    # Banned: even the right password does not get in from that address ...
    assert _attempts(engine, bad, kind, target, password, 1) != ["ok"]
    # ... while a user on another address logs in (and, on SMTP, sends) as usual ...
    assert _attempts(engine, user, kind, target, password, 1) == ["ok"]
    # ... and port 25 stays open to the banned address: its mail still arrives.
    assert _attempts(engine, bad, "smtp25", target, "", 1) == ["ok"]

    assert _wait(lambda: bad.ip not in _banned(engine, hosts[server], jail), bantime + 15)
    assert _wait(lambda: _attempts(engine, bad, kind, target, password, 1) == ["ok"], 10)


USER_BURST = 5
RATE_LIMITS = {"rspamd_ratelimit_user_burst": USER_BURST, "rspamd_ratelimit_user_rate": "5 / 1h"}


@pytest.fixture(scope="module")
def small_budget(
    converged: PlaybookResult,
    main_lab: dict[str, Any],
    lab_paths: Paths,
    engine: DockerClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    """A budget of USER_BURST messages per login on every mail host for this test (campaign
    logins keep theirs), with empty buckets; the inventory's budget after."""
    inventory = str(main_lab["state"]["inventory"])
    folder = tmp_path_factory.mktemp("rl")
    with role_settings(lab_paths, inventory, "rspamd", RATE_LIMITS, folder):
        target = next(t for t in load_targets(inventory) if t.name == "mx1")
        state = require_lab(MAIN_LAB, or_inventory=False)
        host = state.host("mx1")
        assert host is not None
        flushed = engine.containers.get(host.container).exec_run(["redis-cli", "FLUSHALL"])
        assert flushed.output.decode().strip() == "OK", flushed.output
        yield target


def _submit(target: Target, login: str, count: int) -> list[tuple[int, str]]:
    """``count`` messages from ``login`` to itself over 587 (STARTTLS, AUTH); each DATA reply."""
    ctx = ssl.create_default_context(cafile=target.ca_file or None)
    ctx.check_hostname = False
    replies = []
    with smtplib.SMTP(target.lab_ip, 587, timeout=30) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(login, target.accounts.password)
        for i in range(count):
            smtp.mail(login)
            smtp.rcpt(login)
            code, text = smtp.data(f"Subject: budget {i}\r\n\r\nmessage {i}\r\n".encode())
            replies.append((code, text.decode()))
            if code != 250:
                smtp.rset()
    return replies


def test_a_login_over_its_budget_gets_451_while_a_campaign_login_sends_on(small_budget):
    target = small_budget
    ordinary = "bob@example.test"
    replies = _submit(target, ordinary, USER_BURST + 3)
    codes = [code for code, _ in replies]
    # The budget (rspamd refuses the message that would fill the bucket: burst - 1 get
    # through), then a temporary refusal the client may retry later, with the role's text.
    accepted = codes.count(250)
    assert accepted in (USER_BURST - 1, USER_BURST), replies
    assert codes == [250] * accepted + [451] * (len(codes) - accepted), replies
    assert all("rate limit exceeded" in text.lower() for _, text in replies[accepted:])
    # The campaign login (the lab's alice) has its own, larger budget.
    assert [code for code, _ in _submit(target, target.accounts.mailbox, USER_BURST + 3)] == [
        250
    ] * (USER_BURST + 3)
