"""Filters behind the metrics role: its settings checked (naming the variable at fault), and the
allowed networks split by address family, as nftables wants them in two sets."""

from __future__ import annotations

import ipaddress
from typing import Any


def metrics_errors(networks: Any, ports: Any, extra_ports: Any) -> list[str]:
    """Every problem of the role's settings, each naming its variable: an entry of
    ``metrics_allowed_networks`` that is not an address or a network, a port that is not 1 to
    65535 (``ports`` maps each port variable's name to its value; ``extra_ports`` is
    ``metrics_firewall_extra_ports``)."""
    errors = []
    named = {f"metrics_firewall_extra_ports[{i}]": p for i, p in enumerate(extra_ports or [])}
    for name, port in {**(ports or {}), **named}.items():
        if not (str(port).isdigit() and 1 <= int(port) <= 65535):
            errors.append(f"{name}: {port!r} is not a port (1 to 65535)")
    if not isinstance(networks, list):
        return [*errors, f"metrics_allowed_networks must be a list, got {networks!r}"]
    for i, entry in enumerate(networks):
        try:
            ipaddress.ip_network(str(entry).strip(), strict=False)
        except ValueError:
            errors.append(
                f"metrics_allowed_networks[{i}]: {entry!r} is not an address or a network "
                "(e.g. 192.0.2.10, 192.0.2.0/24, 2001:db8::/64)"
            )
    return errors


def metrics_networks(networks: Any, version: int) -> list[str]:
    """The networks of IP ``version`` (4 or 6) among ``networks``, in CIDR notation, without
    repeats, in order; an address with bits set under its prefix (192.0.2.5/24) stands for its
    network (192.0.2.0/24)."""
    found = [ipaddress.ip_network(str(n).strip(), strict=False) for n in networks or []]
    return list(dict.fromkeys(str(n) for n in found if n.version == version))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "metrics_errors": metrics_errors,
            "metrics_networks": metrics_networks,
        }
