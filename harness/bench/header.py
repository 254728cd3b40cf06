"""The head of a bench report: what was measured, on what machine, when, and the command that
measures it again (rebuilt from the result as far as the JSON allows)."""

from __future__ import annotations

import datetime as dt
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.bench.model import BenchResult, BenchRun, Fingerprint, runs_of
from harness.bench.tables import sig

__all__ = ["Header", "describe", "machine_line", "reproduce", "when_line"]


@dataclass(frozen=True)
class Header:
    title: str
    measured: str
    machine: str
    when: str
    #: shell commands that measure the same again; the first is the usual one
    commands: tuple[str, ...]
    #: what the commands leave for the reader to fill in
    placeholders: str = ""


def when_line(started: str) -> str:
    try:
        at = dt.datetime.fromisoformat(started)
    except ValueError:
        return started
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def machine_line(label: str, facts: Fingerprint | None) -> str:
    if not facts:
        return f"{label}: not recorded"
    if label == "client":
        parts = [
            f"{facts.get('cpu', '?')} ({facts.get('cores', '?')} cores)",
            f"kernel {facts.get('kernel', '?')}",
            f"Python {facts.get('python', '?')}",
            f"mailstack {facts.get('mailstack', '?')}",
        ]
    else:
        parts = [
            str(facts.get("distro") or "?"),
            f"{facts.get('cores') or '?'} cores",
            f"Postfix {facts.get('postfix') or '?'}",
            f"Dovecot {facts.get('dovecot') or '-'}",
        ]
    return f"{label}: " + ", ".join(parts)


def _size(sizes: dict[str, float]) -> str:
    def one(size: int) -> str:
        for unit, factor in (("m", 1024 * 1024), ("k", 1024)):
            if size % factor == 0:
                return f"{size // factor}{unit}"
        return str(size)

    if len(sizes) == 1:
        return one(int(next(iter(sizes))))
    return ",".join(f"{one(int(s))}:{w:g}" for s, w in sizes.items())


def _url(run: BenchRun) -> str:
    """The target URL; credentials (never stored) as placeholders."""
    target = run["spec"]["target"]
    if not run["spec"]["auth"]:
        return target
    parts = urlsplit(target)
    return f"{parts.scheme}://USER:PASSWORD@{parts.netloc}"


def _run_command(run: BenchRun) -> str:
    spec = run["spec"]
    if "campaign" in run:
        campaign = run["campaign"]
        where = ["--lab", "LAB", "--outbound"] if "outbound" in run else [_url(run)]
        args = ["mailstack", "bench", "campaign", *where]
        args += ["--recipients", "RECIPIENTS.csv", "--subject", "SUBJECT", "--body", "BODY.j2"]
        args += ["--shape", campaign["shape"], "-c", str(spec["sessions"])]
        return shlex.join(args)
    args = ["mailstack", "bench", "run", _url(run), "--to", "ADDRESS"]
    args += ["-n", str(spec["messages"]), "-c", str(spec["sessions"])]
    if spec["rate"]:
        args += ["--rate", f"{spec['rate']:g}"]
    if (size := _size(spec["sizes"])) != "2k":
        args += ["--size", size]
    if spec["recipients_per_message"] != 1:
        args += ["--rcpts", str(spec["recipients_per_message"])]
    if spec["workers"] != 1:
        args += ["--workers", str(spec["workers"])]
    if spec["engine"] != "pipelined":
        args += ["--engine", spec["engine"]]
    if not spec["pipelining"]:
        args.append("--no-pipelining")
    if "baseline" in run:
        args += ["--baseline", "smtp-source"]
    if "server" in run:
        args += ["--prometheus", run["server"]["prometheus"]]
    return shlex.join(args)


def reproduce(data: BenchResult) -> tuple[tuple[str, ...], str]:
    """The commands that measure ``data`` again, and the placeholders they hold."""
    if data["kind"] == "suite":
        lab = data.get("lab", "bench")
        quick = " --quick" if data.get("size") == "quick" else ""
        standard = f"mailstack bench standard --lab {shlex.quote(lab)}{quick}"
        if lab == "bench" and not quick:
            return ("make bench", standard), ""
        return (standard,), ""
    command = _run_command(data)
    held = [word for word in ("USER:PASSWORD", "ADDRESS", "RECIPIENTS.csv") if word in command]
    note = f"fill in {', '.join(held)}" if held else ""
    if "delivery" in data:
        note += ("; " if note else "") + (
            "delivery was tracked: give -i INVENTORY --host HOST instead of the URL"
        )
    return (command,), note


def describe(data: BenchResult) -> Header:
    runs = runs_of(data)
    if data["kind"] == "suite":
        title = "mailstack bench: standard suite"
        targets = "; ".join(f"{name} → {run['spec']['target']}" for name, run in runs.items())
        where = f" on lab {data['lab']!r}" if "lab" in data else ""
        size = f" ({data['size']} size)" if "size" in data else ""
        measured = f"The standard suite{where}{size}, {len(runs)} runs: {targets}"
    else:
        spec = data["spec"]
        kind = "Campaign rehearsal" if "campaign" in data else "Single run"
        title = f"mailstack bench: {kind.lower()} {data['name']!r}"
        load = (
            f"open loop at {sig(spec['rate'])} msg/s"
            if spec["rate"]
            else "open loop on the campaign's schedule"
            if spec["mode"] == "open"
            else "closed loop"
        )
        measured = (
            f"{kind} {data['name']!r} against {spec['target']}: {load}, "
            f"{spec['sessions']} sessions, {spec['messages']:,} messages of "
            f"{_size(spec['sizes'])}B, engine {spec['engine']}"
            + (", TLS" if spec["tls"] else "")
            + (", AUTH" if spec["auth"] else "")
        )
    env = data["environment"]
    machine = "; ".join(
        (machine_line("client", env.get("client")), machine_line("server", env.get("server")))
    )
    commands, placeholders = reproduce(data)
    return Header(title, measured, machine, when_line(data["started"]), commands, placeholders)
