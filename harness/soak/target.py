"""Where a soak's load goes: a lab's mail host, the service loaded, who sends to whom, where
the copies land, and a shell on the host to watch its queue and its daemons."""

from __future__ import annotations

from dataclasses import dataclass

import testinfra
from testinfra.host import Host

from harness.bench.spec import BenchSpec, TargetURL
from harness.bench.targets import lab_target
from harness.chaos.run import ChaosLab
from harness.chaos.sender import SendPlan

__all__ = ["SoakTarget"]

#: the sender on port 25: a server of another domain
_OUTSIDER = "soak@client.test"


@dataclass(frozen=True)
class SoakTarget:
    lab: str
    host: str
    service: str
    url: TargetURL
    sender: str
    recipients: tuple[str, ...]
    mail_root: str
    shell: Host

    @classmethod
    def of(cls, lab_name: str, host_name: str | None, service: str) -> SoakTarget:
        lab = ChaosLab.of(lab_name)
        host = lab.host(host_name)
        url, target = lab_target(lab.targets[host.name].inventory, host.name, service)
        acc = target.accounts
        return cls(
            lab=lab_name,
            host=host.name,
            service=service,
            url=url,
            # Port 25 takes mail from other domains' servers; 587 from the host's own users.
            sender=acc.mailbox if service == "submission" else _OUTSIDER,
            # Two mailboxes, as the bench loads them: each grows half as fast.
            recipients=tuple(a for a in (acc.mailbox, acc.other_mailbox) if a),
            mail_root=target.mail_root,
            shell=testinfra.get_host(f"docker://{host.container}"),
        )

    def bench_spec(self, messages: int, sessions: int) -> BenchSpec:
        """A closed-loop bench run of ``messages`` over ``sessions`` connections."""
        return BenchSpec(
            target=self.url,
            sender=self.sender,
            recipients=self.recipients,
            messages=messages,
            sessions=sessions,
        )

    def send_plan(self, rate: float, seconds: float, sessions: int) -> SendPlan:
        """The soak's open loop: ``rate`` messages a second for ``seconds``."""
        return SendPlan(
            target=self.url,
            sender=self.sender,
            recipients=self.recipients,
            rate=rate,
            seconds=seconds,
            sessions=sessions,
            label="soak",
        )
