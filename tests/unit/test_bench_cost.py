"""The cost breakdown names each server process by its component, from the command lines
Postfix, Dovecot and rspamd really run with (read off Debian 12 and 13 lab hosts)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.bench.cost import _FsyncTrace, component_of, group_of, read_trace
from tests.conftest import in_ci


@pytest.mark.parametrize(
    ("cmdline", "comm", "component"),
    [
        ("/usr/lib/postfix/sbin/master -w", "master", "postfix master"),
        ("smtpd -n smtp -t inet -u -o stress= -s 2", "smtpd", "postfix smtpd"),
        ("smtpd -n submission -t inet -u -o stress=", "smtpd", "postfix smtpd (submission)"),
        ("smtpd -n smtps -t inet -u", "smtpd", "postfix smtpd (smtps)"),
        ("smtpd -n 10.0.0.1:25 -t inet", "smtpd", "postfix smtpd"),
        ("cleanup -z -t unix -u -c", "cleanup", "postfix cleanup"),
        ("lmtp -t unix -u", "lmtp", "postfix lmtp"),
        ("postscreen -l -n smtp -t inet -u -o stress=", "postscreen", "postfix postscreen"),
        ("qmgr -l -t unix -u", "qmgr", "postfix qmgr"),
        ("tlsproxy -t unix -u -c", "tlsproxy", "postfix tlsproxy"),
        ("trivial-rewrite -n rewrite -t unix -u -c", "trivial-rewr", "postfix trivial-rewrite"),
        ("/usr/sbin/dovecot -F", "dovecot", "dovecot master"),
        ("dovecot/lmtp", "lmtp", "dovecot lmtp"),
        ("dovecot/quota-status -p postfix", "quota-status", "dovecot quota-status"),
        (["dovecot/auth [0 wait, 0 passdb, 0 userdb]"], "auth", "dovecot auth"),
        (["rspamd: rspamd_proxy process (127.0.0.1:11332)"], "rspamd", "rspamd proxy"),
        (["rspamd: main process"], "rspamd", "rspamd main"),
        (["rspamd: normal process (localhost:11333)"], "rspamd", "rspamd normal"),
        ("/usr/bin/redis-server 127.0.0.1:6379", "redis-server", "redis"),
        ("sshd: root@notty", "sshd", "other sshd"),
        ("", "kworker/0:1", "other kworker/0:1"),
    ],
)
def test_processes_are_named_by_component(
    cmdline: str | list[str], comm: str, component: str
) -> None:
    """A command line as a string is split into argv; rspamd and Dovecot set a process title,
    one argv element with spaces in it (given as a one-element list)."""
    argv = cmdline if isinstance(cmdline, list) else cmdline.split()
    assert component_of(argv, comm) == component


def test_components_fall_into_the_bar_groups() -> None:
    assert group_of("postfix smtpd (submission)") == "postfix"
    assert group_of("dovecot quota-status") == "dovecot"
    assert group_of("rspamd proxy") == "rspamd"
    assert group_of("unattributed") == "unattributed"


# The trace's own lines, as the kernel writes them (comm-tid, cpu, flags, time, event).
TRACE = """\
# tracer: nop
#
<...>-2001 [1] d. 1: sched_process_fork: comm=dovecot pid=2001 child_comm=dovecot child_pid=2301
            lmtp-2301    [000] .....  100.000300: sys_fsync(fd: 0x0000000000000013)
            lmtp-2301    [000] .....  100.000310: sys_fsync(fd: 0x0000000000000014)
master-1500 [1] d. 1: sched_process_fork: comm=master pid=1500 child_comm=master child_pid=2400
         cleanup-2400    [001] .....  100.000500: sys_fdatasync(fd: 0x0000000000000007)
         cleanup-2401    [001] .....  100.000600: sys_fsync(fd: 0x0000000000000007)
 rspamd: worker -2500    [000] .....  100.000700: sys_fsync(fd: 0x0000000000000009)
"""


def test_the_trace_names_processes_no_scan_sighted_from_their_parent_and_command() -> None:
    traced = read_trace(TRACE.splitlines())
    assert traced.calls == {2301: 2, 2400: 1, 2401: 1, 2500: 1}
    assert traced.parents == {2301: 2001, 2400: 1500}
    sighted = {2001: "dovecot master", 1500: "postfix master", 2401: "postfix cleanup"}
    # born and gone between two scans: named from the fork record and its own command
    assert traced.component(2301, sighted) == "dovecot lmtp"
    assert traced.component(2400, sighted) == "postfix cleanup"
    assert traced.component(2401, sighted) == "postfix cleanup"  # sighted
    assert traced.component(2500, sighted) == "other rspamd: worker"  # no parent on record
    # sighted only as it exited (its command line gone): the trace knows better
    assert traced.component(2301, {**sighted, 2301: "other lmtp"}) == "dovecot lmtp"


def test_a_forked_child_that_kept_its_command_is_its_parents() -> None:
    traced = read_trace(
        [
            "   dovecot-10 [0] d..2. 1.0: sched_process_fork: comm=dovecot pid=10 "
            "child_comm=dovecot child_pid=11",
            "   dovecot-11 [0] ..... 1.1: sys_fsync(fd: 0x3)",
        ]
    )
    assert traced.component(11, {10: "dovecot master"}) == "dovecot master"


def test_the_kernel_trace_follows_a_child_forked_after_it_started(tmp_path) -> None:
    if os.geteuid() != 0:
        if in_ci():
            pytest.fail("CI=true runs as root: tracing the kernel needs it")
        pytest.skip("tracing the kernel needs root (with CI=true this fails)")
    trace = _FsyncTrace()
    trace.start(int(t) for t in os.listdir("/proc/self/task"))
    assert trace.error is None, trace.error
    script = (
        "import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT); os.fsync(fd); os.fsync(fd)"
    )
    child = subprocess.run([sys.executable, "-c", script, str(tmp_path / "f")], check=True)
    assert child.returncode == 0
    traced = trace.stop()
    assert traced is not None, trace.error
    named = {tid: traced.component(tid, {os.getpid(): "postfix master"}) for tid in traced.calls}
    # the child was never sighted (it came and went), yet its two calls are counted and named
    assert sum(n for tid, n in traced.calls.items() if named[tid].startswith("postfix ")) == 2
