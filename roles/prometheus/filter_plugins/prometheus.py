"""Filters behind the prometheus role: which mail host each scrape job reaches, and where.

A job reaches a host when the host's inventory turns its exporter on and the host's tiers run
the daemon it watches (the rule site.yml sorts hosts by: Dovecot on the mailbox tier, Postfix
and rspamd on any other), at the host's fleet address (mail_common_fleet_address) and the port
its inventory sets, else the role's default.
"""

from __future__ import annotations

from typing import Any, NamedTuple

_TRUE = {"true", "yes", "on", "1"}


class _Job(NamedTuple):
    #: (variable, value when the inventory does not set it) that must be true (a list: not
    #: empty) on the host
    needs: tuple[str, bool] | None
    #: the host's own switch for this exporter (true when unset)
    switch: str | None
    #: the variable that sets the port on the host
    port_var: str | None
    #: the daemon the host's tiers must run: "postfix", "dovecot" or None (any host)
    daemon: str | None


JOBS = {
    "node": _Job(
        needs=("metrics_enabled", False),
        switch="metrics_node_exporter_enabled",
        port_var="metrics_node_exporter_port",
        daemon=None,
    ),
    "postfix": _Job(
        needs=("metrics_enabled", False),
        switch="metrics_postfix_exporter_enabled",
        port_var="metrics_postfix_exporter_port",
        daemon="postfix",
    ),
    "dovecot": _Job(
        needs=("dovecot_metrics_enabled", False),
        switch=None,
        port_var="dovecot_metrics_port",
        daemon="dovecot",
    ),
    # The controller answers another host only where the inventory trusts it (the rspamd role).
    "rspamd": _Job(
        needs=("rspamd_controller_trusted_networks", False),
        switch="mail_common_milter_enabled",
        port_var=None,
        daemon="postfix",
    ),
}


def _flag(value: Any, unset: bool) -> bool:
    """An inventory boolean as Ansible's ``bool`` filter reads it (``unset`` when it is not set)."""
    if value is None:
        return unset
    if isinstance(value, list | tuple):
        return len(value) > 0
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def _runs(daemon: str | None, tiers: list[str]) -> bool:
    if daemon == "dovecot":
        return "mailbox" in tiers
    if daemon == "postfix":
        return bool(set(tiers) - {"mailbox"})
    return True


def prometheus_targets(
    hosts: Any, hostvars: Any, addresses: Any, tiers: Any, job: str, port: Any
) -> list[dict[str, Any]]:
    """The static targets of ``job`` (a key of JOBS): one per host in ``hosts`` it reaches,
    as ``{"targets": ["address:port"], "labels": {"host": <inventory name>}}``. ``addresses``
    and ``tiers`` hold each host's fleet address and tiers, in the order of ``hosts``;
    ``port`` is the job's port where a host's inventory sets none."""
    if job not in JOBS:
        raise ValueError(f"no scrape job {job!r}: one of {', '.join(JOBS)}")
    spec = JOBS[job]
    found = []
    for host, address, host_tiers in zip(hosts or [], addresses or [], tiers or [], strict=True):
        values = hostvars[host]
        if spec.needs and not _flag(values.get(spec.needs[0]), spec.needs[1]):
            continue
        if spec.switch and not _flag(values.get(spec.switch), True):
            continue
        if not _runs(spec.daemon, list(host_tiers or [])):
            continue
        on_host = values.get(spec.port_var) if spec.port_var else None
        where = f"[{address}]" if ":" in str(address) else str(address)
        found.append(
            {"targets": [f"{where}:{int(on_host or port)}"], "labels": {"host": str(host)}}
        )
    return found


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"prometheus_targets": prometheus_targets}
