"""The package set baked into lab images, read from the roles themselves.

A role declares the Debian packages it installs in its per-OS vars file
(``roles/<role>/vars/Debian-<version>.yml``, else ``Debian.yml``) as ``__<role>_packages``.
The lab bakes exactly those into the image, so a lab host converges with no network, and the
role stays the one place that names them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.errors import BuildError
from harness.lab.distros import Distro

__all__ = ["role_packages"]


def _vars_file(role: Path, distro: Distro) -> Path | None:
    for name in (f"Debian-{distro.version}.yml", "Debian.yml"):
        candidate = role / "vars" / name
        if candidate.is_file():
            return candidate
    return None


def role_packages(roles_dir: Path, distro: Distro) -> tuple[str, ...]:
    """Every package the roles under ``roles_dir`` install on ``distro``, sorted, no repeats."""
    found: set[str] = set()
    if not roles_dir.is_dir():
        return ()
    for role in sorted(p for p in roles_dir.iterdir() if p.is_dir()):
        path = _vars_file(role, distro)
        if path is None:
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        key = f"__{role.name}_packages"
        value = data.get(key, []) if isinstance(data, dict) else []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BuildError(
                f"{path}: {key} must be a list of package names, got {value!r}",
                hint="list plain Debian package names, no templating",
            )
        found.update(value)
    return tuple(sorted(found))
