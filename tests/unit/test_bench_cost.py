"""The cost breakdown names each server process by its component, from the command lines
Postfix, Dovecot and rspamd really run with (read off Debian 12 and 13 lab hosts)."""

from __future__ import annotations

import pytest

from harness.bench.cost import component_of, group_of


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
