"""The named chaos scenarios: one fault each, where the load goes, and what must hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.chaos.faults import Fault
from harness.errors import ChaosError

__all__ = ["SCENARIOS", "Scenario", "pick_scenarios"]


@dataclass(frozen=True)
class Scenario:
    """``service``: where the clients send (smtp: port 25 to the host's own mailbox;
    submission: 587 with AUTH). ``to_peer``: the mail is for the lab's other mail host, so it
    leaves through the host's outbound queue. ``signed``: every copy that arrives must carry
    the host's DKIM signature (a fault in the signer must mean tempfail, never unsigned mail)."""

    name: str
    fault: Fault
    about: str
    service: Literal["smtp", "submission"] = "smtp"
    to_peer: bool = False
    signed: bool = False


def _kill(
    target: str,
    about: str,
    *,
    service: Literal["smtp", "submission"] = "smtp",
    to_peer: bool = False,
    signed: bool = False,
) -> Scenario:
    return Scenario(f"kill-{target}", Fault("kill", target), about, service, to_peer, signed)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _kill("postfix-master", "Postfix's master and so every Postfix daemon"),
        _kill("postfix-smtpd", "every smtpd, with sessions open"),
        _kill("postfix-cleanup", "every cleanup, with messages half written"),
        _kill("postfix-qmgr", "the queue manager"),
        _kill("postfix-lmtp", "Postfix's LMTP client, mid-delivery to Dovecot"),
        _kill("dovecot-lmtp", "Dovecot's LMTP server, mid-delivery to the Maildir"),
        _kill("dovecot-auth", "Dovecot's auth, while clients AUTH on 587", service="submission"),
        _kill(
            "rspamd",
            "rspamd, the signing milter, while clients send to the peer on 587",
            service="submission",
            to_peer=True,
            signed=True,
        ),
        Scenario("restart", Fault("restart"), "the whole host killed, then started again"),
        Scenario(
            "disk-full", Fault("disk-full"), "the receiving Maildir's filesystem full, then freed"
        ),
        Scenario(
            "peer-down",
            Fault("peer-down"),
            "the peer's port 25 unreachable, then back",
            service="submission",
            to_peer=True,
        ),
        Scenario("cpu-starve", Fault("cpu-starve"), "the host held to 3 % of one CPU"),
    )
}


def pick_scenarios(names: tuple[str, ...]) -> list[Scenario]:
    """The scenarios named (``all``: every one, in the order above), or ChaosError."""
    if not names or "all" in names:
        return list(SCENARIOS.values())
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ChaosError(
            f"--scenario {unknown[0]}: no such scenario",
            hint=f"one of: all, {', '.join(SCENARIOS)}",
        )
    return [SCENARIOS[n] for n in dict.fromkeys(names)]
