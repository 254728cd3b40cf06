"""What happened after the 250: queue depth sampled during the run, and delivery into Maildir
joined to the sent messages by token (time-to-mailbox, integrity)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from testinfra.host import Host

from harness.bench import stats
from harness.bench.model import Delivery

__all__ = [
    "Copies",
    "DeliveryReport",
    "QueueSampler",
    "delivery_json",
    "maildir_copies",
    "queued_reasons",
    "scan_maildirs",
    "scan_mbox",
    "wait_for_drain",
]

# Runs on the mail host: every Maildir file written since START, with its token, its send time
# and whether it carries a DKIM signature (signers prepend theirs, above the token).
_SCAN = r"""
import glob, json, os, sys
start, root = float(sys.argv[1]), sys.argv[2]
for path in glob.iglob(os.path.join(root, "*", "*", "Maildir", "**", "*"), recursive=True):
    if "/new/" not in path and "/cur/" not in path:
        continue
    try:
        st = os.stat(path)
        if st.st_mtime < start:
            continue
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        continue
    token = sent = None
    signed = False
    for line in head.split(b"\n"):
        if line[:15].lower() == b"dkim-signature:":
            signed = True
        elif line.startswith(b"X-Mailstack-Token: "):
            token = line[19:].strip().decode()
        elif line.startswith(b"X-Mailstack-Sent: "):
            sent = float(line[18:].strip())
        elif not line.strip():
            break
    if token:
        print(json.dumps([token, sent, st.st_mtime, signed]))
"""


def _queue_depth(host: Host) -> int:
    out = host.run("postqueue -j 2>/dev/null | wc -l")
    return int(out.stdout.strip() or 0) if out.rc == 0 else -1


class QueueSampler:
    """Samples the Postfix queue depth about once a second in a background thread."""

    def __init__(self, host: Host, started: float) -> None:
        self.host = host
        self.started = started
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            depth = _queue_depth(self.host)
            self.samples.append((round(time.time() - self.started, 2), depth))
            self._stop.wait(1.0)

    def __enter__(self) -> QueueSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# Runs on the mail host: polls the queue directories every 20 ms until every one is empty and
# prints that moment (the host's clock; lab containers share this machine's). A poll over SSH
# would add its round trip and a coarse interval to every drain time.
_DRAINED = r"""
import os, sys, time
spool, deadline = sys.argv[1], time.time() + float(sys.argv[2])
queues = [os.path.join(spool, q) for q in ("maildrop", "incoming", "active", "deferred", "hold")]
def complete(path):
    # cleanup sets the owner-execute bit when a message is whole: a file in incoming without
    # it is one being written, or left by a cleanup that died (never a 250, never delivered).
    try:
        return "/incoming/" not in path or os.stat(path).st_mode & 0o100
    except OSError:
        return False
def queued():
    return any(
        complete(os.path.join(d, f)) for q in queues for d, _, files in os.walk(q) for f in files
    )
while time.time() < deadline:
    if not queued():
        print(repr(time.time()))
        break
    time.sleep(0.02)
"""


def _queue_directory(host: Host) -> str:
    """Postfix's queue directory on ``host``, asked once per connection."""
    spool: str | None = getattr(host, "_mailstack_queue_directory", None)
    if spool is None:
        spool = host.run("postconf -h queue_directory").stdout.strip() or "/var/spool/postfix"
        setattr(host, "_mailstack_queue_directory", spool)  # noqa: B010 -- not a Host attribute
    return spool


def wait_for_drain(host: Host, timeout: float = 120.0, since: float | None = None) -> float | None:
    """Seconds from ``since`` (a time.time(); default: now) until the host's Postfix queue is
    empty of whole messages, every queue counted (hold too, as ``postqueue`` lists it); None
    when it is not empty within ``timeout``."""
    start = time.time() if since is None else since
    spool = _queue_directory(host)
    out = host.run(f"python3 -c {_quote(_DRAINED)} {_quote(spool)} {timeout:.1f}")
    try:
        return max(0.0, float(out.stdout.strip()) - start)
    except ValueError:
        return None


@dataclass
class DeliveryReport:
    delivered: int = 0
    missing: list[str] = field(default_factory=list)
    #: time-to-mailbox in seconds, one per delivered token (first copy)
    ttm: list[float] = field(default_factory=list)
    first_delivery: float | None = None
    last_delivery: float | None = None

    @property
    def delivered_rate(self) -> float | None:
        """Deliveries per second from the first to the last."""
        if self.first_delivery is None or self.last_delivery is None:
            return None
        span = self.last_delivery - self.first_delivery
        return self.delivered / span if span > 0 else None


