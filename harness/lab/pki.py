"""The lab CA: one per lab, issuing each host's certificate for its FQDN.

The generated inventory hands these to the tls role as files on the controller, exactly as a
user hands it their own; the verify suite trusts the CA.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["HostCertificate", "LabCA"]

_VALID_DAYS = 825


@dataclass(frozen=True)
class HostCertificate:
    certificate: Path
    private_key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


class LabCA:
    """A CA kept in ``folder`` (ca.crt, ca.key), made on first use."""

    def __init__(self, folder: Path, lab: str) -> None:
        self.folder = folder
        self.lab = lab
        self.certificate_path = folder / "ca.crt"
        self._key_path = folder / "ca.key"

    def _load_or_create(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        if self.certificate_path.is_file() and self._key_path.is_file():
            cert = x509.load_pem_x509_certificate(self.certificate_path.read_bytes())
            key = serialization.load_pem_private_key(self._key_path.read_bytes(), None)
            if isinstance(key, ec.EllipticCurvePrivateKey):
                return cert, key
        self.folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"mailstack lab {self.lab} CA")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        _write_key(self._key_path, key)
        self.certificate_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert, key

    def issue(self, fqdn: str, *names: str) -> HostCertificate:
        """A server certificate for ``fqdn`` (and ``names``), reused when already issued."""
        ca_cert, ca_key = self._load_or_create()
        cert_path = self.folder / f"{fqdn}.crt"
        key_path = self.folder / f"{fqdn}.key"
        if cert_path.is_file() and key_path.is_file():
            return HostCertificate(cert_path, key_path)
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in (fqdn, *names)]), False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_key(key_path, key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return HostCertificate(cert_path, key_path)
