"""The shipped profile catalogue (profiles.yml beside this file).

YAML keeps a comment beside every value, saying which public guidance it imitates. Reading it
needs PyYAML (Debian: python3-yaml); the lab containers are given JSON configs with the profile
inlined (``python3 -m receiver --print-profile NAME`` makes that JSON), so they do not need it.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError
from .profile import Profile, profile_from_mapping

__all__ = ["CATALOGUE", "load_catalogue", "shipped_profile"]

CATALOGUE = Path(__file__).with_name("profiles.yml")


def load_catalogue(path: Path = CATALOGUE) -> dict[str, Profile]:
    """Every profile of a catalogue file, validated, by name."""
    try:
        import yaml  # noqa: PLC0415 -- only the catalogue needs PyYAML
    except ImportError as exc:
        raise ConfigError(
            "profile",
            f"naming a profile needs PyYAML to read {path.name}",
            hint="install python3-yaml, or inline the profile (--print-profile NAME on a host)",
        ) from exc
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConfigError(
            "<top>", "must map profile names to profiles", hint="see profiles.yml", source=str(path)
        )
    return {
        str(name): profile_from_mapping(body, path=str(name), name=str(name), source=str(path))
        for name, body in data.items()
    }


def shipped_profile(name: str) -> Profile:
    profiles = load_catalogue()
    if name not in profiles:
        raise ConfigError(
            "profile",
            f"no shipped profile {name!r}",
            hint=f"use one of {', '.join(sorted(profiles))} or inline a profile mapping",
        )
    return profiles[name]
