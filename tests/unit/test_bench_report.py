"""The bench report an admin reads: a realistic suite (the real generator against a small SMTP
server on 127.0.0.1 that files mail into Maildirs, a mail host whose commands run here) rendered
to HTML and read back with html.parser."""

from __future__ import annotations

import asyncio
import base64
import itertools
import math
import random
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

from harness.bench.baseline import PostfixTools, SourceResult
from harness.bench.model import BenchSuite, Cost, CostRow
from harness.bench.report import write_report
from harness.bench.result import load_result, save_result
from harness.bench.scenario import run_scenario
from harness.bench.spec import BenchSpec, parse_target
from harness.bench.standard import suite_result
from harness.errors import BenchError

#: Recipients at this domain are refused (550); the rest are filed under the mail root.
REFUSED_DOMAIN = "nowhere.test"


class MaildirServer:
    """ESMTP with PIPELINING on 127.0.0.1: each accepted message becomes a file in
    ``<root>/<domain>/<user>/Maildir/new``; ``delay`` seconds (at most) before each 250."""

    def __init__(self, root: Path, delay: float = 0.002) -> None:
        self.root = root
        self.delay = delay
        self.port = 0
        self._names = itertools.count()
        self._rng = random.Random(7)

    def _answer(self, line: bytes, rcpts: list[str]) -> bytes:
        """The reply to any command but DATA; MAIL and RCPT keep the envelope in ``rcpts``."""
        verb = line[:4].upper()
        if verb == b"EHLO":
            return b"250-local.test\r\n250-PIPELINING\r\n250 SIZE 10000000\r\n"
        if verb == b"MAIL":
            rcpts.clear()
            return b"250 2.1.0 Ok\r\n"
        if verb == b"RCPT":
            address = line.decode().split("<", 1)[1].split(">", 1)[0]
            if address.endswith("@" + REFUSED_DOMAIN):
                return b"550 5.1.1 no such user\r\n"
            rcpts.append(address)
            return b"250 2.1.5 Ok\r\n"
        if verb == b"RSET":
            return b"250 Ok\r\n"
        return b"502 5.5.2 unknown command\r\n"

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 local.test ESMTP\r\n")
        rcpts: list[str] = []
        try:
            while line := await reader.readline():
                if line[:4].upper() == b"QUIT":
                    writer.write(b"221 Bye\r\n")
                    break
                if line[:4].upper() != b"DATA":
                    writer.write(self._answer(line, rcpts))
                elif not rcpts:
                    writer.write(b"554 5.5.1 no valid recipients\r\n")
                else:
                    writer.write(b"354 go ahead\r\n")
                    data = await reader.readuntil(b"\r\n.\r\n")
                    await asyncio.sleep(self._rng.uniform(0, self.delay))
                    self._file(data, rcpts)
                    writer.write(b"250 2.0.0 Ok: queued\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _file(self, data: bytes, rcpts: list[str]) -> None:
        for address in rcpts:
            user, domain = address.split("@", 1)
            folder = self.root / domain / user / "Maildir" / "new"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{next(self._names)}.local").write_bytes(data)

    @contextmanager
    def running(self) -> Iterator[MaildirServer]:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        server: asyncio.Server | None = None

        async def start() -> None:
            nonlocal server
            server = await asyncio.start_server(self._session, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()

        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(start(), loop)
        assert ready.wait(10), "the local SMTP server did not start"
        try:
            yield self
        finally:
            assert server is not None

            async def stop(server: asyncio.Server) -> None:
                server.close()
                sessions = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in sessions:
                    task.cancel()
                await asyncio.gather(*sessions, return_exceptions=True)

            asyncio.run_coroutine_threadsafe(stop(server), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


@dataclass
class _Done:
    rc: int
    stdout: str
    stderr: str = ""


class LocalHost:
    """A mail host as testinfra's Host is used by the bench: commands run here; Postfix's
    queue reads ``queue`` (empty by default) and the fingerprint commands answer as Debian."""

    _FACTS: ClassVar[dict[str, str]] = {
        ". /etc/os-release": "Debian GNU/Linux 12 (bookworm)",
        "uname -r": "6.1.0-test",
        "nproc": "2",
        "postconf -h mail_version": "3.7.11",
        "dovecot --version": "2.3.19.1",
        "postconf -n": "myhostname = mx1.example.test",
    }

    def __init__(self, queue: int = 0) -> None:
        self.queue = queue

    def run(self, command: str) -> _Done:
        if command.startswith("postqueue -j") and "wc -l" in command:
            return _Done(0, f"{self.queue}\n")
        if command.startswith("postqueue"):
            return _Done(0, "")
        if command.startswith("python3 "):
            done = subprocess.run(
                [sys.executable, *shlex.split(command)[1:]],
                capture_output=True,
                text=True,
                check=False,
            )
            return _Done(done.returncode, done.stdout, done.stderr)
        for prefix, answer in self._FACTS.items():
            if command.startswith(prefix):
                return _Done(0, answer + "\n")
        return _Done(1, "")


class FakeSmtpSource(PostfixTools):
    """smtp-source's result without running it: ``rate`` messages a second."""

    def __init__(self, rate: float) -> None:
        super().__init__(Path("/nonexistent"))
        self.rate = rate

    def smtp_source(  # type: ignore[override] -- no timeout: nothing runs
        self,
        host: str,
        port: int,
        *,
        sessions: int,
        messages: int,
        size: int,
        sender: str,
        recipient: str,
    ) -> SourceResult:
        return SourceResult(messages, sessions, size, messages / self.rate)


# -- a suite, measured for real against the local server ----------------------------------------


def _spec(port: int, **changes: object) -> BenchSpec:
    spec = BenchSpec(
        target=parse_target(f"smtp://127.0.0.1:{port}"),
        sender="bench@client.test",
        recipients=("alice@example.test", "bob@example.test"),
        messages=200,
        sessions=4,
    )
    return replace(spec, **changes)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> BenchSuite:
    """The standard suite's five runs in small: every number from a real run."""
    root = tmp_path_factory.mktemp("vhosts")
    host = LocalHost()
    with MaildirServer(root).running() as server:
        port = server.port
        runs = {
            "sink": run_scenario(
                "sink",
                _spec(port, messages=300, sessions=8),
                maildir_root=None,
                baseline=FakeSmtpSource(10.0),
                repeats=2,
            ),
            "stack-25": run_scenario(
                "stack-25",
                _spec(port, pipelining=False),
                host=host,
                maildir_root=str(root),
                baseline=FakeSmtpSource(1e9),
            ),
            "stack-587": run_scenario(
                "stack-587",
                _spec(port, recipients=("alice@example.test", f"x@{REFUSED_DOMAIN}")),
                host=host,
                maildir_root=str(root),
            ),
            "ttm-half": run_scenario(
                "ttm-half",
                _spec(port, rate=400.0, messages=100),
                host=host,
                maildir_root=str(root),
            ),
            "ref": run_scenario(
                "ref",
                _spec(port, messages=100),
                host=host,
                maildir_root=None,
            ),
        }
    runs["stack-587"]["cost"] = _cost(runs["stack-587"]["outcomes"]["accepted"])
    return suite_result(runs, lab="bench", size="full")


def _cost(messages: int) -> Cost:
    """A breakdown as harness.bench.cost writes it (that one needs a lab container)."""
    parts = [("rspamd proxy", 6.5, 0), ("dovecot lmtp", 5.0, 2), ("postfix cleanup", 1.2, 1)]
    rows: list[CostRow] = [
        {
            "component": name,
            "group": name.split()[0],
            "processes": 1,
            "cpu_ms": ms * messages,
            "cpu_ms_per_message": ms,
            "fsyncs": fsyncs * messages,
            "fsyncs_per_message": fsyncs,
        }
        for name, ms, fsyncs in parts
    ]
    return {
        "seconds": 2.0,
        "messages": messages,
        "interval_ms": 250,
        "cpu_ms": 12.7 * messages,
        "cpu_ms_per_message": 12.7,
        "cpu_share": 1.2,
        "fsyncs": 3 * messages,
        "fsyncs_per_message": 3.0,
        "fsync_note": None,
        "rows": rows,
    }


class Page(HTMLParser):
    """What a reader sees: the header, each table under its heading, each image."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.header = ""
        self.commands: list[str] = []
        self.tables: dict[str, dict[str, list]] = {}  # type: ignore[type-arg]
        self.images: dict[str, str] = {}
        self._heading = ""
        self._in: set[str] = set()
        self._table: dict[str, list] | None = None  # type: ignore[type-arg]
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        self._in.add(tag)
        if tag == "h2":
            self._heading = ""
        elif tag == "table":
            self._table = self.tables[self._heading] = {"headers": [], "rows": []}
        elif tag == "tr" and self._table is not None and "tbody" in self._in:
            self._table["rows"].append([])
        elif tag in ("th", "td"):
            self._cell = [attr.get("class") or "", ""]
        elif tag == "img":
            self.images[attr["alt"] or ""] = attr["src"] or ""
        elif tag == "code" and attr.get("class") == "command":
            self.commands.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in.discard(tag)
        if tag in ("th", "td") and self._cell is not None and self._table is not None:
            if tag == "th":
                self._table["headers"].append(self._cell[1])
            else:
                self._table["rows"][-1].append((self._cell[1], self._cell[0]))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if "header" in self._in:
            self.header += data
        if "h2" in self._in:
            self._heading += data
        if self._cell is not None:
            self._cell[1] += data
        if "code" in self._in and self.commands and "header" in self._in:
            self.commands[-1] += data


def test_suite_report_reads_at_a_glance(suite: BenchSuite, tmp_path: Path) -> None:
    written = write_report(load_result(save_result(suite, tmp_path / "s.json")), tmp_path, "s")
    page = Page(written["html"].read_text())

    assert page.commands == ["make bench", "mailstack bench standard --lab bench"]
    assert "standard suite" in page.header
    assert "stack-587 → smtp://127.0.0.1:" in page.header
    assert "Debian GNU/Linux 12" in page.header  # the server's fingerprint
    assert suite["started"][:10] in page.header

    ratios = page.tables["Ratios (measured in the same run)"]
    assert ratios["headers"] == ["ratio", "value", "95% interval", "pairs", "goal", "verdict"]
    verdicts = {row[0][0]: row[5] for row in ratios["rows"]}
    assert verdicts["sink: mailstack / smtp-source"] == ("met", "met")  # smtp-source: 10/s
    assert verdicts["stack-25: mailstack / smtp-source"] == ("not met", "not-met")  # 1e9/s
    goals = {row[0][0]: row[4][0] for row in ratios["rows"]}
    assert goals["delivered/s: stack / Debian default"] == ">= 1.0"
    assert verdicts["delivered/s: stack / Debian default"][0] in ("met", "not met")
    assert verdicts["ttm p99 at half peak (s)"] == ("met", "met")
    ttm_value = next(r[1][0] for r in ratios["rows"] if r[0][0].startswith("ttm p99"))
    assert 0 < float(ttm_value) < 0.5  # milliseconds in seconds: small, never "0.0"

    numbers = [
        text
        for table in page.tables.values()
        for row in table["rows"]
        for text, kind in row
        if kind == "num"
    ]
    assert numbers
    assert not [n for n in numbers if re.fullmatch(r"0\.0+", n)]
    runs = page.tables["Runs"]
    assert "accepted (msg/s)" in runs["headers"]
    assert "p99 (ms)" in runs["headers"]
    assert [row[0][0] for row in runs["rows"]] == [
        "sink",
        "stack-25",
        "stack-587",
        "ttm-half",
        "ref",
    ]

    for name in ("sink", "stack-25", "stack-587", "ttm-half", "ref"):
        assert page.images[f"Throughput: {name}"].startswith("data:image/png;base64,")
    for alt in (
        "Message latency by percentile (nines)",
        "Message latency CDF",
        "Time to mailbox by percentile (nines)",
        "Postfix queue depth over time",
        "Server CPU per message by component",
    ):
        png = base64.b64decode(page.images[alt].removeprefix("data:image/png;base64,"))
        assert png.startswith(b"\x89PNG")

    cost = page.tables["Where the server's time goes (per accepted message)"]
    assert cost["headers"][:4] == ["run", "component", "processes", "CPU (ms/msg)"]
    components = [row[1][0] for row in cost["rows"]]
    assert components[1:] == ["rspamd proxy", "dovecot lmtp", "postfix cleanup"]
    assert components[0].startswith("all (CPU share 1.2")

    env = page.tables["Environment"]
    assert env["headers"][:3] == ["fact", "client", "server"]
    assert any(row[0][0] == "postfix" and row[2][0] == "3.7.11" for row in env["rows"])

    md = written["markdown"].read_text()
    assert "| ratio | value | 95% interval | pairs | goal | verdict |" in md
    assert "`make bench`" in md


def test_suite_runs_account_for_every_message(suite: BenchSuite) -> None:
    for run in suite["runs"].values():
        assert run["outcomes"]["balanced"]
    stack = suite["runs"]["stack-587"]
    assert stack["outcomes"]["rejected"] > 0  # the refused domain
    assert stack["delivery"]["delivered"] == stack["outcomes"]["accepted"]
    assert stack["delivery"]["intact"] is True
    assert "delivered" not in suite["runs"]["ref"]["delivery"]  # no Maildir scan
    ttm = suite["runs"]["ttm-half"]
    assert ttm["spec"]["mode"] == "open"
    assert ttm["delivery"]["ttm_ms"]["count"] == ttm["outcomes"]["accepted"]
    timeline = suite["runs"]["sink"]["timeline"]
    assert timeline["resolution_ms"] == 10
    assert sum(timeline["accepted"]) == suite["runs"]["sink"]["outcomes"]["accepted"]


def test_a_single_run_report_names_its_command(suite: BenchSuite, tmp_path: Path) -> None:
    run = suite["runs"]["stack-25"]
    page = Page(write_report(run, tmp_path, "run")["html"].read_text())
    (command,) = page.commands
    assert command.startswith("mailstack bench run smtp://127.0.0.1:")
    assert "-n 200 -c 4" in command
    assert "--no-pipelining" in command
    assert "--baseline smtp-source" in command
    assert "Ratios (measured in the same run)" not in page.tables
    assert "Throughput: stack-25" in page.images


def test_a_run_with_server_series_shows_them_on_the_runs_time_axis(
    suite: BenchSuite, tmp_path: Path
) -> None:
    run = dict(suite["runs"]["stack-25"])
    quantity = {"title": "Postfix queue", "unit": "messages", "query": "q"}
    run["server"] = {
        "prometheus": "http://192.0.2.9:9090",
        "start": 0.0,
        "end": 1.0,
        "step_s": 1.0,
        "rate_window_s": 4,
        "quantities": [
            {**quantity, "key": "queue", "hosts": {"mx1": [[-2.0, 0.0], [0.0, 5.0], [1.0, 2.0]]}},
            {**quantity, "key": "scan_ms", "hosts": {}},
        ],
        "missing": ["scan_ms"],
    }
    page = Page(write_report(run, tmp_path, "run")["html"].read_text())  # type: ignore[arg-type]
    (command,) = page.commands
    assert command.endswith("--prometheus http://192.0.2.9:9090")
    image = page.images["Server side: stack-25"]
    png = base64.b64decode(image.removeprefix("data:image/png;base64,"))
    assert png.startswith(b"\x89PNG")
    del run["server"]
    page = Page(write_report(run, tmp_path, "bare")["html"].read_text())  # type: ignore[arg-type]
    assert not [alt for alt in page.images if alt.startswith("Server side")]


def test_the_header_says_open_loop_for_a_scheduled_run(suite: BenchSuite) -> None:
    # Found on a campaign report: a shaped campaign (no rate, a schedule) read "closed loop"
    # in the header while its runs row said "open".
    from harness.bench.header import describe  # noqa: PLC0415

    run = suite["runs"]["stack-25"]
    assert "closed loop" in describe(run).measured
    scheduled = {**run, "spec": {**run["spec"], "rate": None, "mode": "open"}}
    assert "open loop on the campaign's schedule" in describe(scheduled).measured


def test_a_tracked_host_without_mail_root_is_refused() -> None:
    spec = _spec(1)
    with pytest.raises(BenchError, match="empty mail root"):
        run_scenario("t", spec, host=LocalHost(), maildir_root="")


def test_a_host_that_exported_nothing_for_a_while_shows_a_gap_not_a_line() -> None:
    from harness.bench.server_view import _with_gaps  # noqa: PLC0415

    xs, ys = _with_gaps([[0.0, 1.0], [2.0, 2.0], [10.0, 3.0], [12.0, 4.0]], 2.0)
    assert xs[:2] == [0.0, 2.0]
    assert xs[3:] == [10.0, 12.0]
    assert math.isnan(xs[2])
    assert math.isnan(ys[2])
    assert _with_gaps([[0.0, 1.0], [2.0, 2.0]], 2.0) == ([0.0, 2.0], [1.0, 2.0])
