"""Load on a fleet lab the way the internet sends it: to the domain, through every MX. Each
client session starts at one MX (in turn, so all of them carry load) and goes on to the next
when that one does not let it in, as a sending MTA does with a domain's MX hosts. The mail
lands on the backend, whose Maildirs say what arrived."""

from __future__ import annotations

from dataclasses import dataclass, replace

import testinfra
from testinfra.host import Host

from harness.bench.spec import TargetURL
from harness.bench.targets import lab_target
from harness.chaos.run import ChaosLab
from harness.chaos.sender import SendPlan
from harness.errors import FleetError
from harness.lab.network import ensure_outside_address
from harness.lab.state import HostState
from harness.soak.mailboxes import Mailboxes

__all__ = ["FleetLoad"]

#: the sender: a server of another domain, as on port 25
_OUTSIDER = "fleet@client.test"


@dataclass(frozen=True)
class FleetLoad:
    lab: ChaosLab
    #: the mx tier, by name
    mx: tuple[HostState, ...]
    urls: tuple[TargetURL, ...]
    recipients: tuple[str, ...]
    #: the mailbox backend and its mailbox root
    backend: HostState
    mail_root: str

    @classmethod
    def of(cls, lab_name: str) -> FleetLoad:
        lab = ChaosLab.of(lab_name)
        hosts = {h.name: h for h in lab.state.hosts if h.name in lab.targets}
        mx = [hosts[n] for n, t in sorted(lab.targets.items()) if "mx" in t.tiers]
        if len(mx) < 2 or any(
            t.tiers == {"mx", "mailbox", "submission", "outbound"} for t in lab.targets.values()
        ):
            raise FleetError(
                f"lab {lab_name!r} is not a fleet with two or more MX",
                hint="bring one up with --topology harness/lab/fleet-topology.yml",
            )
        first = lab.targets[mx[0].name]
        backend = hosts[first.imap.name]
        # From the lab's outside address, as senders on the internet: a drained MX turns them
        # away while it still lets in verify, which comes from the gateway.
        outside = ensure_outside_address(lab_name, lab.state.subnet)
        urls = tuple(
            replace(lab_target(first.inventory, h.name, "smtp")[0], source=outside) for h in mx
        )
        acc = first.accounts
        return cls(
            lab=lab,
            mx=tuple(mx),
            urls=urls,
            recipients=tuple(a for a in (acc.mailbox, acc.other_mailbox) if a),
            backend=backend,
            mail_root=lab.targets[backend.name].mail_root,
        )

    def plan(self, rate: float, seconds: float, sessions: int) -> SendPlan:
        """``rate`` messages a second for ``seconds``, over ``sessions`` client sessions spread
        over the MX hosts, each falling over to the others."""
        return SendPlan(
            target=self.urls[0],
            fallbacks=self.urls[1:],
            sender=_OUTSIDER,
            recipients=self.recipients,
            rate=rate,
            seconds=seconds,
            sessions=sessions,
            label="fleet",
        )

    def shell(self, host: HostState) -> Host:
        return testinfra.get_host(f"docker://{host.container}")

    def mailboxes(self, since: float) -> Mailboxes:
        """The recipients' Maildirs on the backend, read from ``since`` (epoch) on."""
        return Mailboxes(self.shell(self.backend), self.mail_root, self.recipients, since)
