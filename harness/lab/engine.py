"""The Docker engine: find one that answers, or install Debian's docker.io and start dockerd."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import docker
import docker.errors
from docker import DockerClient

from harness.errors import EngineUnavailableError
from harness.lab.hostpkgs import ensure_host_packages, is_root

__all__ = ["cgroup_version", "connect", "ensure_engine"]

_ENGINE_BINARIES = {"dockerd": "docker.io", "iptables": "iptables"}
_START_TIMEOUT_S = 60.0


def connect() -> DockerClient | None:
    """A client for the engine that answers now, or None."""
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except (docker.errors.DockerException, OSError):
        return None
    return client


def _start_dockerd(log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            ["dockerd"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command, like a service would
        )


def ensure_engine(log_path: Path) -> DockerClient:
    """A client for a running engine; installs docker.io and starts dockerd when needed."""
    client = connect()
    if client is not None:
        return client
    if not is_root():
        raise EngineUnavailableError(
            "no Docker engine answers, and mailstack can only start one as root",
            hint="start Docker (systemctl start docker) or run as root",
        )
    ensure_host_packages(_ENGINE_BINARIES, "the lab's Docker engine")
    proc = _start_dockerd(log_path)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        client = connect()
        if client is not None:
            return client
        if proc.poll() is not None:
            raise EngineUnavailableError(
                f"dockerd exited with code {proc.returncode}",
                hint=f"read {log_path}",
            )
        time.sleep(0.5)
    raise EngineUnavailableError(
        f"dockerd did not answer within {_START_TIMEOUT_S:.0f} s", hint=f"read {log_path}"
    )


def cgroup_version(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """2 on a unified (v2) hierarchy, else 1."""
    return 2 if (cgroup_root / "cgroup.controllers").is_file() else 1
