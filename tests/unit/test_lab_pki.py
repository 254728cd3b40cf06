"""The lab CA issues what a public CA would: short-lived server certificates that name a CRL,
renewed before they run out, and a CRL that openssl accepts for those certificates."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from harness.lab.dns import DNS_COMMAND, PKI_DIR, dns_files
from harness.lab.pki import CRL_FILE, LabCA, crl_url

URL = crl_url("example.test")


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_server_certificates_are_short_lived_and_name_the_labs_crl(tmp_path):
    issued = LabCA(tmp_path, "t", URL).issue("mx1.example.test", "mx1")
    cert = _cert(issued.certificate)
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    assert days <= 90  # testssl.sh rates lifetimes of public CAs' maximum and more as findings
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for p in points for n in p.full_name or ()] == [URL]
    assert URL == "http://pki.example.test/ca.crl"


def test_a_certificate_is_reused_until_due_and_renewed_when_due(tmp_path):
    ca = LabCA(tmp_path, "t", URL)
    first = _cert(ca.issue("mx1.example.test").certificate)
    assert _cert(ca.issue("mx1.example.test").certificate).serial_number == first.serial_number
    # A certificate issued before the CRL existed (or for another URL) is replaced at once.
    moved = LabCA(tmp_path, "t", crl_url("other.test"))
    second = _cert(moved.issue("mx1.example.test").certificate)
    assert second.serial_number != first.serial_number


def test_a_certificate_close_to_its_end_is_renewed(tmp_path, monkeypatch):
    ca = LabCA(tmp_path, "t", URL)
    with monkeypatch.context() as m:
        m.setattr("harness.lab.pki._LEAF_DAYS", 20)  # issued with less left than the renewal
        first = _cert(ca.issue("mx1.example.test").certificate)
    renewed = _cert(ca.issue("mx1.example.test").certificate)
    assert renewed.serial_number != first.serial_number
    assert renewed.not_valid_after_utc > first.not_valid_after_utc


def test_openssl_checks_a_certificate_against_the_crl(tmp_path):
    ca = LabCA(tmp_path, "t", URL)
    issued = ca.issue("mx1.example.test")
    crl = tmp_path / "ca.crl"
    crl.write_bytes(ca.crl())
    pem = tmp_path / "ca.crl.pem"
    subprocess.run(["openssl", "crl", "-inform", "DER", "-in", crl, "-out", pem], check=True)
    done = subprocess.run(
        [
            "openssl",
            "verify",
            "-crl_check",
            "-CAfile",
            ca.certificate_path,
            "-CRLfile",
            pem,
            issued.certificate,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dns_container_serves_the_crl_beside_the_zones():
    files = dns_files([("example.test.", "zone text")], {CRL_FILE: b"crl"})
    assert files[f"{PKI_DIR.lstrip('/')}/{CRL_FILE}"] == (b"crl", 0o644)
    assert any(path.endswith("example.test.zone") for path in files)
    # the web server goes to the background; NSD stays the container's main process
    assert "busybox httpd" in DNS_COMMAND[-1]
    assert "exec nsd -d" in DNS_COMMAND[-1]


@pytest.mark.parametrize("domain", ["example.test", "mail.corp.test"])
def test_the_crl_url_lives_under_the_labs_primary_domain(domain):
    assert crl_url(domain) == f"http://pki.{domain}/{CRL_FILE}"
