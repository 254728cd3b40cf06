"""Baselines measured in the same run: Postfix's own smtp-source generator, and smtp-sink as a
null target. Both come from Debian's postfix package, unpacked (not installed) into the state
folder when the machine has no Postfix of its own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.bench.spec import BenchSpec
from harness.errors import BenchError
from harness.lab.hostpkgs import is_debian

__all__ = ["PostfixTools", "SourceResult"]


@dataclass(frozen=True)
class SourceResult:
    messages: int
    sessions: int
    size: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostfixTools:
    """smtp-source and smtp-sink, from the system or from the unpacked Debian package."""

    def __init__(self, tools_dir: Path) -> None:
        self.tools_dir = tools_dir

    def _unpacked(self) -> Path:
        return self.tools_dir / "postfix"

    def ensure(self) -> tuple[Path, dict[str, str]]:
        """Folder holding smtp-source/smtp-sink, and the environment to run them in."""
        system = shutil.which("smtp-source", path="/usr/sbin:/usr/bin")
        if system:
            return Path(system).parent, dict(os.environ)
        root = self._unpacked()
        if not (root / "usr/sbin/smtp-source").is_file():
            if not is_debian():
                raise BenchError(
                    "smtp-source (the baseline) is not installed",
                    hint="install Postfix's tools (Debian: postfix) or run without --baseline",
                )
            download = self.tools_dir / "download"
            shutil.rmtree(download, ignore_errors=True)
            download.mkdir(parents=True)
            done = self._apt_download(download)
            if done.returncode != 0:  # no package lists yet on a fresh machine
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
                done = self._apt_download(download)
            debs = list(download.glob("postfix_*.deb"))
            if done.returncode != 0 or not debs:
                raise BenchError(
                    f"could not fetch Debian's postfix package: {done.stderr.strip()[-200:]}",
                    hint="run apt-get update, or install postfix",
                )
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True)
        env = {**os.environ, "LD_LIBRARY_PATH": str(root / "usr/lib/postfix")}
        return root / "usr/sbin", env

    @staticmethod
    def _apt_download(folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["apt-get", "download", "postfix"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )

    def smtp_source_like(self, spec: BenchSpec) -> SourceResult:
        """smtp-source sending what ``spec`` sends (its target, sessions, count, mean size,
        sender and first recipient), the way a same-run baseline does."""
        if spec.target.tls or spec.target.user:
            raise BenchError(
                "the smtp-source baseline speaks plain SMTP only",
                hint="compare on an smtp:// target without TLS or AUTH",
            )
        return self.smtp_source(
            spec.target.host,
            spec.target.port,
            sessions=spec.sessions,
            messages=spec.messages,
            size=round(spec.sizes.mean),
            sender=spec.sender,
            recipient=spec.recipients[0],
        )

    def smtp_source(
        self,
        host: str,
        port: int,
        *,
        sessions: int,
        messages: int,
        size: int,
        sender: str,
        recipient: str,
        timeout: float = 600,
    ) -> SourceResult:
        """Send ``messages`` of ``size`` bytes over ``sessions`` reused connections (-d)."""
        bindir, env = self.ensure()
        cmd = [
            str(bindir / "smtp-source"),
            "-d",
            "-s",
            str(sessions),
            "-m",
            str(messages),
            "-l",
            str(size),
            "-f",
            sender,
            "-t",
            recipient,
            "-M",
            "source.mailstack.test",
            f"{host}:{port}",
        ]
        started = time.monotonic()
        done = subprocess.run(
            cmd, env=env, capture_output=True, text=True, check=False, timeout=timeout
        )
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise BenchError(f"smtp-source failed: {(done.stderr or done.stdout).strip()[-300:]}")
        return SourceResult(messages=messages, sessions=sessions, size=size, seconds=seconds)

    @contextmanager
    def smtp_sink(self) -> Iterator[int]:
        """A null SMTP server on 127.0.0.1 (PIPELINING, accepts everything); yields its port."""
        bindir, env = self.ensure()
        port = _free_port()
        proc = subprocess.Popen(
            [str(bindir / "smtp-sink"), "-u", "nobody", f"127.0.0.1:{port}", "1024"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None:
                        raise BenchError("smtp-sink exited at start") from None
                    time.sleep(0.05)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