def delivery_json(
    accepted: int,
    run_seconds: float,
    drain: float | None,
    queue: list[tuple[float, int]],
    report: DeliveryReport | None,
    still_queued: dict[str, int] | None = None,
) -> Delivery:
    """The result's delivery part: ``drain`` is how long the queue took to empty after the
    last 250 (None: it did not), ``report`` the Maildir scan (None: there was none)."""
    delivery: Delivery = {
        "accepted": accepted,
        # Delivered per second measured the same way on any server: everything accepted,
        # over the time from the first message to an empty queue.
        "drained_rate": None if drain is None else round(accepted / (run_seconds + drain), 2),
        "queue": queue,
        "queue_max": max((depth for _, depth in queue), default=0),
        "drain_seconds_after_last_250": None if drain is None else round(drain, 2),
    }
    if report is not None:
        delivery["delivered"] = report.delivered
        delivery["missing"] = len(report.missing)
        delivery["missing_tokens"] = report.missing[:100]
        delivery["intact"] = not report.missing
        delivery["delivered_rate"] = report.delivered_rate
        ttm = stats.histogram_of_seconds(report.ttm)
        if (ttm_ms := stats.summary(ttm)) is not None:
            delivery["ttm_ms"] = ttm_ms
            delivery["ttm_cdf_ms"] = stats.cdf(ttm)
    if still_queued:
        delivery["still_queued"] = still_queued
    return delivery


def _maildir_files(
    host: Host, since: float, root: str
) -> list[tuple[str, float | None, float, bool]]:
    """(token, send time, delivery time, DKIM-signed) of every message file in the Maildirs
    under ``root`` written since ``since`` (a message delivered twice is two files)."""
    out = host.run(f"python3 -c {_quote(_SCAN)} {since - 2:.3f} {_quote(root)}")
    files = []
    for line in out.stdout.splitlines():
        try:
            token, sent, delivered, signed = json.loads(line)
            files.append(
                (str(token), None if sent is None else float(sent), float(delivered), bool(signed))
            )
        except (ValueError, TypeError):
            continue
    return files


@dataclass
class Copies:
    """Every copy of every token found: its delivery times, and the tokens of which a copy
    arrived without a DKIM signature."""

    times: dict[str, list[float]] = field(default_factory=dict)
    unsigned: set[str] = field(default_factory=set)


def maildir_copies(
    host: Host, since: float, root: str, want: set[str] | None = None, settle: float = 0.0
) -> Copies:
    """The copies in the Maildirs under ``root`` since ``since``; scanned again (up to
    ``settle`` seconds) while a token of ``want`` has not arrived yet: the last deliveries can
    still be landing when the queue already reads empty."""
    deadline = time.monotonic() + settle
    while True:
        copies = Copies()
        for token, _, delivered, signed in _maildir_files(host, since, root):
            copies.times.setdefault(token, []).append(delivered)
            if not signed:
                copies.unsigned.add(token)
        if not want or want <= copies.times.keys() or time.monotonic() > deadline:
            return copies
        time.sleep(1.0)


def _scan_once(
    host: Host,
    accepted: dict[str, float],
    since: float,
    root: str,
    seen: dict[str, tuple[float, float]],
) -> None:
    for token, sent, delivered, _ in _maildir_files(host, since, root):
        if token in accepted and (token not in seen or delivered < seen[token][1]):
            seen[token] = (float(sent or accepted[token]), delivered)


def scan_maildirs(
    host: Host,
    accepted: dict[str, float],
    since: float,
    root: str,
    settle: float = 10.0,
) -> DeliveryReport:
    """Join the accepted tokens to what arrived in the Maildirs under ``root`` (the mail
    root of the host's inventory: ``<root>/<domain>/<user>/Maildir``).

    While tokens are missing it scans again (up to ``settle`` seconds): the last deliveries
    can still be landing when the queue listing already reads empty.
    """
    seen: dict[str, tuple[float, float]] = {}
    deadline = time.monotonic() + settle
    while True:
        _scan_once(host, accepted, since, root, seen)
        if len(seen) >= len(accepted) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    report = DeliveryReport(delivered=len(seen))
    report.missing = sorted(set(accepted) - set(seen))
    report.ttm = [max(0.0, d - s) for s, d in seen.values()]
    if seen:
        report.first_delivery = min(d for _, d in seen.values())
        report.last_delivery = max(d for _, d in seen.values())
    return report


# Runs on the mail host: the tokens in an mbox, which it then empties (its owner is the
# reference host's root; emptying keeps each scan as small as one round).
_MBOX = r"""
import sys
path = sys.argv[1]
try:
    with open(path, "r+b") as f:
        for line in f:
            if line.startswith(b"X-Mailstack-Token: "):
                print(line[19:].strip().decode())
        f.truncate(0)
except FileNotFoundError:
    pass
"""


def scan_mbox(host: Host, path: str, accepted: dict[str, float]) -> tuple[int, list[str]]:
    """(delivered, missing tokens) of the ``accepted`` tokens in the mbox ``path`` on
    ``host``, which is then emptied. Call it on a drained queue."""
    out = host.run(f"python3 -c {_quote(_MBOX)} {_quote(path)}")
    found = set(out.stdout.split()) & set(accepted)
    return len(found), sorted(set(accepted) - found)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def queued_reasons(host: Host) -> dict[str, int]:
    """Why messages still sit in the queue: each recipient's delay reason, counted."""
    out = host.run("postqueue -j 2>/dev/null")
    reasons: dict[str, int] = {}
    for line in out.stdout.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        for rcpt in entry.get("recipients", []):
            reason = str(rcpt.get("delay_reason") or entry.get("queue_name", "queued"))[:160]
            reasons[reason] = reasons.get(reason, 0) + 1
    return reasons
