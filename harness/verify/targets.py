"""What the verify suite checks, read from an Ansible inventory: hosts, addresses, accounts.

Variables are rendered by Ansible itself (a local ``debug`` task, no connection to the hosts), so
vault-held and templated values arrive as the roles see them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import VerifyError

__all__ = ["Accounts", "Target", "load_targets"]

#: Standard ports, used where the inventory does not map them (a real server).
STANDARD_PORTS = {
    "ssh": 22,
    "smtp": 25,
    "submissions": 465,
    "submission": 587,
    "imap": 143,
    "imaps": 993,
}
_RENDER = (
    "{{ {"
    "'ansible_host': ansible_host | default(inventory_hostname),"
    "'lab_ports': mailstack_lab_ports | default({}),"
    "'lab_fqdn': mailstack_lab_fqdn | default(''),"
    "'lab_ip': mailstack_lab_ip | default(''),"
    "'postfix_hostname': postfix_hostname | default(''),"
    "'size_limit': postfix_message_size_limit | default(26214400),"
    "'ca_file': tls_ca_certificate_src | default(''),"
    "'verify': mailstack_verify | default({}),"
    "'domains': mail_accounts_domains | default([]) | map(attribute='name') | list"
    "} | to_json }}"
)


@dataclass(frozen=True)
class Accounts:
    """Test accounts named by ``mailstack_verify`` in the inventory."""

    mailbox: str = ""
    password: str = ""
    other_mailbox: str = ""
    other_password: str = ""
    alias: str = ""
    alias_targets: tuple[str, ...] = ()
    catch_all_domain: str = ""
    quota_mailbox: str = ""
    quota_limit_bytes: int = 0


@dataclass(frozen=True)
class Target:
    """One mail host as the suite reaches it."""

    name: str
    inventory: str
    address: str
    tls_name: str
    ports: dict[str, int]
    size_limit: int
    ca_file: str
    domains: tuple[str, ...]
    accounts: Accounts = field(default_factory=Accounts)
    ipv6_address: str = ""
    #: the container's own address on the lab bridge (lab hosts only)
    lab_ip: str = ""

    def port(self, service: str) -> int:
        return self.ports[service]


def _ansible_bin(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else (shutil.which(name) or name)


def _run(cmd: list[str]) -> str:
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "ANSIBLE_VERBOSITY": "0", "ANSIBLE_NOCOLOR": "1"},
    )
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise VerifyError(
            f"{Path(cmd[0]).name} failed on the inventory: {' '.join(last) or 'no output'}",
            hint="check the inventory with ansible-inventory --list",
        )
    return done.stdout


def _accounts(raw: dict[str, Any], aliases: dict[str, list[str]]) -> Accounts:
    alias = str(raw.get("alias", ""))
    return Accounts(
        mailbox=str(raw.get("mailbox", "")),
        password=str(raw.get("password", "")),
        other_mailbox=str(raw.get("other_mailbox", "")),
        other_password=str(raw.get("other_password", raw.get("password", ""))),
        alias=alias,
        alias_targets=tuple(aliases.get(alias, [])),
        catch_all_domain=str(raw.get("catch_all_domain", "")),
        quota_mailbox=str(raw.get("quota_mailbox", "")),
        quota_limit_bytes=int(raw.get("quota_limit_bytes", 0)),
    )


def _ipv6_of(address: str) -> str:
    """An IPv6 address of a real server's name, or '' when it has none."""
    try:
        infos = socket.getaddrinfo(address, 25, socket.AF_INET6, socket.SOCK_STREAM)
    except (socket.gaierror, OSError):
        return ""
    return str(infos[0][4][0]) if infos else ""


def load_targets(inventory: str, group: str = "mail", limit: str | None = None) -> list[Target]:
    """The hosts of ``group`` (all hosts when the group is absent) in ``inventory``."""
    if not Path(inventory).exists():
        raise VerifyError(f"inventory {inventory!r} does not exist", hint="pass -i PATH")
    listing = json.loads(_run([_ansible_bin("ansible-inventory"), "-i", inventory, "--list"]))
    pattern = group if group in listing else "all"
    hosts_cmd = [_ansible_bin("ansible"), pattern, "-i", inventory, "-o"]
    if limit:
        hosts_cmd += ["--limit", limit]
    out = _run([*hosts_cmd, "-m", "ansible.builtin.debug", "-a", f"msg={_RENDER}"])
    aliases_out = _run(
        [
            *hosts_cmd,
            "-m",
            "ansible.builtin.debug",
            "-a",
            "msg={{ mail_accounts_aliases | default([]) | items2dict(key_name='address', "
            "value_name='to') | to_json }}",
        ]
    )
    alias_maps = {
        line.split(" | ", 1)[0]: json.loads(json.loads(line.split(" => ", 1)[1])["msg"])
        for line in aliases_out.splitlines()
        if " | SUCCESS => " in line
    }
    targets = []
    for line in out.splitlines():
        if " | SUCCESS => " not in line:
            continue
        name = line.split(" | ", 1)[0]
        data = json.loads(json.loads(line.split(" => ", 1)[1])["msg"])
        lab_ports = {int(k): int(v) for k, v in (data["lab_ports"] or {}).items()}
        ipv6 = ""
        if lab_ports:
            ports = {svc: lab_ports.get(p, p) for svc, p in STANDARD_PORTS.items()}
            address = "127.0.0.1"
        else:
            ports = dict(STANDARD_PORTS)
            address = str(data["ansible_host"])
            ipv6 = _ipv6_of(address)
        targets.append(
            Target(
                name=name,
                inventory=inventory,
                address=address,
                tls_name=data["lab_fqdn"] or data["postfix_hostname"] or name,
                ports=ports,
                size_limit=int(data["size_limit"]),
                ca_file=str(data["ca_file"]),
                domains=tuple(data["domains"]),
                accounts=_accounts(data["verify"] or {}, alias_maps.get(name, {})),
                ipv6_address=ipv6,
                lab_ip=str(data["lab_ip"]),
            )
        )
    if not targets:
        raise VerifyError(
            f"no hosts in group {pattern!r} of {inventory}", hint="put the mail servers in 'mail'"
        )
    return targets
