"""Finding the Debian mirror: the host's apt sources (both formats) or the env var."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import MirrorError
from harness.lab.mirror import MIRROR_ENV, find_mirror

DEB822 = """Types: deb
# a comment
URIs: http://mirror.example.test/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example.test/debian-security
Suites: bookworm-security
Components: main
"""


def _apt(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_deb822_sources(tmp_path: Path) -> None:
    apt = _apt(tmp_path, {"sources.list.d/debian.sources": DEB822})
    mirror = find_mirror({}, apt)
    assert mirror.archive == "http://mirror.example.test/debian"
    assert mirror.security == "http://security.example.test/debian-security"


def test_one_line_sources_with_options(tmp_path: Path) -> None:
    text = (
        "# deb http://commented.example.test/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://m.example.test/debian/ trixie main\n"
        "deb http://s.example.test/debian-security trixie-security main\n"
    )
    mirror = find_mirror({}, _apt(tmp_path, {"sources.list": text}))
    assert mirror.archive == "http://m.example.test/debian"
    assert mirror.security == "http://s.example.test/debian-security"


def test_disabled_and_foreign_files_are_ignored(tmp_path: Path) -> None:
    apt = _apt(
        tmp_path,
        {
            "sources.list.d/other.list.disabled": "deb http://x.example.test/debian bookworm\n",
            "sources.list.d/vendor.sources": "Types: deb\nURIs: http://v.example.test/\n"
            "Suites: nodistro\nComponents: main\n",
            "sources.list.d/off.sources": "Types: deb\nURIs: http://off.example.test/debian\n"
            "Suites: bookworm\nEnabled: no\n",
        },
    )
    with pytest.raises(MirrorError, match=MIRROR_ENV):
        find_mirror({}, apt)


def test_env_var_wins(tmp_path: Path) -> None:
    apt = _apt(tmp_path, {"sources.list.d/debian.sources": DEB822})
    mirror = find_mirror({MIRROR_ENV: "http://env.example.test/debian/"}, apt)
    assert mirror.archive == "http://env.example.test/debian"
    assert mirror.security == "http://security.example.test/debian-security"
