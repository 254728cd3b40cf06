"""The package set baked into lab images, read from the roles themselves.

A role declares the Debian packages it installs in its per-OS vars files
(``roles/<role>/vars/Debian.yml`` and ``Debian-<version>.yml``, both loaded when present) as
``__<role>_packages``, or ``__<role>_<what>_packages`` for packages only some settings install
(rspamd's Redis).
The lab bakes exactly those into the image, so a lab host converges with no network, and the
role stays the one place that names them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.errors import BuildError
from harness.lab.distros import Distro

__all__ = ["role_packages"]


def _vars_files(role: Path, distro: Distro) -> list[Path]:
    """The role's per-OS vars files for ``distro``, in the order the role loads them."""
    names = ("Debian.yml", f"Debian-{distro.version}.yml")
    return [role / "vars" / n for n in names if (role / "vars" / n).is_file()]


def role_packages(roles_dir: Path, distro: Distro) -> tuple[str, ...]:
    """Every package the roles under ``roles_dir`` install on ``distro``, sorted, no repeats."""
    found: set[str] = set()
    if not roles_dir.is_dir():
        return ()
    for role in sorted(p for p in roles_dir.iterdir() if p.is_dir()):
        for path in _vars_files(role, distro):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(data, dict):
                continue
            prefix = f"__{role.name}_"
            for key, value in data.items():
                if not (key.startswith(prefix) and key.endswith("packages")):
                    continue
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise BuildError(
                        f"{path}: {key} must be a list of package names, got {value!r}",
                        hint="list plain Debian package names, no templating",
                    )
                found.update(value)
    return tuple(sorted(found))
