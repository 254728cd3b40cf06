"""``run_preflight``: every bulk-sender rule for one sending domain, its mail hosts and a
sample message, from the inventory's resolved settings and what DNS and a receiver say."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.utils import formatdate, make_msgid

from harness.bench.campaign import Campaign
from harness.dns.query import Querier, system_resolver
from harness.dns.settings import MailHost, parse_host
from harness.errors import DeliveryError, PreflightError
from harness.hosts import resolve_hosts
from harness.preflight.domain import check_domain, check_hosts
from harness.preflight.message import check_message, header_addresses
from harness.preflight.probes import check_receives, check_tls
from harness.preflight.rules import Finding, Status, finding, not_checked
from harness.preflight.sample import Seed, judge, send_sample
from harness.preflight.templates import check_templates, render_sample
from harness.verify.exchange import peers_of
from harness.verify.targets import Target, target_of

__all__ = ["PreflightReport", "default_sample", "run_preflight"]

_SAMPLE_RULES = ("spf.pass", "dkim.pass", "dmarc.pass", "tls.used", "unsubscribe.signed")


@dataclass
class PreflightReport:
    from_address: str
    sample: str
    receiver: str
    resolver: str
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def blockers(self) -> list[Finding]:
        return [f for f in self.findings if f.blocks]

    def to_json(self) -> dict[str, object]:
        return {
            "from": self.from_address,
            "sample": self.sample,
            "receiver": self.receiver,
            "resolver": self.resolver,
            "seconds": round(self.seconds, 2),
            "blockers": len(self.blockers),
            "warnings": sum(1 for f in self.findings if f.status is Status.FAIL and not f.blocks),
            "findings": [f.to_json() for f in self.findings],
        }


def default_sample(from_address: str) -> bytes:
    """A well-formed bulk message from ``from_address`` (when the admin gives none): what the
    stack does to any message, it does to this one."""
    domain = from_address.rsplit("@", 1)[1]
    return (
        f"From: <{from_address}>\r\nTo: <subscriber@{domain}>\r\nSubject: Preflight sample\r\n"
        f"Date: {formatdate()}\r\nMessage-ID: {make_msgid(domain=domain)}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"List-Unsubscribe: <https://{domain}/unsubscribe/preflight>\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\n"
        "A sample of the campaign, sent by mailstack preflight.\r\n\r\n"
        f"Unsubscribe: https://{domain}/unsubscribe/preflight\r\n"
    ).encode()


def _lab_seed(sender: Target, targets: list[Target]) -> Seed | None:
    peer = next(iter(peers_of(sender, targets)), None)
    if peer is None:
        return None
    box = peer.accounts
    return Seed(box.mailbox, peer, box.mailbox, box.password, authserv_id=peer.hostname)


def _sample_findings(
    sender: Target, raw: bytes, seed: Seed | None, from_domain: str
) -> tuple[list[Finding], str]:
    if seed is None:
        why = "no receiver: name a mailbox at another provider with --seed"
        return [not_checked(r, why) for r in _SAMPLE_RULES], "(none)"
    if not (sender.accounts.mailbox and sender.accounts.password):
        why = f"{sender.name} has no mailstack_verify mailbox and password to submit with"
        return [not_checked(r, why) for r in _SAMPLE_RULES], seed.address
    try:
        delivered = send_sample(sender, raw, seed, envelope_from=sender.accounts.mailbox)
    except DeliveryError as exc:
        return [not_checked(r, str(exc)) for r in _SAMPLE_RULES], seed.address
    signed = next(
        f
        for f in check_message(delivered.raw, size_limit=sender.size_limit)
        if f.rule.id == "unsubscribe.signed"
    )
    if signed.status is Status.NOT_APPLICABLE:  # the stack sent it unsigned
        signed = finding("unsubscribe.signed", False, "the copy that arrived is not signed")
    return [*judge(delivered, seed, from_domain, sender.hostname), signed], seed.address


def run_preflight(
    inventory: str,
    from_address: str,
    *,
    sample: bytes | None = None,
    campaign: Campaign | None = None,
    seed: Seed | None = None,
    resolver: tuple[str, int] | None = None,
    sample_name: str = "",
) -> PreflightReport:
    """Check ``from_address``'s domain, the hosts that send for it and a sample (given, the
    campaign's first message, or a built-in one). ``seed``: the receiving mailbox; without
    one, a lab inventory sends to a peer host's test mailbox, a real one skips those rules."""
    started = time.monotonic()
    from_address = from_address.strip().lower()
    domain = from_address.rpartition("@")[2]
    if "@" not in from_address or not domain:
        raise PreflightError(f"--from {from_address!r} is not an address", hint="news@your.domain")
    resolved = resolve_hosts(inventory)
    targets = [target_of(name, inventory, data) for name, data in resolved.items()]
    senders = [t for t in targets if domain in t.domains]
    if not senders:
        hosted = ", ".join(sorted({d for t in targets for d in t.domains}))
        raise PreflightError(
            f"--from {from_address}: no host of group mail serves {domain}",
            hint=f"send from a hosted domain ({hosted}) or add {domain} to mail_accounts_domains",
        )
    hosts: list[MailHost] = [parse_host(t.name, resolved[t.name]) for t in senders]
    server = resolver or senders[0].resolver or system_resolver()
    querier = Querier(server)
    findings: list[Finding] = []
    raw = sample
    if campaign is not None:
        findings.append(check_templates(campaign))
        if findings[-1].status is Status.PASS:
            raw = render_sample(campaign)
    raw = raw if raw is not None else default_sample(from_address)
    froms = header_addresses(raw, "from")
    if froms and froms[0].lower() != from_address:
        raise PreflightError(
            f"--from {from_address} but the sample's From is {froms[0]}",
            hint="check the sending address the campaign really uses",
        )
    findings += check_message(raw, size_limit=min(t.size_limit for t in senders))
    envelope = campaign.return_domain if campaign is not None else domain
    selectors = sorted(
        {
            k.selector
            for h in hosts
            for k in h.dkim
            if k.domain.rstrip(".") == domain and k.state == "active"
        }
    )
    findings += check_domain(domain, envelope, selectors, querier)
    findings += check_hosts(hosts, querier)
    for target in senders:
        findings += check_tls(target)
    findings += check_receives(header_addresses(raw, "from", "reply-to"), targets, querier)
    seed = seed or (_lab_seed(senders[0], targets) if senders[0].lab_name else None)
    sampled, receiver = _sample_findings(senders[0], raw, seed, domain)
    by_rule = {f.rule.id: f for f in sampled}
    findings = [by_rule.pop(f.rule.id, f) for f in findings] + list(by_rule.values())
    return PreflightReport(
        from_address=from_address,
        sample=sample_name or ("campaign" if campaign is not None else "built-in"),
        receiver=receiver,
        resolver=f"{server[0]}:{server[1]}",
        findings=findings,
        seconds=time.monotonic() - started,
    )
