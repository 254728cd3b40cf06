"""The chaos run's client side and accounting, against a real SMTP server on loopback (the
project's provider-like receiver, whose greylisting answers 4xx the way a server under a fault
does); the faults themselves run in the lab (tests/lab/test_chaos.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

import pytest
import testinfra

from harness.bench.delivery import maildir_copies, wait_for_drain
from harness.bench.spec import parse_target
from harness.chaos.faults import KILL_TARGETS
from harness.chaos.report import chaos_table, scenario_figure, scenario_png
from harness.chaos.run import Load, _result, client_recovery, postfix_seconds
from harness.chaos.scenarios import SCENARIOS, pick_scenarios
from harness.chaos.sender import Attempt, SendLog, SendPlan, send_with_retries
from harness.errors import ChaosError
from harness.lab.containers import free_ports
from harness.lab.state import HostState
from tests.unit.receiver_support import RunningReceiver, receiver_config


def _plan(port: int, **kw) -> SendPlan:
    values = {
        "target": parse_target(f"smtp://127.0.0.1:{port}"),
        "sender": "chaos@client.test",
        "recipients": tuple(f"u{i}@bigmail.test" for i in range(30)),
        "rate": 60.0,
        "seconds": 0.5,
        "sessions": 3,
        "retry_min": 0.4,
        "timeout": 5.0,
    }
    values.update(kw)
    return SendPlan(**values)


def test_a_4xx_makes_the_client_retry_the_same_message_until_it_is_accepted(tmp_path):
    # Every recipient is greylisted once: each message gets a 451, then a 250 on its retry.
    with RunningReceiver(receiver_config(tmp_path, {"greylist": {"retry_min_seconds": 0.3}})) as rx:
        log = send_with_retries(_plan(rx.port))
        journal = rx.journal()
    assert len(log.recipient) == 30
    assert len(log.accepted) == 30
    assert log.retries == 30
    assert log.failures() == {"temp_failed:451": 30}
    assert not log.gave_up
    assert not log.rejected
    stored = Counter(e["token"] for e in journal if e.get("outcome") == "accepted")
    # The server holds exactly the tokens the clients were told it accepted, once each.
    assert set(stored) == set(log.accepted)
    assert set(stored.values()) == {1}
    # A retry keeps its message's token and recipient.
    tries = Counter(a.token for a in log.attempts)
    assert set(tries.values()) == {2}


def test_a_client_gives_up_when_the_server_never_accepts(tmp_path):
    profile = {"greylist": {"retry_min_seconds": 3600}}
    with RunningReceiver(receiver_config(tmp_path, profile)) as rx:
        log = send_with_retries(_plan(rx.port, seconds=0.1, give_up_after=1.0, retry_max=0.3))
    assert not log.accepted
    assert sorted(log.gave_up) == sorted(log.recipient)
    assert log.retries >= len(log.recipient)


def test_a_refused_connection_is_retried_until_a_server_listens(tmp_path):
    [port] = free_ports(1, socket.SOCK_STREAM)
    log_box: list[SendLog] = []
    plan = _plan(port, seconds=0.1, retry_min=0.2, retry_max=0.4)
    sender = threading.Thread(target=lambda: log_box.append(send_with_retries(plan)))
    sender.start()
    time.sleep(1.0)
    config = receiver_config(tmp_path, {}, listen={"host": "127.0.0.1", "port": port})
    with RunningReceiver(config) as rx:
        sender.join(timeout=30)
        journal = rx.journal()
    [log] = log_box
    assert len(log.accepted) == len(log.recipient) == 6
    assert "connection_error" in log.failures()
    assert {e["token"] for e in journal if e.get("outcome") == "accepted"} == set(log.accepted)


def _log(attempts: list[tuple[float, str, str]]) -> SendLog:
    plan = _plan(25, seconds=0.05)
    log = SendLog(started=1000.0, plan=plan)
    for at, token, outcome in attempts:
        log.recipient.setdefault(token, "u@bigmail.test")
        log.attempts.append(Attempt(at, token, outcome, 451 if outcome == "temp_failed" else None))
        if outcome == "accepted":
            log.accepted[token] = at
    return log


def test_recovery_counts_from_the_first_failure_after_the_fault_to_the_next_250():
    log = _log(
        [
            (1.0, "a", "accepted"),
            (5.2, "b", "accepted"),
            (5.5, "c", "connection_error"),
            (7.0, "c", "temp_failed"),
            (9.5, "c", "accepted"),
        ]
    )
    assert client_recovery(log, 5.0) == {
        "first_250_after_fault_s": 0.2,
        "first_failure_after_fault_s": 0.5,
        "client_outage_s": 4.0,
    }
    assert client_recovery(_log([(6.0, "a", "accepted")]), 5.0)["client_outage_s"] == 0.0
    assert client_recovery(_log([(6.0, "a", "timeout")]), 5.0)["client_outage_s"] is None


def _host() -> HostState:
    return HostState("mx1", "mx1.example.test", "debian12", "img", "c", "10.0.0.3", ["mail"])


def _fault() -> dict:
    return {"kind": "kill", "target": "postfix-smtpd", "at": 1005.0, "healed_at": 1005.0}


def test_the_accounting_reports_missing_duplicates_and_unacknowledged_copies():
    log = _log([(1.0, "a", "accepted"), (2.0, "b", "accepted"), (3.0, "c", "timeout")])
    log.gave_up.append("c")
    copies = {"a": [1001.5, 1002.0], "c": [1004.0]}  # b never arrived; c did, without a 250
    result = _result(
        SCENARIOS["kill-postfix-smtpd"],
        Load(),
        log.plan,
        log,
        _fault(),
        copies,
        3.0,
        {},
        [],
        _host(),
    )
    server = result["server"]
    assert server["missing"] == 1
    assert server["missing_tokens"] == ["b"]
    assert server["duplicates"] == 1
    assert server["duplicate_tokens"] == ["a"]
    assert server["delivered_without_250"] == 1
    assert server["delivered"] == 1
    assert result["ok"] is False
    assert result["fault"]["at_s"] == 5.0
    row = chaos_table([result]).rows[0]
    assert row[4].kind == "not-met"
    assert "1 missing" in row[-1].text
    assert "1 never accepted" in row[-1].text
    assert scenario_png(result)  # the plot renders from the JSON alone


def test_a_run_that_lost_nothing_holds():
    log = _log([(1.0, "a", "accepted"), (6.0, "b", "temp_failed"), (7.0, "b", "accepted")])
    copies = {"a": [1001.2], "b": [1007.3]}
    result = _result(
        SCENARIOS["restart"], Load(), log.plan, log, _fault(), copies, 1.0, {}, [], _host()
    )
    assert result["ok"] is True
    assert result["server"]["missing"] == 0
    assert result["clients"]["retries"] == 1
    assert result["timeline"]["delivered"] == [[0, 0], [1, 1], [2, 0], [3, 0], [4, 0], [5, 0],
                                               [6, 0], [7, 1]]  # fmt: skip
    assert chaos_table([result]).rows[0][-1].text == "held"


def test_unsigned_copies_fail_a_signed_scenario():
    log = _log([(1.0, "a", "accepted")])
    result = _result(
        SCENARIOS["kill-rspamd"], Load(), log.plan, log, _fault(), {"a": [1001.0]}, 1.0, {},
        ["a"], _host(),
    )  # fmt: skip
    assert result["ok"] is False
    assert result["server"]["unsigned_tokens"] == ["a"]


def test_every_daemon_kind_has_a_kill_scenario_and_names_are_checked():
    killed = {s.fault.target for s in SCENARIOS.values() if s.fault.kind == "kill"}
    assert killed == set(KILL_TARGETS)
    assert [s.name for s in pick_scenarios(())] == list(SCENARIOS)
    assert [s.name for s in pick_scenarios(("restart", "restart"))] == ["restart"]
    with pytest.raises(ChaosError, match="--scenario kill-everything: no such scenario"):
        pick_scenarios(("kill-everything",))


@pytest.mark.parametrize(
    ("load", "message"),
    [
        (Load(rate=0), "--rate 0"),
        (Load(seconds=10, fault_at=10), "--fault-at 10"),
        (Load(fault_for=-1), "--fault-for -1"),
        (Load(give_up_after=0), "--give-up-after 0"),
    ],
)
def test_a_bad_load_names_its_option(load, message):
    with pytest.raises(ChaosError, match=message):
        load.check()


def test_free_ports_are_distinct_and_free():
    ports = free_ports(20, socket.SOCK_STREAM)
    assert len(set(ports)) == 20
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_file_a_killed_cleanup_left_in_incoming_does_not_count_as_queued(tmp_path):
    # Found by kill-postfix-cleanup: the drain wait ran to its timeout on a half-written
    # incoming file (mode 0600) that no client got a 250 for and Postfix never delivers.
    local = testinfra.get_host("local://")
    setattr(local, "_mailstack_queue_directory", str(tmp_path))  # noqa: B010
    for queue in ("maildrop", "incoming", "active", "deferred", "hold"):
        (tmp_path / queue).mkdir()
    stale = tmp_path / "incoming" / "B4D4918AF2F"
    stale.write_bytes(b"half a message")
    stale.chmod(0o600)
    assert wait_for_drain(local, timeout=5) is not None
    stale.chmod(0o700)  # a whole message: cleanup set the owner-execute bit
    assert wait_for_drain(local, timeout=0.5) is None
    stale.unlink()
    (tmp_path / "deferred" / "C0FFEE").write_bytes(b"deferred")
    assert wait_for_drain(local, timeout=0.5) is None


@pytest.mark.parametrize(
    ("value", "seconds"), [("300s", 300), ("5m", 300), ("1h", 3600), ("42", 42)]
)
def test_postfix_time_values_read_as_seconds(value, seconds):
    assert postfix_seconds(value) == seconds


def test_maildir_copies_counts_each_copy_and_names_unsigned_ones(tmp_path):
    # The scan chaos (and fuzz) account with: run for real over a Maildir tree on this host.
    new = tmp_path / "example.test" / "alice" / "Maildir" / "new"
    new.mkdir(parents=True)
    signed = b"DKIM-Signature: v=1; d=example.test\nX-Mailstack-Token: t1\n\nbody\n"
    (new / "1.mx1").write_bytes(signed)
    (new / "2.mx1").write_bytes(signed)  # a duplicate
    (new / "3.mx1").write_bytes(b"Subject: x\nX-Mailstack-Token: t2\n\nDKIM-Signature: body\n")
    local = testinfra.get_host("local://")
    found = maildir_copies(local, time.time() - 60, str(tmp_path), {"t1", "t2"}, settle=0)
    assert {t: len(c) for t, c in found.times.items()} == {"t1": 2, "t2": 1}
    assert found.unsigned == {"t2"}  # a "DKIM-Signature" in the body is not a signature


def test_the_plot_counts_from_zero_also_when_no_client_saw_a_failure():
    log = _log([(1.0, "a", "accepted"), (2.0, "b", "accepted")])
    copies = {"a": [1001.2], "b": [1002.3]}
    result = _result(
        SCENARIOS["kill-postfix-qmgr"],
        Load(),
        log.plan,
        log,
        _fault(),
        copies,
        1.0,
        {},
        [],
        _host(),
    )
    top, bottom = scenario_figure(result).axes
    # Found in the report: with no failures the panel ran from -0.05 to 0.05.
    assert bottom.get_ylim()[0] == 0
    assert bottom.get_ylim()[1] >= 1
    assert top.get_ylim()[0] == 0
