"""Commands on inventory hosts over the inventory's own connection (testinfra's backend)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import testinfra
from testinfra.host import Host

__all__ = ["inventory_host"]


def inventory_host(name: str, inventory: str) -> Host:
    """testinfra's view of ``name``, connected the way ``inventory`` says (ssh, become...)."""
    # testinfra runs ansible-inventory by name: make it find the one beside this Python.
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = f"{bindir}{os.pathsep}{path}"
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}")
