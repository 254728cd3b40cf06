"""User mistakes end in one line naming the problem and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import STATE_DIR_ENV
from harness.errors import EngineUnavailableError, LabNotUpError
from harness.lab import engine, hostpkgs
from harness.lab.containers import systemd_host_options
from harness.lab.network import SUBNET_POOL, pick_subnet

MAILSTACK = [sys.executable, "-m", "harness"]


def test_bad_topology_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("domains: [example.test]\nhosts:\n  - {name: mx1, distro: debian9}\n")
    done = subprocess.run(
        [*MAILSTACK, "lab", "up", "--topology", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "hosts[0].distro" in lines[0]
    assert "debian9" in lines[0]
    assert "debian12" in lines[0]  # how to mend it


@pytest.mark.parametrize(
    "args",
    [
        ["converge"],
        ["verify", "--json"],
        ["bench", "run", "-n", "1"],
        ["bench", "campaign", "--recipients", "{tmp}/r.csv", "--subject", "s", "--body", "{tmp}/b"],
        ["bench", "standard"],
        ["lab", "ssh", "mx1"],
    ],
    ids=lambda args: " ".join(a for a in args if not a.startswith(("-", "{"))),
)
def test_lab_not_up_is_one_error_everywhere(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "r.csv").write_text("email\na@example.test\n")
    (tmp_path / "b").write_text("hello\n")
    done = subprocess.run(
        [*MAILSTACK, *(a.format(tmp=tmp_path) for a in args), "--lab", "nolab"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, STATE_DIR_ENV: str(tmp_path / "state")},
    )
    assert done.returncode == LabNotUpError.exit_code
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: lab 'nolab' is not up (mailstack lab up --lab nolab")
    assert done.stdout == ""


def test_missing_engine_as_non_root_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "connect", lambda: None)
    monkeypatch.setattr(engine, "is_root", lambda: False)
    with pytest.raises(EngineUnavailableError, match="run as root"):
        engine.ensure_engine(Path("/nonexistent/dockerd.log"))


def test_missing_package_off_debian_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostpkgs, "is_debian", lambda: False)
    with pytest.raises(EngineUnavailableError, match="no-such-tool-pkg"):
        hostpkgs.ensure_host_packages({"no-such-tool-xyz": "no-such-tool-pkg"}, "a test")


def test_cgroup_version_is_detected_not_assumed(tmp_path: Path) -> None:
    assert engine.cgroup_version(tmp_path) == 1
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    assert engine.cgroup_version(tmp_path) == 2
    for version in (1, 2):
        opts = systemd_host_options(version)
        assert "privileged" not in opts  # --privileged fails on these machines
        assert opts["binds"]["/sys/fs/cgroup"]["mode"] == "rw"


def test_pick_subnet_avoids_what_is_taken() -> None:
    first = pick_subnet("lab-a", [])
    assert first.subnet_of(SUBNET_POOL)
    assert pick_subnet("lab-a", []) == first  # stable per name
    other = pick_subnet("lab-a", [first])
    assert other != first
    assert not other.overlaps(first)
