"""Where things live: the project tree (roles, playbooks) and the state folder of labs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Paths", "paths"]

STATE_DIR_ENV = "MAILSTACK_STATE_DIR"
HOME_ENV = "MAILSTACK_HOME"


@dataclass(frozen=True)
class Paths:
    """The folders the harness reads (project) and writes (state)."""

    project: Path
    state: Path

    @property
    def roles(self) -> Path:
        return self.project / "roles"

    @property
    def lab_group_vars(self) -> Path:
        return self.project / "inventory" / "lab" / "group_vars"

    @property
    def build(self) -> Path:
        """Scratch space for image builds (debootstrap trees, tarballs, logs)."""
        return self.state / "build"

    @property
    def tools(self) -> Path:
        """Tools unpacked for the host (Postfix's smtp-source and smtp-sink for bench baselines)."""
        return self.state / "tools"

    @property
    def engine_log(self) -> Path:
        return self.state / "dockerd.log"

    def lab(self, name: str) -> Path:
        """The one folder that holds all state of the lab ``name``."""
        return self.state / "labs" / name


def _project_root() -> Path:
    if env := os.environ.get(HOME_ENV):
        return Path(env).resolve()
    here = Path(__file__).resolve().parent.parent
    if (here / "roles").is_dir():
        return here
    return Path.cwd()


def paths() -> Paths:
    project = _project_root()
    state = Path(os.environ.get(STATE_DIR_ENV) or project / ".lab").resolve()
    return Paths(project=project, state=state)
