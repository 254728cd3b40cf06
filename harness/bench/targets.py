"""What a bench command loads: a URL as given, or a service of an inventory's (or lab's) host."""

from __future__ import annotations

from dataclasses import dataclass

from harness.bench.spec import TargetURL, parse_target
from harness.errors import BenchError
from harness.lab.inventory import resolve_inventory
from harness.lab.names import container_name
from harness.verify.targets import STANDARD_PORTS, Target, load_targets

__all__ = ["SERVICES", "BenchTarget", "lab_target", "resolve_target"]

#: --service choices: the port of a host to load
SERVICES = ("smtp", "submission", "submissions")


@dataclass(frozen=True)
class BenchTarget:
    """Where the load goes; ``host`` and ``inventory`` are set when it is an inventory host
    (its test account, its mailbox root, and a connection to track delivery over)."""

    url: TargetURL
    host: Target | None = None
    inventory: str | None = None

    @property
    def container(self) -> str | None:
        """The lab container behind the target, when it is a lab host (for the cost
        breakdown, sampled on this machine)."""
        if self.host is None or not self.host.lab_name:
            return None
        return container_name(self.host.lab_name, self.host.name)


def _url(target: Target, service: str) -> TargetURL:
    """A lab host is loaded on its bridge address, not through the 127.0.0.1 port Docker
    publishes: the userland proxy behind published ports would cost the generator and the
    server CPU that a real client and server do not spend."""
    scheme = {"smtp": "smtp", "submission": "submission", "submissions": "smtps"}[service]
    if service not in target.services:
        raise BenchError(
            f"{target.name} does not offer {service} (switched off in its inventory)",
            hint=f"--service one of: {', '.join(sorted(target.services))}",
        )
    acc = target.accounts
    return TargetURL(
        scheme=scheme,
        host=target.lab_ip or target.address,
        port=STANDARD_PORTS[service] if target.lab_ip else target.port(service),
        starttls=service == "submission",
        implicit_tls=service == "submissions",
        user=acc.mailbox if service != "smtp" else "",
        password=acc.password if service != "smtp" else "",
        tls_name=target.tls_name,
        ca_file=target.ca_file,
    )


def _host(inventory: str, host: str | None) -> Target:
    targets = load_targets(inventory)
    if not targets:
        raise BenchError(f"no mail host in {inventory}", hint="add hosts to its group 'mail'")
    if host is None:
        return targets[0]
    found = next((t for t in targets if t.name == host), None)
    if found is None:
        known = ", ".join(t.name for t in targets)
        raise BenchError(f"no host {host!r} in {inventory}", hint=f"--host one of: {known}")
    return found


def lab_target(inventory: str, host: str, service: str) -> tuple[TargetURL, Target]:
    """The URL of ``service`` on ``host`` of an inventory, with its test account for AUTH."""
    target = _host(inventory, host)
    return _url(target, service), target


def resolve_target(
    url: str | None,
    *,
    inventory: str | None,
    lab_name: str,
    host: str | None,
    service: str,
) -> BenchTarget:
    """The one rule of every bench command: URL when given; else ``service`` on ``host``
    (default: the first mail host) of the inventory ``-i``, else of the lab ``--lab``."""
    if url:
        return BenchTarget(parse_target(url))
    inv = resolve_inventory(lab_name, inventory)
    target = _host(inv, host)
    return BenchTarget(_url(target, service), target, inv)
