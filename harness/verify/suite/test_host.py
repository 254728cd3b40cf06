"""The host itself: services up, exactly the ports the inventory switches on, configurations
that their own checkers accept."""

from __future__ import annotations

import pytest
from testinfra.host import Host

from harness.verify.targets import STANDARD_PORTS, Target

#: services the inventory switches on and off (on the hosts whose tiers offer them)
SWITCHED = {
    "submission": "postfix_submission_enabled",
    "submissions": "postfix_submissions_enabled",
}
#: each daemon, and the services that need it running
DAEMONS = {
    "postfix": {"smtp", "submission", "submissions"},
    "dovecot": {"imap", "imaps"},
}


@pytest.mark.parametrize("service", sorted(DAEMONS))
def test_daemon_runs_exactly_where_its_tiers_are(host: Host, target: Target, service: str) -> None:
    """Postfix on the mx, submission and outbound tiers, Dovecot on the mailbox tier, and
    neither anywhere else: a fleet's MX answers no IMAP, its backend takes no SMTP."""
    svc = host.service(service)
    if target.services & DAEMONS[service]:
        assert svc.is_running
        assert svc.is_enabled
    else:
        assert not svc.is_running, f"{service} runs on a host of tiers {sorted(target.tiers)}"


@pytest.mark.parametrize("service", sorted(STANDARD_PORTS.keys() - {"ssh"}))
def test_port_listening_exactly_when_offered(host: Host, target: Target, service: str) -> None:
    port = STANDARD_PORTS[service]
    listening = host.socket(f"tcp://0.0.0.0:{port}").is_listening
    if service in target.services:
        assert listening, f"{service} ({port}) is not listening"
    elif service in SWITCHED and "submission" in target.tiers:
        assert not listening, f"{service} ({port}) listens though {SWITCHED[service]} is false"
    else:
        assert not listening, (
            f"{service} ({port}) listens on a host of tiers {sorted(target.tiers)}"
        )


@pytest.mark.offers("imap", "imaps")
def test_quota_status_only_where_configured(host: Host, target: Target) -> None:
    """Dovecot's quota-status listens on its configured address (loopback by default) when
    quotas are on, never on every address; with quotas off, not at all."""
    port = target.quota_status_port
    on_address = host.socket(f"tcp://{target.quota_status_address}:{port}").is_listening
    assert on_address == target.quota_enabled, (
        f"quota-status on {target.quota_status_address}:{port}: listening={on_address}, "
        f"mail_common_quota_enabled={target.quota_enabled}"
    )
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


@pytest.mark.offers("smtp", "submission", "submissions")
def test_postfix_check_is_clean(host: Host) -> None:
    result = host.run("postfix check")
    assert result.rc == 0
    assert result.stderr.strip() == ""
    assert result.stdout.strip() == ""


@pytest.mark.offers("imap", "imaps")
def test_doveconf_is_clean(host: Host) -> None:
    result = host.run("doveconf -n")
    assert result.rc == 0
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert warnings == []
