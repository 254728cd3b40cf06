"""What a fuzz run connects to (host, port, protocol, TLS and credentials) and how hard it may
wait (per step, per case, for stray replies), validated where it is built so a bad argument fails
before the first connection, naming itself."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Literal, get_args

from harness.smtp.tls import client_context

__all__ = ["KINDS", "FuzzLimits", "FuzzTarget", "Kind"]

Kind = Literal["smtp", "submission", "smtps", "imap", "imaps"]
#: smtp: port 25, STARTTLS when offered; submission: 587, STARTTLS then AUTH; smtps: 465,
#: implicit TLS; imap: 143, STARTTLS; imaps: 993, implicit TLS.
KINDS: tuple[str, ...] = get_args(Kind)


@dataclass(frozen=True)
class FuzzTarget:
    """One listener. ``rcpt`` and ``sender`` are the addresses of the valid transactions (the
    server must accept ``rcpt``); ``user`` and ``password`` let a case log in for real.
    Without ``ca_file`` the certificate is not checked: the fuzzer does not care who answers."""

    host: str
    port: int
    kind: Kind
    tls_name: str = ""
    ca_file: str = ""
    user: str = ""
    password: str = ""
    helo: str = "fuzz.mailstack.test"
    rcpt: str = ""
    sender: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if not self.host:
            raise ValueError("host is empty: pass the server's name or address, e.g. 127.0.0.1")
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range: use 1 to 65535")
        if bool(self.user) != bool(self.password):
            raise ValueError("user and password go together: pass both or neither")

    @property
    def protocol(self) -> Literal["smtp", "imap"]:
        return "imap" if self.kind in ("imap", "imaps") else "smtp"

    @property
    def implicit_tls(self) -> bool:
        return self.kind in ("smtps", "imaps")

    @property
    def starttls(self) -> bool:
        """Whether a case may upgrade the connection with STARTTLS."""
        return self.kind in ("smtp", "submission", "imap")

    @property
    def server_name(self) -> str:
        return self.tls_name or self.host

    @property
    def display(self) -> str:
        return f"{self.kind}://{self.host}:{self.port}"

    @property
    def sender_address(self) -> str:
        return self.sender or f"fuzz@{self.helo}"

    @property
    def rcpt_address(self) -> str:
        """``rcpt``, else "postmaster", which RFC 5321 4.5.1 has every server accept."""
        return self.rcpt or "postmaster"

    @property
    def rcpt_domain(self) -> str:
        return self.rcpt_address.rpartition("@")[2] if "@" in self.rcpt_address else self.host

    def tls_context(self) -> ssl.SSLContext:
        """Verified against ``ca_file`` (and ``tls_name``) when given, else unverified."""
        if self.ca_file:
            return client_context(self.ca_file)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx


@dataclass(frozen=True)
class FuzzLimits:
    """Bounds that keep every case finite, and the run's pace.

    ``quiet``: how long a silence means the server has nothing more to say, after input whose
    number of replies is not known in advance (garbage, bare line ends, smuggled data). A reply
    later than that is still handled (the case's token verdicts turn to "unanswered"), but it
    costs the verdicts: against a server that delays its error replies (Postfix sleeps
    ``smtpd_error_sleep_time``, 1 s, once a session passed ``smtpd_soft_error_limit``), a
    ``quiet`` above that delay keeps more of them firm. ``alive_every``: cases between two
    liveness checks. ``concurrency``: connections at once."""

    step_timeout: float = 5.0
    case_timeout: float = 20.0
    quiet: float = 0.25
    alive_every: int = 25
    concurrency: int = 1

    def __post_init__(self) -> None:
        for name in ("step_timeout", "case_timeout", "quiet"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} {getattr(self, name)} must be positive (seconds)")
        if self.case_timeout < self.step_timeout:
            raise ValueError(
                f"case_timeout {self.case_timeout} is shorter than step_timeout "
                f"{self.step_timeout}: raise case_timeout"
            )
        if self.alive_every < 1:
            raise ValueError(f"alive_every {self.alive_every} must be at least 1 (cases)")
        if self.concurrency < 1:
            raise ValueError(f"concurrency {self.concurrency} must be at least 1 (connections)")
