"""The SMTP and IMAP fuzzer (harness/fuzz) against real servers on 127.0.0.1: aiosmtpd (plain with
STARTTLS, submission with STARTTLS and AUTH, implicit TLS) whose handler keeps the token of every
message it accepted, a small honest IMAP line server, and line servers that misbehave on purpose
(broken replies, silence, no greeting after a while)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from harness.fuzz import FuzzLimits, FuzzReport, FuzzTarget, fuzz, run_fuzz
from harness.fuzz.imap_grammar import ImapStepKind, imap_kinds
from harness.fuzz.imap_reply import parse_line
from harness.fuzz.lab import crash_matches, largest_growth_mib, rss_by_family
from harness.fuzz.plan import CasePlan, case_seed
from harness.fuzz.run import plan_case, play_case
from harness.fuzz.smtp_driver import run_smtp_case
from harness.fuzz.smtp_grammar import StepKind, plan_smtp_case, smtp_kinds
from harness.fuzz.smtp_plan import Op, Piece, SmtpStep, command
from harness.fuzz.smtp_reply import line_problems
from harness.fuzz.smtp_steps import line_piece
from harness.lab.pki import LabCA
from harness.smtp.message import TOKEN_HEADER

USER, PASSWORD = "fuzzer", "s3cret"
RCPT, SENDER = "user@mx.example.test", "sender@example.test"
LIMITS = FuzzLimits(step_timeout=3.0, case_timeout=10.0, quiet=0.2, alive_every=25)
#: What aiosmtpd 1.4.4 is known to do under this fuzzer (echoes control bytes in its 500s,
#: answers commands injected before its STARTTLS handshake, says 220 to STARTTLS inside TLS,
#: ends DATA at <LF>.<CR><LF>): anything else it shows is news.
AIOSMTPD_FINDINGS = {"bad_reply", "starttls_injection", "starttls_twice", "smuggling"}


# -- servers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    cert: Path
    server: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A server certificate for localhost from a lab CA (the project's own), and that CA."""
    ca = LabCA(tmp_path_factory.mktemp("pki"), "fuzz-test", "http://pki.example.test/ca.crl")
    issued = ca.issue("localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(issued.certificate, issued.private_key)
    return Tls(ca.certificate_path, server)


class Recorder:
    """An aiosmtpd handler that keeps the token of every message it answers 250 to."""

    def __init__(self) -> None:
        self.tokens: set[str] = set()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content: bytes = envelope.original_content  # type: ignore[attr-defined]
        for raw in content.split(b"\n"):
            line = raw.rstrip(b"\r")
            if not line:
                break  # the end of the header block
            if line.startswith(f"{TOKEN_HEADER}:".encode()):
                self.tokens.add(line.split(b":", 1)[1].strip().decode())
                break
        return "250 2.0.0 Ok: queued"


class _Controller(Controller):
    """aiosmtpd's Controller on an ephemeral port (port=0)."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@contextlib.contextmanager
def aiosmtpd(kind: str, tls: Tls) -> Iterator[tuple[int, Recorder]]:
    options: dict[str, object] = {
        "smtp": {"tls_context": tls.server},
        "submission": {
            "tls_context": tls.server,
            "require_starttls": True,
            "auth_required": True,
            "authenticator": _authenticate,
        },
        "smtps": {"ssl_context": tls.server},
    }[kind]
    recorder = Recorder()
    controller = _Controller(recorder, hostname="127.0.0.1", port=0, **options)
    controller.start()
    try:
        yield controller.port, recorder
    finally:
        controller.stop()


def smtp_target(port: int, kind: str = "smtp", **extra: str) -> FuzzTarget:
    return FuzzTarget("127.0.0.1", port, kind, rcpt=RCPT, sender=SENDER, **extra)  # type: ignore[arg-type]


@dataclass
class Run:
    report: FuzzReport
    accepted: set[str]
    target: FuzzTarget


@pytest.fixture(scope="module")
def smtp_run(tls: Tls) -> Run:
    with aiosmtpd("smtp", tls) as (port, recorder):
        target = smtp_target(port)
        report = fuzz(target, cases=150, seconds=60, seed=7, limits=LIMITS)
    return Run(report, recorder.tokens, target)


@pytest.fixture(scope="module")
def submission_run(tls: Tls) -> Run:
    with aiosmtpd("submission", tls) as (port, recorder):
        target = smtp_target(port, "submission", user=USER, password=PASSWORD)
        report = fuzz(target, cases=60, seconds=60, seed=7, limits=LIMITS)
    return Run(report, recorder.tokens, target)


# -- arguments and plans ---------------------------------------------------------------------


def test_bad_arguments_name_themselves():
    target = smtp_target(25)
    with pytest.raises(ValueError, match="cases"):
        fuzz(target, cases=0, seconds=1, seed=1)
    with pytest.raises(ValueError, match="seconds"):
        fuzz(target, cases=1, seconds=0, seed=1)
    with pytest.raises(ValueError, match="kind 'pop3'"):
        FuzzTarget("127.0.0.1", 110, "pop3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="port"):
        FuzzTarget("127.0.0.1", 0, "smtp")
    with pytest.raises(ValueError, match="step_timeout"):
        FuzzLimits(step_timeout=0)


def test_plans_depend_only_on_seed_case_and_run_id():
    smtp = smtp_target(25, "submission", user=USER, password=PASSWORD)
    imap = FuzzTarget("127.0.0.1", 143, "imap", user=USER, password=PASSWORD)
    for target in (smtp, imap):
        first = [plan_case(target, i, 11, "run1") for i in range(60)]
        assert first == [plan_case(target, i, 11, "run1") for i in range(60)]
        other_seed = [plan_case(target, i, 12, "run1") for i in range(60)]
        assert sum(a != b for a, b in zip(first, other_seed, strict=True)) > 50
    assert case_seed(11, 3) == case_seed(11, 3) != case_seed(11, 4)
    assert case_seed(7, 0) == 0xDDA5906B84A43200  # blake2b: the same on every Python and machine
    # tokens carry the run id: two runs with one seed never share a token
    tokens = [t for step in plan_smtp_case(smtp, 5, 11, "runA").steps for t in step.tokens]
    assert tokens
    assert all("runA" in t for t in tokens)


def test_grammars_plan_every_step_kind_the_port_allows():
    full = smtp_target(587, "submission", user=USER, password=PASSWORD)
    kinds = {k for i in range(400) for k in plan_case(full, i, 1).kinds}
    assert kinds == set(StepKind)
    smtps = smtp_target(465, "smtps")
    kinds = {k for i in range(400) for k in plan_case(smtps, i, 1).kinds}
    assert kinds == smtp_kinds(smtps)
    assert not kinds & {"starttls", "starttls_inject", "starttls_abort_handshake", "auth"}
    imap = FuzzTarget("127.0.0.1", 143, "imap", user=USER, password=PASSWORD)
    assert {k for i in range(300) for k in plan_case(imap, i, 1).kinds} == set(ImapStepKind)
    imaps = FuzzTarget("127.0.0.1", 993, "imaps")
    kinds = {k for i in range(300) for k in plan_case(imaps, i, 1).kinds}
    assert kinds == imap_kinds(imaps)
    assert "login" not in kinds  # no credentials, no correct login


def test_reply_syntax_checks():
    assert line_problems(b"250 OK\r\n") == []
    assert line_problems(b"250\r\n") == []
    assert line_problems(b"250-SIZE 1000\r\n") == []
    assert line_problems(b"25O OK\r\n") == ["reply without a valid 3-digit code"]
    assert line_problems(b"610 OK\r\n") == ["reply without a valid 3-digit code"]
    assert line_problems(b"250 OK\n") == ["reply line ends in a bare LF"]
    assert line_problems(b"250_OK\r\n") == ["reply code not followed by a space or a hyphen"]
    assert line_problems(b"500 bad \x00 verb\r\n") == ["control byte in the reply text"]
    assert parse_line(b"a001 OK done\r\n").problems == ()
    assert parse_line(b"* 3 EXISTS\r\n").problems == ()
    assert parse_line(b"+ go ahead\r\n").status == "+"
    assert parse_line(b"* OK [CAPABILITY IMAP4rev1] ready\r\n").status == "OK"
    assert parse_line(b"a001 MAYBE\r\n").problems == (
        "tagged response whose status is not OK, NO or BAD",
    )
    assert parse_line(b"a{1 OK\r\n").kind == "unknown"
    assert parse_line(b"*\r\n").problems
    assert parse_line(b"a1 OK done\n").problems == ("response line ends in a bare LF",)


# -- SMTP against aiosmtpd -------------------------------------------------------------------


def _check_books(run: Run) -> None:
    """The fuzzer's accounting agrees with the server's: every message the handler took was
    completed by a client, and every completed message reached the handler."""
    report = run.report
    assert run.accepted == set(report.completed_tokens)
    assert set(report.completed_tokens) <= set(report.sent_tokens)
    assert report.unanswered_tokens == []
    assert len(report.completed_tokens) == len(set(report.completed_tokens))


def _check_health(report: FuzzReport, limits: FuzzLimits = LIMITS) -> None:
    assert report.alive_checks >= 1 + report.cases_run // limits.alive_every
    assert report.alive_failures == 0
    assert not [f for f in report.findings if f["kind"] in ("liveness", "driver_error")]
    assert "error" not in report.end_counts
    assert report.slowest_case <= limits.case_timeout + 1
    assert all(c.seconds <= limits.case_timeout + 1 for c in report.cases)


def test_smtp_run_keeps_exact_books(smtp_run: Run):
    report = smtp_run.report
    assert report.cases_run == 150
    _check_books(smtp_run)
    _check_health(report)
    assert len(smtp_run.accepted) >= 30  # the deep states were reached, many times
    assert {"220", "250", "354", "221", "500"} <= set(report.reply_codes)
    assert report.end_counts["closed_by_us"] > report.end_counts["closed_by_server"] > 0
    assert {f["kind"] for f in report.findings} <= AIOSMTPD_FINDINGS
    data = json.loads(json.dumps(report.to_json()))
    assert data["cases_run"] == 150
    assert len(data["cases"]) == 150
    case = data["cases"][0]
    assert {"case_id", "seed", "kinds", "replies", "end", "seconds"} <= set(case)


def test_submission_run_authenticates_and_keeps_exact_books(submission_run: Run):
    report = submission_run.report
    _check_books(submission_run)
    _check_health(report)
    assert report.step_counts["auth"] > 0
    assert report.step_counts["auth_bad"] > 0
    assert report.reply_codes["235"] > 0  # correct logins
    assert sum(report.reply_codes[code] for code in ("501", "504", "535", "538")) > 0  # bad ones
    assert submission_run.accepted  # messages after a correct AUTH went through
    assert {f["kind"] for f in report.findings} <= AIOSMTPD_FINDINGS


def test_every_smtp_step_kind_ran(smtp_run: Run, submission_run: Run):
    ran = set(smtp_run.report.step_counts) | set(submission_run.report.step_counts)
    assert ran == {k.value for k in StepKind}


def test_implicit_tls_with_a_verified_certificate(tls: Tls):
    with aiosmtpd("smtps", tls) as (port, recorder):
        target = smtp_target(port, "smtps", ca_file=str(tls.cert), tls_name="localhost")
        report = fuzz(target, cases=40, seconds=60, seed=3, limits=LIMITS)
    _check_books(Run(report, recorder.tokens, target))
    _check_health(report)
    assert recorder.tokens
    assert "tls_error" not in report.end_counts


def test_a_smuggled_message_is_found_and_counted(tls: Tls):
    """A message hidden after <LF>.<CR><LF>: a server that ends the data there takes it as a
    second message; the fuzzer reports it and counts its token as completed, as the server
    does. A strict server keeps it inside the first message: no finding, no second token."""
    outer, hidden = "outer-token", "hidden-token"
    smuggled = (
        f"{TOKEN_HEADER}: {outer}\r\nSubject: x\r\n\r\nbody\n.\r\n"
        f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n"
        f"{TOKEN_HEADER}: {hidden}\r\n\r\nsmuggled\r\n.\r\n"
    ).encode()
    steps = (
        SmtpStep("ehlo", "", (line_piece(b"EHLO fuzz.test"),)),
        SmtpStep("mail", "", (line_piece(f"MAIL FROM:<{SENDER}>".encode()),)),
        SmtpStep("rcpt", "", (line_piece(f"RCPT TO:<{RCPT}>".encode()),)),
        SmtpStep(
            "message_dots",
            "smuggle",
            (
                command(b"DATA\r\n", op=Op.DATA),
                Piece(
                    Op.BODY, smuggled, replies=4, exact=False, final=True, tokens=(outer, hidden)
                ),
            ),
        ),
        SmtpStep("quit", "", (line_piece(b"QUIT"), Piece(Op.CLOSE))),
    )
    with aiosmtpd("smtp", tls) as (port, recorder):
        record = asyncio.run(
            run_smtp_case(smtp_target(port), CasePlan(0, 0, "smtp", steps), LIMITS)
        )
    assert outer in record.completed_tokens
    assert set(record.completed_tokens) == recorder.tokens
    took_it = hidden in recorder.tokens
    assert ("smuggling" in [f.kind for f in record.findings]) == took_it
    assert took_it  # aiosmtpd 1.4.4 ends DATA at <LF>.<CR><LF>; a fixed version would not


def test_time_budget_stops_the_run(tls: Tls):
    calls: list[tuple[int, int]] = []
    with aiosmtpd("smtp", tls) as (port, _recorder):
        report = fuzz(
            smtp_target(port),
            cases=10_000,
            seconds=3,
            seed=5,
            limits=LIMITS,
            progress=lambda done, total: calls.append((done, total)),
        )
    assert 0 < report.cases_run < 10_000
    assert calls[-1] == (report.cases_run, 10_000)
    assert len(calls) == report.cases_run
    assert report.alive_checks >= 2
    assert report.alive_failures == 0


def test_concurrent_cases_keep_exact_books(tls: Tls):
    limits = FuzzLimits(step_timeout=3, case_timeout=10, quiet=0.2, alive_every=10, concurrency=4)
    with aiosmtpd("smtp", tls) as (port, recorder):
        target = smtp_target(port)
        report = fuzz(target, cases=60, seconds=60, seed=9, limits=limits)
    assert sorted(c.case_id for c in report.cases) == list(range(60))
    _check_books(Run(report, recorder.tokens, target))
    _check_health(report, limits)
    assert recorder.tokens


# -- SMTP servers that misbehave -------------------------------------------------------------


class LineServer:
    """Greets the first ``greet`` connections with 220 (later ones with 421 and a hang-up), then
    answers line n of a session with ``answers[n % len(answers)]``, or never when empty."""

    def __init__(self, answers: tuple[bytes, ...], greet: int = 1_000_000) -> None:
        self.answers, self.greet, self.connections = answers, greet, 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.connections > self.greet:
                writer.write(b"421 4.3.2 going away\r\n")
                return
            writer.write(b"220 line server ready\r\n")
            count = 0
            while (await reader.readline()).endswith(b"\n"):
                if self.answers:
                    writer.write(self.answers[count % len(self.answers)])
                    count += 1
                await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()


async def _fuzz_line_server(server: LineServer, limits: FuzzLimits, cases: int) -> FuzzReport:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        return await run_fuzz(smtp_target(port), cases=cases, seconds=30, seed=2, limits=limits)
    finally:
        listener.close()


def test_broken_replies_are_findings():
    answers = (b"250-first\r\n251 second\r\n", b"25O letter O\r\n", b"250 bare\n", b"250 ok\r\n")
    report = asyncio.run(_fuzz_line_server(LineServer(answers), LIMITS, 8))
    details = {f["detail"] for f in report.findings if f["kind"] == "bad_reply"}
    assert details >= {
        "multi-line reply whose lines carry different codes",
        "reply without a valid 3-digit code",
        "reply line ends in a bare LF",
    }


def test_a_server_that_stops_greeting_is_a_liveness_finding():
    limits = FuzzLimits(step_timeout=1, case_timeout=3, quiet=0.1, alive_every=3)
    report = asyncio.run(_fuzz_line_server(LineServer((b"250 ok\r\n",), greet=4), limits, 8))
    assert report.alive_checks == 4  # before the first case, after 3 and 6, at the end
    assert report.alive_failures == 3
    finding = next(f for f in report.findings if f["kind"] == "liveness")
    assert finding["count"] == 3
    assert "421" in finding["example"]


def test_a_silent_server_times_every_case_out():
    limits = FuzzLimits(step_timeout=0.3, case_timeout=1, quiet=0.1)
    report = asyncio.run(_fuzz_line_server(LineServer(()), limits, 4))
    assert report.end_counts == {"timeout": 4}
    assert all(c.seconds < 1.5 for c in report.cases)
    assert report.alive_failures == 0  # it still greets


# -- IMAP against a small honest line server -------------------------------------------------

_LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r?\n$")
_TAG = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\+]+')
_ARG = re.compile(rb'\s*(?:"((?:[^"\\]|\\.)*)"|\{(\d+)\+?\}\r?\n|([^\s"]+))', re.DOTALL)


def _imap_args(text: bytes) -> list[bytes] | None:
    """Astrings: atoms, quoted strings, literals (already read into the line)."""
    args, pos = [], 0
    while text[pos:].strip():
        match = _ARG.match(text, pos)
        if match is None:
            return None
        if match[2] is not None:
            args.append(text[match.end() : match.end() + int(match[2])])
            pos = match.end() + int(match[2])
        else:
            args.append(re.sub(rb"\\(.)", rb"\1", match[1]) if match[1] is not None else match[3])
            pos = match.end()
    return args


@dataclass
class ImapServer:
    """Greets with ``* OK``; answers each command with ``tag OK|NO|BAD``, a line without a tag
    with ``* BAD``; asks for synchronising literals with ``+ go ahead``. LOGIN and AUTHENTICATE
    PLAIN take USER/PASSWORD; SELECT and IDLE need them; STARTTLS upgrades (dropping what was
    pipelined behind it, unless ``vulnerable``)."""

    tls: ssl.SSLContext
    implicit: bool = False
    vulnerable: bool = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = ImapSession(self, reader, writer)
        with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            await session.run()
        writer.close()


class ImapSession:
    def __init__(self, server: ImapServer, reader, writer) -> None:
        self.server, self.reader, self.writer = server, reader, writer
        self.authed, self.in_tls = False, server.implicit

    async def say(self, *lines: bytes) -> None:
        self.writer.write(b"".join(line + b"\r\n" for line in lines))
        await self.writer.drain()

    async def command(self) -> bytes | None:
        """The next command line with its literals read into it; None at the end."""
        try:
            line = await self.reader.readline()
        except ValueError:
            await self.say(b"* BYE line too long")
            return None
        while (match := _LITERAL.search(line)) is not None:
            if not match[2]:
                await self.say(b"+ go ahead")
            line += await self.reader.readexactly(int(match[1])) + await self.reader.readline()
        return line if line.endswith(b"\n") else None

    async def run(self) -> None:
        await self.say(b"* OK fake IMAP ready")
        while (line := await self.command()) is not None:
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            verb, _, arg = rest.partition(b" ")
            if not _TAG.fullmatch(tag):
                await self.say(b"* BAD missing or invalid tag")
                continue
            handler = getattr(self, "do_" + verb.decode("ascii", "replace").lower(), None)
            if handler is None:
                await self.say(tag + b" BAD unknown or not allowed here")
            elif await handler(tag, arg) is False:
                return

    async def do_capability(self, tag: bytes, arg: bytes) -> None:
        await self.say(b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN LITERAL+ IDLE", tag + b" OK")

    async def do_noop(self, tag: bytes, arg: bytes) -> None:
        await self.say(tag + b" OK done")

    async def do_logout(self, tag: bytes, arg: bytes) -> bool:
        await self.say(b"* BYE bye", tag + b" OK done")
        return False

    async def do_login(self, tag: bytes, arg: bytes) -> None:
        args = _imap_args(arg)
        await self._logged_in(tag, args if args is not None and len(args) == 2 else None)

    async def do_authenticate(self, tag: bytes, arg: bytes) -> None:
        mechanism, _, blob = arg.partition(b" ")
        if mechanism.upper() != b"PLAIN":
            return await self._logged_in(tag, None)
        if not blob:
            await self.say(b"+ ")
            blob = (await self.reader.readline()).strip()
        try:
            parts = base64.b64decode(blob, validate=True).split(b"\0")
        except binascii.Error:
            return await self._logged_in(tag, None)
        return await self._logged_in(tag, parts[1:] if len(parts) == 3 else [])

    async def _logged_in(self, tag: bytes, credentials: list[bytes] | None) -> None:
        if self.authed or credentials is None:
            return await self.say(tag + b" BAD syntax, bad base64, aborted, or logged in")
        self.authed = credentials == [USER.encode(), PASSWORD.encode()]
        return await self.say(tag + (b" OK logged in" if self.authed else b" NO wrong credentials"))

    async def do_select(self, tag: bytes, arg: bytes) -> None:
        if not self.authed:
            return await self.say(tag + b" NO log in first")
        return await self.say(b"* 0 EXISTS", tag + b" OK selected")

    async def do_idle(self, tag: bytes, arg: bytes) -> None:
        if not self.authed:
            return await self.say(tag + b" NO log in first")
        await self.say(b"+ idling")
        done = (await self.reader.readline()).rstrip(b"\r\n") == b"DONE"
        return await self.say(tag + (b" OK idle done" if done else b" BAD expected DONE"))

    async def do_starttls(self, tag: bytes, arg: bytes) -> None:
        if self.in_tls:
            return await self.say(tag + b" BAD already in TLS")
        await self.say(tag + b" OK begin TLS")
        if not self.server.vulnerable:
            self.reader._buffer.clear()  # what was pipelined behind STARTTLS is dropped
        await self.writer.start_tls(self.server.tls)
        self.in_tls = True
        return None

    do_check = do_noop
    do_examine = do_select


async def _fuzz_imap(server: ImapServer, target_kind: str, cases: int, cert: Path) -> FuzzReport:
    tls_arg = server.tls if server.implicit else None
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls_arg, limit=65536)
    port = listener.sockets[0].getsockname()[1]
    target = FuzzTarget(
        "127.0.0.1",
        port,
        target_kind,
        user=USER,
        password=PASSWORD,  # type: ignore[arg-type]
        ca_file=str(cert),
        tls_name="localhost",
    )
    try:
        return await run_fuzz(target, cases=cases, seconds=60, seed=3, limits=LIMITS)
    finally:
        listener.close()


@pytest.fixture(scope="module")
def imap_runs(tls: Tls) -> tuple[FuzzReport, FuzzReport]:
    plain = asyncio.run(_fuzz_imap(ImapServer(tls.server), "imap", 80, tls.cert))
    implicit = asyncio.run(_fuzz_imap(ImapServer(tls.server, implicit=True), "imaps", 60, tls.cert))
    return plain, implicit


def test_imap_runs_are_clean_against_an_honest_server(imap_runs):
    for report in imap_runs:
        _check_health(report)
        assert report.findings == []  # every response was valid, nothing was injected
        assert "timeout" not in report.end_counts  # every wait ended on the right line
        assert {"OK", "NO", "BAD", "+", "*", "BYE"} <= set(report.reply_codes)
    plain, implicit = imap_runs
    assert set(plain.step_counts) | set(implicit.step_counts) == {k.value for k in ImapStepKind}


def test_imap_starttls_injection_is_found(tls: Tls):
    honest = asyncio.run(_fuzz_imap(ImapServer(tls.server), "imap", 30, tls.cert))
    lax = asyncio.run(_fuzz_imap(ImapServer(tls.server, vulnerable=True), "imap", 30, tls.cert))
    assert honest.step_counts["starttls_inject"] == lax.step_counts["starttls_inject"] > 0
    assert not [f for f in honest.findings if f["kind"] == "starttls_injection"]
    injected = [f for f in lax.findings if f["kind"] == "starttls_injection"]
    assert injected
    assert injected[0]["count"] == lax.step_counts["starttls_inject"]


def test_a_case_replays_from_its_seed(tls: Tls):
    with aiosmtpd("smtp", tls) as (port, _recorder):
        target = smtp_target(port)
        first = asyncio.run(play_case(target, 17, 7, "r", LIMITS))
        again = asyncio.run(play_case(target, 17, 7, "r", LIMITS))
    assert first.kinds == again.kinds
    assert first.variants == again.variants
    assert [r.code for r in first.replies] == [r.code for r in again.replies]


# -- what the lab run reads on the host -------------------------------------------------------


def test_daemon_memory_is_read_per_family():
    ps = "  5120 master\n  8000 smtpd\n  7000 smtpd\n 12000 dovecot\n  3000 imap-login\n"
    ps += " 40000 rspamd\n 41000 rspamd\n  2000 lmtp\n   900 sshd\n garbage\n"
    before = rss_by_family(ps)
    assert before["postfix"] == {
        "processes": 4,
        "total_kib": 22120,
        "largest_kib": {"master": 5120, "smtpd": 8000, "lmtp": 2000},
    }
    assert before["rspamd"]["largest_kib"] == {"rspamd": 41000}
    # More smtpd workers after a run is no leak; one smtpd 80 MiB larger is.
    more = rss_by_family(ps + "  8100 smtpd\n  8200 smtpd\n  9000 imap\n")
    assert largest_growth_mib(before["postfix"], more["postfix"]) == 0.2
    assert largest_growth_mib(before["dovecot"], more["dovecot"]) == 8.8
    leak = rss_by_family(ps + " 90000 smtpd\n")
    assert largest_growth_mib(before["postfix"], leak["postfix"]) == 80.1


def test_crash_lines_are_found_and_ordinary_rejections_are_not():
    journal = "\n".join(
        [
            "1764790000.1 mx postfix/smtpd[12]: NOQUEUE: reject: RCPT from x: 554 5.7.1 denied",
            "1764790000.2 mx postfix/smtpd[12]: warning: non-SMTP command from x: GET / HTTP/1.1",
            "1764790000.3 mx postfix/master[1]: warning: process smtpd pid 9 killed by signal 11",
            "1764790000.4 mx dovecot[2]: imap(u)<3>: Panic: file istream.c: assertion failed",
            "1764790000.5 mx kernel: smtpd[9]: segfault at 0 ip 0 sp 0 error 4",
            "1764790000.6 mx postfix/smtpd[13]: fatal: no SASL authentication mechanisms",
        ]
    )
    found = crash_matches(journal)
    assert [line.split()[0] for line in found] == [
        "1764790000.3",
        "1764790000.4",
        "1764790000.5",
        "1764790000.6",
    ]
