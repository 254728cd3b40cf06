"""The host itself: services up, exactly the ports the inventory switches on, configurations
that their own checkers accept."""

from __future__ import annotations

import pytest
from testinfra.host import Host

from harness.verify.targets import STANDARD_PORTS, Target

#: services the roles always run, and those the inventory switches
ALWAYS = ("smtp", "imap", "imaps")
SWITCHED = {
    "submission": "postfix_submission_enabled",
    "submissions": "postfix_submissions_enabled",
}


@pytest.mark.parametrize("service", ["postfix", "dovecot"])
def test_service_active_and_enabled(host: Host, service: str) -> None:
    svc = host.service(service)
    assert svc.is_running
    assert svc.is_enabled


@pytest.mark.parametrize("service", [*ALWAYS, *SWITCHED])
def test_port_listening_exactly_when_switched_on(host: Host, target: Target, service: str) -> None:
    port = STANDARD_PORTS[service]
    listening = host.socket(f"tcp://0.0.0.0:{port}").is_listening
    if service in ALWAYS or service in target.services:
        assert listening, f"{service} ({port}) is not listening"
    else:
        assert not listening, f"{service} ({port}) listens though {SWITCHED[service]} is false"


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


def test_postfix_check_is_clean(host: Host) -> None:
    result = host.run("postfix check")
    assert result.rc == 0
    assert result.stderr.strip() == ""
    assert result.stdout.strip() == ""


def test_doveconf_is_clean(host: Host) -> None:
    result = host.run("doveconf -n")
    assert result.rc == 0
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert warnings == []
