"""Installing the few Debian packages the harness needs on the machine it runs on."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from harness.errors import EngineUnavailableError

__all__ = ["ensure_host_packages", "is_debian", "is_root"]


def is_root() -> bool:
    return os.geteuid() == 0


def is_debian(root: Path = Path("/")) -> bool:
    return (root / "etc" / "debian_version").is_file()


def _missing(binaries: Mapping[str, str]) -> list[str]:
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return sorted(
        {pkg for binary, pkg in binaries.items() if not shutil.which(binary, path=search)}
    )


def ensure_host_packages(binaries: Mapping[str, str], purpose: str) -> None:
    """Make sure each binary is on this machine, installing its Debian package when missing.

    ``binaries`` maps a command name to the package that ships it. Where nothing can be installed
    (not root, not Debian) the error names the packages for the user to install.
    """
    packages = _missing(binaries)
    if not packages:
        return
    wanted = " ".join(packages)
    if not is_debian():
        raise EngineUnavailableError(
            f"{purpose} needs {wanted}, and this is not a Debian machine",
            hint=f"install {wanted} with your package manager",
        )
    if not is_root():
        raise EngineUnavailableError(
            f"{purpose} needs {wanted}, which is not installed",
            hint=f"run as root, or install it: sudo apt-get install -y {wanted}",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EngineUnavailableError(
                f"'{' '.join(cmd)}' failed: {tail[0]}",
                hint=f"install {wanted} by hand, then run again",
            )
    still = _missing(binaries)
    if still:
        raise EngineUnavailableError(f"installed {wanted}, but still missing: {' '.join(still)}")
