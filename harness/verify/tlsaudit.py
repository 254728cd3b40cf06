"""The TLS audit by an independent tool: testssl.sh (Debian's package) against every TLS port of
every host in an inventory — 25 and 587 with STARTTLS, 465 and 993 with TLS from the first
byte — trusting the inventory's CA. A HIGH or CRITICAL finding fails the audit unless it is one
of the documented exceptions below; a port testssl.sh could not test fails it as well.

The checks run: protocols, cipher categories, forward secrecy, server preference, the
certificate and the known vulnerabilities (``-p -s -f -P -S -U``): every check that rates a
finding HIGH or CRITICAL, without the client simulation and per-cipher listings that only
inform and double the run time.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from harness.errors import VerifyError
from harness.lab.hostpkgs import ensure_host_packages
from harness.verify.targets import Target

__all__ = [
    "AUDITED_SERVICES",
    "DOCUMENTED",
    "AuditedPort",
    "Finding",
    "audit_command",
    "audit_table",
    "audit_targets",
    "ports_to_audit",
    "read_findings",
]

#: service -> testssl.sh's STARTTLS protocol for it ('' : TLS from the first byte)
AUDITED_SERVICES = {"smtp": "smtp", "submission": "smtp", "submissions": "", "imaps": ""}
#: findings that fail the audit
FAILING = frozenset({"HIGH", "CRITICAL"})
#: testssl.sh's own trouble: the port was not (fully) tested
SCAN_PROBLEMS = frozenset({"FATAL", "WARN"})
#: checks that only inform (never rated above INFO), whose trouble is a note, not a problem:
#: testssl.sh 3.0 guesses session resumption from OpenSSL's output and, against TLS 1.3,
#: often cannot tell ("ID resumption test failed, pls report") though a plain
#: `openssl s_client -sess_out`/`-sess_in` pair shows the servers resume by ID and ticket
INFORMATIONAL = frozenset({"sessionresumption_ticket", "sessionresumption_ID"})
#: HIGH or CRITICAL findings the roles accept, by testssl.sh id, with the reason. Empty: the
#: roles configure away every one testssl.sh 3.0 raises (server cipher order, see the tls
#: role's tls_prefer_server_ciphers; a CRL in the lab CA's certificates).
DOCUMENTED: dict[str, str] = {}
_CHECKS = ("-p", "-s", "-f", "-P", "-S", "-U")
#: verdicts kept whatever their rating, for the report and for tests to read: the chain,
#: the certificate's revocation pointer and lifetime, the cipher order, and whether a client
#: may start a renegotiation (a cheap way to make the server burn CPU)
KEY_CHECKS = (
    "cert_chain_of_trust",
    "cert_crlDistributionPoints",
    "cert_revocation",
    "cert_validityPeriod",
    "cipher_order",
    "secure_client_renego",
)
#: one port takes about 30 s alone; the tests are mostly waits for the server's replies
_WORKERS = 4
#: a port whose run testssl.sh reports as incomplete is run again, alone, this many times: a
#: few of its checks give up on a handshake that is merely slow while other runs load the
#: machine ("sessionresumption_ticket: check failed because of connect problem")
_RERUNS = 1
_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    finding: str


@dataclass
class AuditedPort:
    """One host's port as testssl.sh saw it."""

    host: str
    service: str
    port: int
    #: HIGH/CRITICAL findings not documented as accepted
    failing: list[Finding] = field(default_factory=list)
    #: HIGH/CRITICAL findings accepted by DOCUMENTED
    accepted: list[Finding] = field(default_factory=list)
    #: MEDIUM and LOW findings: reported, not failing
    notes: list[Finding] = field(default_factory=list)
    #: what stopped testssl.sh from testing the port fully
    problems: list[Finding] = field(default_factory=list)
    #: KEY_CHECKS id -> "<severity>: <finding>"
    verdicts: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    #: how often it was run again, alone, after an incomplete run
    reruns: int = 0

    @property
    def ok(self) -> bool:
        return not self.failing and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def ports_to_audit(targets: Iterable[Target]) -> list[tuple[Target, str]]:
    """(target, service) for every TLS port the inventory switches on."""
    return [(t, service) for t in targets for service in AUDITED_SERVICES if service in t.services]


