"""Bench targets from an inventory: a host's service as a URL with its test account."""

from __future__ import annotations

from harness.bench.spec import TargetURL
from harness.errors import BenchError
from harness.verify.targets import STANDARD_PORTS, Target, load_targets

__all__ = ["lab_target"]


def lab_target(inventory: str, host: str, service: str) -> tuple[TargetURL, Target]:
    """The URL of ``service`` on ``host`` of an inventory, with its test account for AUTH.

    A lab host is loaded on its bridge address, not through the 127.0.0.1 port Docker
    publishes: the userland proxy behind published ports would cost the generator and the
    server CPU that a real client and server do not spend.
    """
    found = [t for t in load_targets(inventory) if t.name == host]
    if not found:
        raise BenchError(f"no host {host!r} in {inventory}")
    target = found[0]
    scheme = {"smtp": "smtp", "submission": "submission", "submissions": "smtps"}[service]
    acc = target.accounts
    return (
        TargetURL(
            scheme=scheme,
            host=target.lab_ip or target.address,
            port=STANDARD_PORTS[service] if target.lab_ip else target.port(service),
            starttls=service == "submission",
            implicit_tls=service == "submissions",
            user=acc.mailbox if service != "smtp" else "",
            password=acc.password if service != "smtp" else "",
            tls_name=target.tls_name,
            ca_file=target.ca_file,
        ),
        target,
    )
