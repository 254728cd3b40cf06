"""The lab CA: one per lab, issuing each host's certificate for its FQDN the way a public CA
does — valid for 90 days, renewed when a third of that is left, each naming the CRL the lab
serves (from its DNS container, at ``http://pki.<primary domain>/ca.crl``).

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

__all__ = ["CRL_FILE", "HostCertificate", "LabCA", "crl_url"]

#: the CA's own lifetime (it never reaches a server's chain)
_CA_DAYS = 825
#: a server certificate's lifetime and when it is renewed (public CAs: 90 days, renewed at 30)
_LEAF_DAYS = 90
_RENEW_DAYS = 30
#: how long one CRL is current; it is made again at every `lab up`
_CRL_DAYS = 7
#: the CRL's file name where the lab serves it
CRL_FILE = "ca.crl"


def crl_url(primary_domain: str) -> str:
    """Where the lab serves its CA's CRL: the name its DNS gives the DNS container."""
    return f"http://pki.{primary_domain}/{CRL_FILE}"


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


#: what a server certificate's key may do (ECDSA: sign the handshake)
_LEAF_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


class LabCA:
    """A CA kept in ``folder`` (ca.crt, ca.key), made on first use; its certificates name
    ``crl_url`` as their CRL distribution point."""

    def __init__(self, folder: Path, lab: str, crl_url: str) -> None:
        self.folder = folder
        self.lab = lab
        self.crl_url = crl_url
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
            .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
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

    def _current(self, cert_path: Path, key_path: Path) -> bool:
        """An issued certificate still good to serve: not due for renewal, and naming this
        CA's CRL (a lab made before the CRL existed gets new ones)."""
        if not (cert_path.is_file() and key_path.is_file()):
            return False
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        renew_at = cert.not_valid_after_utc - dt.timedelta(days=_RENEW_DAYS)
        try:
            points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        except x509.ExtensionNotFound:
            return False
        urls = {n.value for p in points for n in p.full_name or ()}
        return dt.datetime.now(dt.UTC) < renew_at and urls == {self.crl_url}

    def issue(self, fqdn: str, *names: str) -> HostCertificate:
        """A server certificate for ``fqdn`` (and ``names``), reused until due for renewal."""
        ca_cert, ca_key = self._load_or_create()
        cert_path = self.folder / f"{fqdn}.crt"
        key_path = self.folder / f"{fqdn}.key"
        if self._current(cert_path, key_path):
            return HostCertificate(cert_path, key_path)
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        crl_point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(self.crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=_LEAF_DAYS))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in (fqdn, *names)]), False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_LEAF_USAGE, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.CRLDistributionPoints([crl_point]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_key(key_path, key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return HostCertificate(cert_path, key_path)

    def crl(self) -> bytes:
        """The CA's current CRL (DER, as served over HTTP): signed now, current for a week;
        it revokes nothing (a lab replaces certificates, it never withdraws one)."""
        ca_cert, ca_key = self._load_or_create()
        now = dt.datetime.now(dt.UTC)
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=_CRL_DAYS))
            .add_extension(x509.CRLNumber(int(now.timestamp())), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        return crl.public_bytes(serialization.Encoding.DER)
