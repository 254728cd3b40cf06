"""The one check every command makes before it acts on a lab: is it up?"""

from __future__ import annotations

from harness.config import paths
from harness.errors import LabNotUpError
from harness.lab.names import validate_lab_name
from harness.lab.state import LabState

__all__ = ["require_lab"]


def require_lab(name: str, *, topology: str | None = None, or_inventory: bool = True) -> LabState:
    """The state of the lab ``name``, or :class:`LabNotUpError` saying how to bring it up.

    ``topology`` goes into the hint when the command needs a particular one (the bench lab);
    ``or_inventory`` says whether the command could also take ``-i INVENTORY`` instead.
    """
    state = LabState.load(paths().lab(validate_lab_name(name)))
    if state is None:
        hint = f"mailstack lab up --lab {name}"
        if topology:
            hint += f" --topology {topology}"
        if or_inventory:
            hint += ", or pass -i INVENTORY"
        raise LabNotUpError(name, hint=hint)
    return state
