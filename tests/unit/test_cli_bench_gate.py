"""A bench run that accepts nothing (or too little) fails, with the reason on one line.

Real sockets on 127.0.0.1: a port where nothing listens, and a tiny asyncio SMTP server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.cli_run import mailstack


def _bench_run(url: str, *args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return mailstack("bench", "run", url, "--to", "a@example.test", "-c", "2", *args, state=state)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TinySMTP:
    """Just enough SMTP: accepts every ``accept_every``-th RCPT (0: none), 550 for the rest."""

    def __init__(self, accept_every: int = 0) -> None:
        self.accept_every = accept_every
        self.rcpts = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rcpt(self) -> str:
        self.rcpts += 1
        if self.accept_every and self.rcpts % self.accept_every == 0:
            return "250 2.1.5 Ok"
        return "550 5.1.1 <a@example.test>: Recipient address rejected"

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        replies = {
            b"EHLO": "250-tiny.test\r\n250 PIPELINING",
            b"HELO": "250 tiny.test",
            b"QUIT": "221 2.0.0 Bye",
        }
        writer.write(b"220 tiny.test ESMTP\r\n")
        accepted = 0
        try:
            while (line := await reader.readline()) and not line.upper().startswith(b"QUIT"):
                verb = line[:4].upper()
                if verb == b"MAIL":
                    accepted = 0
                if verb == b"RCPT":
                    answer = self._rcpt()
                    accepted += answer.startswith("250")
                elif verb == b"DATA" and not accepted:
                    answer = "554 5.5.1 Error: no valid recipients"
                elif verb == b"DATA":
                    writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    while (await reader.readline()) not in (b".\r\n", b""):
                        pass
                    answer = "250 2.0.0 Ok: queued"
                else:  # MAIL, RSET, NOOP
                    answer = replies.get(verb, "250 2.0.0 Ok")
                writer.write(answer.encode() + b"\r\n")
                await writer.drain()
            writer.write(replies[b"QUIT"].encode() + b"\r\n")
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._session, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())

    def __enter__(self) -> TinySMTP:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture
def refusing() -> Iterator[TinySMTP]:
    with TinySMTP() as server:
        yield server


def test_nothing_listening_fails_with_one_line(tmp_path: Path) -> None:
    url = f"smtp://127.0.0.1:{_free_port()}"
    done = _bench_run(url, "-n", "10", state=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = _error_lines(done.stderr)
    assert len(errors) == 1
    assert errors[0].startswith("error: bench run: none of 10 messages accepted")
    assert "10 connection_error" in errors[0]
    # --min-accepted 0% lets a run that accepted nothing pass, on purpose
    allowed = _bench_run(url, "-n", "4", "--min-accepted", "0%", state=tmp_path)
    assert allowed.returncode == 0, allowed.stderr


def test_every_rcpt_refused_fails_with_the_code(tmp_path: Path, refusing: TinySMTP) -> None:
    out = tmp_path / "r.json"
    done = _bench_run(
        f"smtp://127.0.0.1:{refusing.port}", "-n", "6", "--json", "--out", str(out), state=tmp_path
    )
    assert done.returncode == 1, done.stderr
    assert refusing.rcpts == 6
    errors = _error_lines(done.stderr)
    assert len(errors) == 1
    assert errors[0].startswith(
        "error: bench run: none of 6 messages accepted (6 rejected (550 x6)"
    )
    # --json: the result alone on stdout; --out: the same result on disk
    printed = json.loads(done.stdout)
    assert printed["outcomes"]["rejected"] == 6
    assert json.loads(out.read_text())["outcomes"] == printed["outcomes"]


def test_min_accepted_sets_the_bar(tmp_path: Path) -> None:
    with TinySMTP(accept_every=2) as half:
        url = f"smtp://127.0.0.1:{half.port}"
        passes = _bench_run(url, "-n", "10", state=tmp_path)
        assert passes.returncode == 0, passes.stderr
        below = _bench_run(url, "-n", "10", "--min-accepted", "99%", state=tmp_path)
    assert below.returncode == 1
    errors = _error_lines(below.stderr)
    assert len(errors) == 1
    assert "5 of 10 messages accepted (50.0%), below --min-accepted 99.0%" in errors[0]
    assert "5 rejected (550 x5)" in errors[0]
