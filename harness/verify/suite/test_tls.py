"""Certificates valid for the host name and trusted; nothing older than TLS 1.2 accepted."""

from __future__ import annotations

import socket
import ssl

import pytest

from harness.smtp.dialogue import SMTPDialogue
from harness.smtp.tls import client_context, legacy_only_context
from harness.verify.targets import Target


def _handshake(target: Target, service: str, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    port = target.port(service)
    if service in ("submissions", "imaps"):
        raw = socket.create_connection((target.address, port), timeout=30)
        return ctx.wrap_socket(raw, server_hostname=target.tls_name)
    if service == "imap":
        raw = socket.create_connection((target.address, port), timeout=30)
        raw.recv(4096)
        raw.sendall(b"a STARTTLS\r\n")
        assert raw.recv(4096).startswith(b"a OK")
        return ctx.wrap_socket(raw, server_hostname=target.tls_name)
    dialogue = SMTPDialogue(target.address, port)
    dialogue.cmd("EHLO verify.test")
    assert dialogue.starttls(ctx, target.tls_name).code == 220
    assert isinstance(dialogue.sock, ssl.SSLSocket)
    return dialogue.sock


@pytest.mark.parametrize("service", ["smtp", "submission", "submissions", "imap", "imaps"])
def test_certificate_valid_for_host_name_and_trusted(target: Target, service: str) -> None:
    if service not in target.services:
        pytest.skip(f"{service} is not offered here (its tier or switch; the port check covers it)")
    tls = _handshake(target, service, client_context(target.ca_file))
    try:
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}
        cert = tls.getpeercert() or {}
        alt_names = cert.get("subjectAltName", ())
        names = {str(pair[1]) for pair in alt_names if isinstance(pair, tuple) and pair[0] == "DNS"}
        assert target.tls_name in names
    finally:
        tls.close()


#: How a server refuses our TLS 1.0/1.1 ClientHello: a protocol_version alert (Postfix), or
#: closing the connection mid-handshake (Dovecot logs "unsupported protocol" and closes without
#: flushing the alert). A local failure — OpenSSL here refusing to offer old versions
#: (NO_PROTOCOLS_AVAILABLE), a certificate error — proves nothing and fails the check.
SERVER_REFUSALS = {"TLSV1_ALERT_PROTOCOL_VERSION", "UNEXPECTED_EOF_WHILE_READING"}


@pytest.mark.parametrize("service", ["submissions", "imaps"])
def test_tls_older_than_1_2_refused(target: Target, service: str) -> None:
    if service not in target.services:
        pytest.skip(f"{service} is not offered here (its tier or switch; the port check covers it)")
    # The same port completes a modern handshake, so a closed connection below is a refusal of
    # the old protocol, not a port that speaks no TLS at all.
    _handshake(target, service, client_context(target.ca_file)).close()
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(target, service, legacy_only_context()).close()
    assert refused.value.reason in SERVER_REFUSALS, f"{refused.value.reason}: {refused.value}"
