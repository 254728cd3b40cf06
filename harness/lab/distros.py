"""The Debian releases a lab host can run, by the name topologies use."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DISTROS", "Distro", "get_distro"]


@dataclass(frozen=True)
class Distro:
    name: str
    codename: str
    version: str


DISTROS: dict[str, Distro] = {
    d.name: d
    for d in (
        Distro(name="debian12", codename="bookworm", version="12"),
        Distro(name="debian13", codename="trixie", version="13"),
    )
}


def get_distro(name: str) -> Distro:
    """The distro called ``name``; raises KeyError listing the known names."""
    try:
        return DISTROS[name]
    except KeyError:
        raise KeyError(f"unknown distro {name!r}; choose one of: {', '.join(DISTROS)}") from None
