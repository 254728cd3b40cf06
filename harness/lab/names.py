"""Names and labels of a lab's engine resources, derived from the lab name alone.

Because every name is derived, ``lab down`` finds what a crashed ``lab up`` left behind even
when no state file was written.
"""

from __future__ import annotations

import re

from harness.errors import LabError

__all__ = [
    "LAB_LABEL",
    "bridge_name",
    "container_name",
    "dns_container_name",
    "network_name",
    "validate_lab_name",
]

LAB_LABEL = "mailstack.lab"
_LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,11}$")


def validate_lab_name(name: str) -> str:
    if not _LAB_NAME.match(name):
        raise LabError(
            f"invalid lab name {name!r}",
            hint="1 to 12 lower-case letters, digits or '-' (it names a Linux bridge)",
        )
    return name


def network_name(lab: str) -> str:
    return f"mailstack-{lab}"


def bridge_name(lab: str) -> str:
    """The Linux bridge of the lab network; fixed so the firewall rule can name it."""
    return f"ms-{lab}"


def container_name(lab: str, host: str) -> str:
    return f"mailstack-{lab}-{host}"


def dns_container_name(lab: str) -> str:
    return f"mailstack-{lab}-dns"
