"""Provider-like receivers as lab hosts: harness/receiver copied into the container and run
by its systemd as ``mailstack-receiver``, with a profile from the shipped catalogue (or one the
harness sets later), the lab CA's certificate for STARTTLS, and its journal and store under
/var/lib/mailstack-receiver where the harness reads them."""

from __future__ import annotations

import json
import socket
import time
from importlib import resources
from typing import Any

from docker import DockerClient

from harness.errors import LabError
from harness.lab.containers import files_tar
from harness.lab.inventory import LOOPBACK
from harness.lab.pki import HostCertificate
from harness.lab.state import HostState

__all__ = [
    "RECEIVER_PACKAGES",
    "configure_receiver",
    "journal_lines",
    "read_journal",
    "receiver_config",
    "run_in",
    "start_receiver",
]

#: Debian packages the receiver runs on (baked into the receiver hosts' image).
RECEIVER_PACKAGES = ("python3-aiosmtpd", "python3-dkim", "python3-spf", "python3-dnspython")
SERVICE = "mailstack-receiver"
_ETC = "etc/mailstack-receiver"
_VAR = "/var/lib/mailstack-receiver"
JOURNAL = f"{_VAR}/journal.jsonl"
STORE = f"{_VAR}/store"
_UNIT = f"""[Unit]
Description=mailstack provider-like receiver (harness/receiver)
After=network.target

[Service]
WorkingDirectory=/opt/mailstack-receiver
ExecStart=/usr/bin/python3 -m receiver --config /{_ETC}/receiver.json
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""
_READY_SECONDS = 30


def receiver_config(host: HostState, profile: dict[str, Any], seed: int = 1) -> dict[str, Any]:
    """The receiver's JSON configuration for ``host`` with ``profile`` inlined."""
    return {
        "hostname": host.fqdn,
        "listen": {"host": "0.0.0.0", "port": 25},  # noqa: S104 -- the lab bridge only
        "journal": JOURNAL,
        "store": STORE,
        "tls": {"cert": f"/{_ETC}/cert.pem", "key": f"/{_ETC}/key.pem"},
        "seed": seed,
        "profile": profile,
    }


def _package_files() -> dict[str, tuple[bytes, int]]:
    package = resources.files("harness.receiver")
    return {
        f"opt/mailstack-receiver/receiver/{entry.name}": (entry.read_bytes(), 0o644)
        for entry in package.iterdir()
        if entry.name.endswith(".py")
    }


def run_in(client: DockerClient, host: HostState, *command: str, stderr: bool = True) -> str:
    """``command`` in the lab host's container, its output; LabError when it fails."""
    result = client.containers.get(host.container).exec_run(list(command), stderr=stderr)
    output = result.output.decode(errors="replace") if result.output else ""
    if result.exit_code != 0:
        raise LabError(
            f"{host.name}: '{' '.join(command)}' failed (exit {result.exit_code}): "
            f"{output.strip()[-300:]}",
            hint=f"mailstack lab ssh {host.name} -- journalctl -n 50",
        )
    return output


def _wait_ready(host: HostState) -> None:
    """Until port 25 (published on loopback) greets: the service listens."""
    deadline = time.monotonic() + _READY_SECONDS
    while True:
        try:
            with socket.create_connection((LOOPBACK, host.ports[25]), timeout=2) as sock:
                if sock.recv(4)[:1] in (b"2", b"4"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise LabError(
                f"the receiver on {host.name} does not answer on port 25 after {_READY_SECONDS} s",
                hint=f"mailstack lab ssh {host.name} -- journalctl -u {SERVICE}",
            )
        time.sleep(0.2)


def configure_receiver(
    client: DockerClient, host: HostState, profile: dict[str, Any], *, reset: bool = True
) -> None:
    """Give the running receiver ``profile`` and restart it; with ``reset`` its journal and
    store start empty (a rehearsal then reads only its own attempts)."""
    config = json.dumps(receiver_config(host, profile), indent=2).encode()
    client.api.put_archive(
        client.containers.get(host.container).id,
        "/",
        files_tar({f"{_ETC}/receiver.json": (config, 0o644)}),
    )
    if reset:
        run_in(client, host, "sh", "-c", f"rm -rf {STORE} && : > {JOURNAL}")
    run_in(client, host, "systemctl", "restart", SERVICE)
    _wait_ready(host)


def start_receiver(client: DockerClient, host: HostState, certificate: HostCertificate) -> None:
    """Install harness/receiver on ``host`` with its topology profile and start it."""
    from harness.receiver.catalogue import shipped_profile  # noqa: PLC0415

    files = {
        **_package_files(),
        f"{_ETC}/cert.pem": (certificate.certificate.read_bytes(), 0o644),
        f"{_ETC}/key.pem": (certificate.private_key.read_bytes(), 0o600),
        f"{_ETC}/receiver.json": (
            json.dumps(
                receiver_config(host, shipped_profile(host.receiver).as_dict()), indent=2
            ).encode(),
            0o644,
        ),
        f"etc/systemd/system/{SERVICE}.service": (_UNIT.encode(), 0o644),
    }
    client.api.put_archive(client.containers.get(host.container).id, "/", files_tar(files))
    run_in(client, host, "mkdir", "-p", _VAR)
    run_in(client, host, "systemctl", "daemon-reload")
    run_in(client, host, "systemctl", "enable", "--now", SERVICE)
    _wait_ready(host)


def journal_lines(text: str) -> list[dict[str, Any]]:
    """The complete lines of a journal read while the receiver writes it: a last line
    without its newline is still being written, and is left for the next read."""
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def read_journal(client: DockerClient, host: HostState) -> list[dict[str, Any]]:
    """Every complete line of the receiver's journal, parsed."""
    return journal_lines(run_in(client, host, "sh", "-c", f"cat {JOURNAL} || true", stderr=False))
