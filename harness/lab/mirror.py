"""Which Debian mirror to build lab images from: an env var, else the host's own apt sources.

The project never names a mirror host itself; it uses the one this machine already trusts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import MirrorError

__all__ = ["MIRROR_ENV", "SECURITY_MIRROR_ENV", "Mirror", "find_mirror"]

MIRROR_ENV = "MAILSTACK_DEBIAN_MIRROR"
SECURITY_MIRROR_ENV = "MAILSTACK_DEBIAN_SECURITY_MIRROR"
_CODENAMES = {"buster", "bullseye", "bookworm", "trixie", "forky", "sid", "stable", "testing"}


@dataclass(frozen=True)
class Mirror:
    archive: str
    security: str | None = None


@dataclass(frozen=True)
class _Source:
    uri: str
    suites: tuple[str, ...]


def _one_line_sources(text: str) -> Iterator[_Source]:
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options like [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            yield _Source(uri=words[0], suites=(words[1],))


def _deb822_sources(text: str) -> Iterator[_Source]:
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = tuple(fields.get("suites", "").split())
        for uri in fields.get("uris", "").split():
            yield _Source(uri=uri, suites=suites)


def _host_sources(apt_dir: Path) -> Iterator[_Source]:
    files = [apt_dir / "sources.list"]
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        files += sorted(parts.iterdir())
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if path.name.endswith(".sources"):
            yield from _deb822_sources(text)
        elif path.name.endswith(".list"):
            yield from _one_line_sources(text)


def find_mirror(env: Mapping[str, str] | None = None, apt_dir: Path = Path("/etc/apt")) -> Mirror:
    """The archive (and security) mirror: env vars first, then the host's apt sources."""
    env = os.environ if env is None else env
    archive = env.get(MIRROR_ENV)
    security = env.get(SECURITY_MIRROR_ENV)
    if not archive or not security:
        for src in _host_sources(apt_dir):
            if not src.uri.startswith(("http://", "https://")):
                continue
            if not security and any(s.endswith("-security") for s in src.suites):
                security = src.uri
            elif not archive and any(s in _CODENAMES for s in src.suites):
                archive = src.uri
    if not archive:
        raise MirrorError(
            f"no Debian archive mirror in {apt_dir}/sources.list*",
            hint=f"set {MIRROR_ENV}=http://<your mirror>/debian",
        )
    return Mirror(archive=archive.rstrip("/"), security=security.rstrip("/") if security else None)
