"""The TLS audit by an independent tool: `mailstack verify --tls-audit` runs testssl.sh against
25 and 587 (STARTTLS), 465 and 993 of both lab hosts (Debian 12 and 13) with the lab CA
trusted. No HIGH or CRITICAL finding may remain (the audit accepts none: the roles set a server
cipher order, the lab CA issues 90-day certificates naming a CRL), and that CRL is served in
the lab where the certificates say it is."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import testinfra
from cryptography import x509

from harness.lab.require import require_lab
from harness.verify.tlsaudit import AUDITED_SERVICES, DOCUMENTED
from tests.lab.conftest import MAIN_LAB, run_cli

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def audit(converged: Any) -> list[dict[str, Any]]:
    # One quick check of the suite beside the audit: the audit is the point here.
    data = run_cli(
        "verify",
        "--lab",
        MAIN_LAB,
        "--tls-audit",
        "-k",
        "test_certificate_valid_for_host_name_and_trusted",
    )
    ports: list[dict[str, Any]] = data["tls_audit"]
    return ports


def test_every_tls_port_of_every_mail_host_is_audited(audit):
    state = require_lab(MAIN_LAB, or_inventory=False)
    mail_hosts = {h.name for h in state.hosts if "mail" in h.groups}
    assert {(p["host"], p["service"]) for p in audit} == {
        (h, s) for h in mail_hosts for s in AUDITED_SERVICES
    }


def test_testssl_finds_nothing_high_or_critical(audit):
    for port in audit:
        # testssl.sh tested the whole port (nothing it could not finish) ...
        assert not port["problems"], port
        # ... and rated nothing HIGH or CRITICAL beyond what the roles document
        assert not port["failing"], port
        assert {f["id"] for f in port["accepted"]} <= set(DOCUMENTED), port
        assert port["ok"]
        # The two it raised before the roles set a server cipher order and the lab CA issued
        # certificates the way a public CA does (Debian 13: 465 and 993 had no cipher order).
        findings = {f["id"] for f in port["notes"] + port["failing"] + port["accepted"]}
        assert not findings & {"cipher_order", "cert_revocation", "cert_validityPeriod"}, port
        verdicts = port["verdicts"]
        assert verdicts["cert_chain_of_trust"].startswith("OK"), port  # the lab CA, trusted
        # the certificate names the CRL the lab serves (testssl.sh reports the URL)
        assert verdicts["cert_crlDistributionPoints"].endswith("/ca.crl"), port
        assert "cert_revocation" not in verdicts, port  # "neither CRL nor OCSP URI"
        # testssl.sh tried a client-initiated renegotiation on every port: refused
        assert verdicts["secure_client_renego"] == "OK: not vulnerable", port


def test_the_crl_the_certificates_name_is_served_in_the_lab_and_clears_them(tmp_path: Path):
    state = require_lab(MAIN_LAB, or_inventory=False)
    pki = state.folder / "pki"
    mx1 = next(h for h in state.hosts if h.name == "mx1")
    cert_path = pki / f"{mx1.fqdn}.crt"
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (url,) = [n.value for p in points for n in p.full_name or ()]
    # A lab host fetches it as a client would: by name (the lab DNS), over HTTP.
    host = testinfra.get_host(f"docker://{mx1.container}")
    fetch = "import sys, urllib.request as u; print(u.urlopen(sys.argv[1],timeout=9).read().hex())"
    got = host.run(f"python3 -c '{fetch}' {url}")
    assert got.rc == 0, got.stderr
    der = tmp_path / "ca.crl"
    der.write_bytes(bytes.fromhex(got.stdout.strip()))
    pem = tmp_path / "ca.crl.pem"
    subprocess.run(["openssl", "crl", "-inform", "DER", "-in", der, "-out", pem], check=True)
    checked = subprocess.run(
        ["openssl", "verify", "-crl_check", "-CAfile", pki / "ca.crt", "-CRLfile", pem, cert_path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
