"""Fixtures for end-to-end lab tests: a real engine, real images, real containers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from docker import DockerClient

from harness.cli import cli
from harness.config import STATE_DIR_ENV, Paths, paths
from harness.errors import EngineUnavailableError
from harness.lab.engine import ensure_engine
from harness.lab.lab import Lab
from harness.lab.zones import publish_lab_zones
from harness.provision import PlaybookResult, run_site
from tests.conftest import in_ci

BIN = Path(sys.executable).parent
# testinfra's ansible backend runs ansible-inventory by name: use the venv's.
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
MAIN_LAB = "t-main"
#: The provider-like receiver the main lab adds (MX of bigmail.test, Debian 13).
RECEIVER = "bigmail"


def main_topology() -> str:
    """The shipped default topology (mx1 Debian 12 for example.test, mx2 Debian 13 for
    peer.test), as `make demo` runs it, plus an extra port and group on mx2 to test those,
    and a provider-like receiver for outbound rehearsals."""
    text = resources.files("harness.lab").joinpath("default-topology.yml").read_text("utf-8")
    doc = yaml.safe_load(text)
    mx2 = next(h for h in doc["hosts"] if h["name"] == "mx2")
    mx2["ports"] = [4190]
    mx2["groups"] = [*mx2["groups"], "backup"]
    doc["hosts"].append({"name": RECEIVER, "distro": "debian13", "receiver": "gmail-like"})
    doc["domains"].append({"name": "bigmail.test", "mx": [RECEIVER]})
    return str(yaml.safe_dump(doc))


@pytest.fixture(scope="session")
def lab_paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Paths]:
    """Lab state for the test session lives in a temporary folder, not the user's .lab/."""
    state = tmp_path_factory.mktemp("state")
    old = os.environ.get(STATE_DIR_ENV)
    os.environ[STATE_DIR_ENV] = str(state)
    yield paths()
    if old is None:
        os.environ.pop(STATE_DIR_ENV, None)
    else:
        os.environ[STATE_DIR_ENV] = old


@pytest.fixture(scope="session")
def engine(lab_paths: Paths) -> DockerClient:
    try:
        return ensure_engine(lab_paths.engine_log)
    except EngineUnavailableError as exc:
        if in_ci():
            pytest.fail(f"CI=true and no Docker engine: {exc}")
        pytest.skip(f"no Docker engine, and CI is not set (with CI=true this fails): {exc}")


def run_cli(*args: str) -> Any:
    """Run the CLI in-process, expect success, return its JSON."""
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def main_lab(
    engine: DockerClient, lab_paths: Paths, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The default two-server lab (Debian 12 and 13), up for the whole session."""
    topo = tmp_path_factory.mktemp("topo") / "two.yml"
    topo.write_text(main_topology())
    data = run_cli("lab", "up", "--lab", MAIN_LAB, "--topology", str(topo))
    yield data
    Lab(engine, lab_paths, MAIN_LAB).down()


def ansible(
    *args: str, inventory: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), "-i", inventory, *args[1:]],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture(scope="session")
def converged(main_lab: dict[str, Any], lab_paths: Paths) -> PlaybookResult:
    """The main lab with the whole stack applied (the first, cold converge)."""
    result = run_site(lab_paths.project, str(main_lab["state"]["inventory"]))
    assert result.success, result.output[-5000:]
    publish_lab_zones(MAIN_LAB)  # DNS serves the DKIM keys the converge made
    return result


class RoleSettings:
    """A role converged with settings over the inventory's: ``first`` is that converge,
    ``again()`` runs the same once more (for idempotence)."""

    def __init__(self, converge: Any, first: PlaybookResult) -> None:
        self.again: Any = converge
        self.first = first


@contextmanager
def role_settings(
    lab_paths: Paths, inventory: str, role: str, settings: dict[str, Any], folder: Path
) -> Iterator[RoleSettings]:
    """``role`` (its tag ``role::ROLE``) converged with ``settings`` over the inventory's on every
    host, for the ``with`` block; converged back to the inventory's own settings after."""
    extra = folder / f"{role}-settings.yml"
    extra.write_text(yaml.safe_dump(settings))

    def converge(extra_vars: list[str]) -> PlaybookResult:
        return run_site(lab_paths.project, inventory, tags=f"role::{role}", extra_vars=extra_vars)

    applied = converge([f"@{extra}"])
    try:
        assert applied.success, applied.output[-3000:]
        yield RoleSettings(lambda: converge([f"@{extra}"]), applied)
    finally:
        restored = converge([])
        assert restored.success, restored.output[-3000:]
