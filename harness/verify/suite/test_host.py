"""The host itself: services up, ports open, configurations that their own checkers accept."""

from __future__ import annotations

import pytest
from testinfra.host import Host

MAIL_PORTS = (25, 465, 587, 143, 993)


@pytest.mark.parametrize("service", ["postfix", "dovecot"])
def test_service_active_and_enabled(host: Host, service: str) -> None:
    svc = host.service(service)
    assert svc.is_running
    assert svc.is_enabled


@pytest.mark.parametrize("port", MAIL_PORTS)
def test_port_listening(host: Host, port: int) -> None:
    assert host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_quota_status_only_on_loopback(host: Host) -> None:
    assert host.socket("tcp://127.0.0.1:12340").is_listening
    assert not host.socket("tcp://0.0.0.0:12340").is_listening


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
