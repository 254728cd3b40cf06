"""SSH keys of a lab: one client key per lab, one host key per host, pinned in known_hosts.

The harness makes each host's key itself and writes it into the container before it starts,
so Ansible connects with strict host key checking and never has to trust on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["KeyPair", "known_hosts_line", "load_or_create_client_key", "new_keypair"]


@dataclass(frozen=True)
class KeyPair:
    private_openssh: bytes
    public_openssh: str


def new_keypair(comment: str) -> KeyPair:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return KeyPair(private, f"{public.decode()} {comment}")


def load_or_create_client_key(path: Path, comment: str) -> str:
    """The public key of the lab's client key at ``path``, made (mode 0600) when missing."""
    pub = path.with_name(path.name + ".pub")
    if not (path.is_file() and pub.is_file()):
        pair = new_keypair(comment)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pair.private_openssh)
        pub.write_text(pair.public_openssh + "\n")
    return pub.read_text().strip()


def known_hosts_line(host: str, port: int, public_openssh: str) -> str:
    """A known_hosts entry for ``host``:``port`` (the ``[host]:port`` form for non-22 ports)."""
    key_type, key_data = public_openssh.split()[:2]
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key_type} {key_data}"