def audit_command(target: Target, service: str, json_file: Path) -> list[str]:
    """testssl.sh's command line for one port: the certificate's name as the URI (so its name
    check means something), the address from the inventory when it is one (a lab publishes
    on 127.0.0.1), the inventory's CA trusted when it names one."""
    cmd = ["testssl", "--quiet", "--color", "0", "--warnings", "off", *_CHECKS]
    cmd += ["--jsonfile", str(json_file)]
    if AUDITED_SERVICES[service]:
        cmd += ["--starttls", AUDITED_SERVICES[service]]
    if target.ca_file:
        cmd += ["--add-ca", target.ca_file]
    try:
        ipaddress.ip_address(target.address)
        cmd += ["--ip", target.address]
    except ValueError:
        pass  # a name: testssl.sh resolves it as any client would
    return [*cmd, f"{target.tls_name}:{target.port(service)}"]


def read_findings(
    records: list[dict[str, Any]], audited: AuditedPort, documented: dict[str, str]
) -> AuditedPort:
    """Sort testssl.sh's JSON records into ``audited``."""
    for record in records:
        finding = Finding(str(record["id"]), str(record["severity"]), str(record["finding"]))
        if finding.id in KEY_CHECKS:
            audited.verdicts[finding.id] = f"{finding.severity}: {finding.finding}"
        if finding.severity in FAILING:
            (audited.accepted if finding.id in documented else audited.failing).append(finding)
        elif finding.severity in SCAN_PROBLEMS and finding.id not in INFORMATIONAL:
            audited.problems.append(finding)
        elif finding.severity in ("MEDIUM", "LOW", *SCAN_PROBLEMS):
            audited.notes.append(finding)
    return audited


def _audit_one(target: Target, service: str, documented: dict[str, str]) -> AuditedPort:
    audited = AuditedPort(target.name, service, target.port(service))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mailstack-testssl-") as tmp:
        json_file = Path(tmp) / "findings.json"
        try:
            done = subprocess.run(
                audit_command(target, service, json_file),
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            audited.problems.append(
                Finding("timeout", "FATAL", f"testssl.sh ran over {_TIMEOUT_SECONDS} s")
            )
            return audited
        if not json_file.is_file() or not json_file.stat().st_size:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            audited.problems.append(
                Finding("no_result", "FATAL", f"exit {done.returncode}: {tail[0]}")
            )
            return audited
        read_findings(json.loads(json_file.read_text()), audited, documented)
    audited.seconds = round(time.monotonic() - started, 1)
    return audited


def audit_targets(
    targets: Iterable[Target],
    *,
    documented: dict[str, str] | None = None,
    on_done: Callable[[AuditedPort], None] | None = None,
) -> list[AuditedPort]:
    """Audit every TLS port of ``targets``, a few at a time; results in host, service order."""
    ensure_host_packages({"testssl": "testssl.sh"}, "the TLS audit")
    ports = ports_to_audit(targets)
    if not ports:
        raise VerifyError("the TLS audit found no host to audit in the inventory")
    accepted = DOCUMENTED if documented is None else documented
    report = on_done or (lambda _audited: None)

    def run(item: tuple[Target, str], reruns: int = 0) -> AuditedPort:
        audited = _audit_one(*item, accepted)
        audited.reruns = reruns
        if not audited.problems or reruns == _RERUNS:
            report(audited)
        return audited

    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        results = list(pool.map(run, ports))
    for reruns in range(1, _RERUNS + 1):
        for i, item in enumerate(ports):
            if results[i].problems:
                results[i] = run(item, reruns)
    return results


def audit_table(ports: list[AuditedPort]) -> Table:
    """One row per audited port: its verdict and what testssl.sh found."""
    table = Table(title="TLS audit (testssl.sh)")
    for header in ("host", "service", "port", "result", "HIGH/CRITICAL", "MEDIUM/LOW", "s"):
        table.add_column(header, justify="right" if header in ("port", "s") else "left")
    for a in ports:
        verdict = "[green]ok[/]" if a.ok else "[red]FAILED[/]"
        bad = [f"{f.severity} {f.id}: {f.finding}" for f in a.failing + a.problems]
        bad += [f"accepted {f.id}" for f in a.accepted]
        table.add_row(
            a.host,
            a.service,
            str(a.port),
            verdict,
            "\n".join(bad) or "none",
            ", ".join(f"{f.severity} {f.id}" for f in a.notes) or "none",
            f"{a.seconds:.0f}",
        )
    return table
