"""Preflight checks that talk SMTP to the inventory's own hosts, and nothing else: STARTTLS
offered on port 25 (and the certificate's key), and whether a From or Reply-To address of a
hosted domain is accepted at RCPT time (the dialogue ends before DATA; nothing is sent).
An address outside the inventory's domains is only looked up in DNS (MX, else A)."""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.dns.query import Querier
from harness.preflight.rules import Finding, finding
from harness.smtp.dialogue import SMTPDialogue
from harness.smtp.tls import client_context
from harness.verify.targets import Target

__all__ = ["check_receives", "check_tls"]

_MIN_RSA_BITS = 2048
_HELO = "preflight.mailstack.test"


def _key_finding(target: Target, der: bytes | None) -> Finding:
    if not der:
        return finding("tls.key", None, "no certificate")
    key = x509.load_der_x509_certificate(der).public_key()
    if isinstance(key, rsa.RSAPublicKey):
        shown = f"{target.name}: RSA {key.key_size} bits"
        return finding("tls.key", key.key_size >= _MIN_RSA_BITS, shown)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return finding("tls.key", key.curve.key_size >= 256, f"{target.name}: EC {key.curve.name}")
    return finding("tls.key", True, f"{target.name}: {type(key).__name__}")


def check_tls(target: Target, timeout: float = 20.0) -> list[Finding]:
    """STARTTLS on the host's port 25: offered, negotiated at TLS 1.2 or newer with a
    certificate that verifies for the host's name (against the inventory's CA)."""
    try:
        with SMTPDialogue(target.address, target.port("smtp"), timeout=timeout) as smtp:
            ehlo = smtp.cmd(f"EHLO {_HELO}")
            if "STARTTLS" not in ehlo.keywords:
                return [
                    finding("tls.offered", False, f"{target.name}: EHLO offers no STARTTLS"),
                    finding("tls.key", None, "no TLS"),
                ]
            reply = smtp.starttls(client_context(target.ca_file), target.tls_name)
            if reply.code != 220:
                return [
                    finding("tls.offered", False, f"{target.name}: STARTTLS -> {reply.code}"),
                    finding("tls.key", None, "no TLS"),
                ]
            sock = smtp.sock
            if not isinstance(sock, ssl.SSLSocket):
                raise ssl.SSLError("STARTTLS left the connection in the clear")
            version, cipher = sock.version() or "?", (sock.cipher() or ("?",))[0]
            der = sock.getpeercert(binary_form=True)
            smtp.cmd(f"EHLO {_HELO}")
            smtp.cmd("QUIT")
    except ssl.SSLError as exc:
        shown = f"{target.name}: TLS handshake failed ({exc.reason or exc})"
        return [finding("tls.offered", False, shown), finding("tls.key", None, "no TLS")]
    except (OSError, ConnectionError) as exc:
        shown = f"{target.name}: port 25 at {target.address}:{target.port('smtp')}: {exc}"
        return [finding("tls.offered", False, shown), finding("tls.key", None, "no TLS")]
    return [
        finding("tls.offered", True, f"{target.name}: {version} {cipher}"),
        _key_finding(target, der),
    ]


def _rcpt(target: Target, address: str, timeout: float) -> str:
    """The host's answer to RCPT TO:<address> from the null sender ("250 ..." etc.)."""
    with SMTPDialogue(target.address, target.port("smtp"), timeout=timeout) as smtp:
        smtp.cmd(f"EHLO {_HELO}")
        smtp.cmd("MAIL FROM:<>")
        reply = smtp.cmd(f"RCPT TO:<{address}>")
        smtp.cmd("QUIT")
    return f"{reply.code} {reply.text}"


def check_receives(
    addresses: Sequence[str], targets: Sequence[Target], querier: Querier, timeout: float = 20.0
) -> list[Finding]:
    """Each address can receive mail: a hosted one is accepted at RCPT time by a host that
    serves its domain; another one's domain has an MX (or an address)."""
    findings = []
    for address in dict.fromkeys(a.lower() for a in addresses if "@" in a):
        domain = address.rsplit("@", 1)[1]
        host = next((t for t in targets if domain in t.domains), None)
        if host is not None:
            try:
                answer = _rcpt(host, address, timeout)
            except (OSError, ConnectionError) as exc:
                answer = f"no answer ({exc})"
            ok = answer.startswith("250")
            findings.append(finding("reply.receives", ok, f"{address} at {host.name}: {answer}"))
            continue
        mx = querier.ask(domain, "MX")
        fallback = querier.ask(domain, "A") if not mx.rdatas else mx
        findings.append(
            finding(
                "reply.receives",
                bool(fallback.rdatas),
                f"{address}: MX {mx.show()}" + ("" if mx.rdatas else f", A {fallback.show()}"),
            )
        )
    return findings
