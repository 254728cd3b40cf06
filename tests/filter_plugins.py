"""The roles' filter plugins as Python modules, for tests (Ansible loads them by path too)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROLES = Path(__file__).parents[1] / "roles"


def load_filters(role: str) -> ModuleType:
    """roles/<role>/filter_plugins/<role>.py, imported."""
    path = ROLES / role / "filter_plugins" / f"{role}.py"
    spec = importlib.util.spec_from_file_location(f"{role}_filters", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
