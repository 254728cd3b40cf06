"""Where a result was measured: this machine, and the mail host when one is known."""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path
from typing import Any

from testinfra.host import Host

from harness import __version__

__all__ = ["local_fingerprint", "remote_fingerprint"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def local_fingerprint() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "mailstack": __version__,
    }


def _out(host: Host, command: str) -> str:
    result = host.run(command)
    return result.stdout.strip() if result.rc == 0 else ""


def remote_fingerprint(host: Host) -> dict[str, Any]:
    postconf = _out(host, "postconf -n")
    limits = _out(
        host,
        "cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max 2>/dev/null || "
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/memory/memory.limit_in_bytes "
        "2>/dev/null",
    )
    return {
        "distro": _out(host, ". /etc/os-release && echo $PRETTY_NAME"),
        "kernel": _out(host, "uname -r"),
        "cores": _out(host, "nproc"),
        "cgroup_limits": limits.splitlines(),
        "postfix": _out(host, "postconf -h mail_version"),
        "dovecot": _out(host, "dovecot --version"),
        "postconf_n_sha256": hashlib.sha256(postconf.encode()).hexdigest() if postconf else "",
    }
