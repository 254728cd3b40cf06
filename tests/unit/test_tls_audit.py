"""How `mailstack verify --tls-audit` calls testssl.sh and reads its verdicts."""

from __future__ import annotations

from harness.verify.targets import STANDARD_PORTS, Target
from harness.verify.tlsaudit import AuditedPort, audit_command, ports_to_audit, read_findings


def _target(**extra: object) -> Target:
    fields: dict[str, object] = {
        "name": "mx1",
        "inventory": "inv",
        "address": "127.0.0.1",
        "tls_name": "mx1.example.test",
        "ports": {**STANDARD_PORTS, "smtp": 40025, "imaps": 40993},
        "size_limit": 1,
        "ca_file": "/lab/ca.crt",
        "domains": ("example.test",),
        **extra,
    }
    return Target(**fields)  # type: ignore[arg-type]


def test_a_lab_host_is_audited_by_its_certificate_name_at_its_published_address(tmp_path):
    cmd = audit_command(_target(), "smtp", tmp_path / "f.json")
    assert cmd[-1] == "mx1.example.test:40025"  # the name the certificate must carry
    assert cmd[cmd.index("--ip") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--add-ca") + 1] == "/lab/ca.crt"
    assert cmd[cmd.index("--starttls") + 1] == "smtp"
    assert cmd[cmd.index("--jsonfile") + 1] == str(tmp_path / "f.json")


def test_a_real_server_is_resolved_by_testssl_and_trusted_by_the_system_store(tmp_path):
    real = _target(address="mail.example.test", ca_file="", ports=dict(STANDARD_PORTS))
    cmd = audit_command(real, "imaps", tmp_path / "f.json")
    assert cmd[-1] == "mx1.example.test:993"
    assert "--ip" not in cmd
    assert "--add-ca" not in cmd
    assert "--starttls" not in cmd  # 993 speaks TLS from the first byte


def test_only_the_ports_the_host_offers_are_audited():
    full = ports_to_audit([_target()])
    assert [s for _, s in full] == ["smtp", "submission", "submissions", "imaps"]
    # A fleet's MX (port 25 only) and its backend (IMAP only).
    only_25 = ports_to_audit([_target(services=frozenset({"smtp"}))])
    assert [s for _, s in only_25] == ["smtp"]
    backend = ports_to_audit([_target(services=frozenset({"imap", "imaps"}))])
    assert [s for _, s in backend] == ["imaps"]


def test_high_and_critical_fail_unless_documented_scan_trouble_fails_medium_is_a_note():
    records = [
        {"id": "cipher_order", "severity": "HIGH", "finding": "NOT a cipher order configured"},
        {"id": "heartbleed", "severity": "CRITICAL", "finding": "VULNERABLE"},
        {"id": "cert_validityPeriod", "severity": "MEDIUM", "finding": "825 > 825 days"},
        {"id": "DNS_CAArecord", "severity": "LOW", "finding": "--"},
        {"id": "scanProblem", "severity": "FATAL", "finding": "can't connect"},
        {"id": "sessionresumption_ID", "severity": "WARN", "finding": "check failed, pls report"},
        {"id": "TLS1_3", "severity": "OK", "finding": "offered"},
        {"id": "secure_client_renego", "severity": "OK", "finding": "not vulnerable"},
        {"id": "service", "severity": "DEBUG", "finding": "..."},
    ]
    audited = read_findings(records, AuditedPort("mx1", "smtp", 25), {"cipher_order": "why"})
    assert [f.id for f in audited.failing] == ["heartbleed"]
    assert [f.id for f in audited.accepted] == ["cipher_order"]
    # an informational check testssl.sh could not finish is noted, not failed
    assert [f.id for f in audited.notes] == [
        "cert_validityPeriod",
        "DNS_CAArecord",
        "sessionresumption_ID",
    ]
    assert [f.id for f in audited.problems] == ["scanProblem"]
    assert audited.verdicts == {
        "cipher_order": "HIGH: NOT a cipher order configured",
        "cert_validityPeriod": "MEDIUM: 825 > 825 days",
        "secure_client_renego": "OK: not vulnerable",
    }
    assert not audited.ok
    clean = read_findings(records[2:4], AuditedPort("mx1", "smtp", 25), {})
    assert clean.ok
    assert clean.to_json()["ok"] is True
