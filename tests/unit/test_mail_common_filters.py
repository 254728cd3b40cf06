"""A re-run reads the files a role writes in one command and renders only those that differ:
the command runs here for real (sh, stat, sha1sum), on files whose names need quoting."""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

from tests.filter_plugins import load_filters

plugin = load_filters("mail_common")


def _on_host(*paths: Path) -> list[str]:
    argv = plugin.mail_common_digest_argv(paths)
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()


def test_only_files_that_differ_in_content_mode_or_owner_are_rendered(tmp_path: Path) -> None:
    same = tmp_path / "same file.conf"  # a space: argv, not a shell line
    same.write_text("enabled = false;\n")
    same.chmod(0o644)
    other_mode = tmp_path / "rbl.conf"
    other_mode.write_text("enabled = false;\n")
    other_mode.chmod(0o600)
    missing = tmp_path / "$(touch pwned).conf"
    owner = f"{pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name}"
    attrs = f"644:{owner}"

    lines = _on_host(same, other_mode, missing)
    assert len(lines) == 2  # the missing file prints nothing
    assert not plugin.mail_common_file_differs(lines, str(same), "enabled = false;\n", attrs)
    assert plugin.mail_common_file_differs(lines, str(same), "enabled = true;\n", attrs)
    assert plugin.mail_common_file_differs(lines, str(other_mode), "enabled = false;\n", attrs)
    assert plugin.mail_common_file_differs(lines, str(missing), "", attrs)
    assert not (tmp_path / "pwned").exists()
