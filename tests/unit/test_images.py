"""Image tags are content-addressed: what changes a layer changes its tag, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import BuildError
from harness.lab import images
from harness.lab.distros import get_distro
from harness.lab.images import base_tag, lab_tag, mounts_below
from harness.lab.packages import role_packages

D12, D13 = get_distro("debian12"), get_distro("debian13")


def test_tags_are_stable_across_processes_and_per_distro() -> None:
    # Another interpreter (another hash seed) must compute the same tags, or every run rebuilds.
    code = (
        "from harness.lab.distros import get_distro; from harness.lab.images import base_tag, "
        "lab_tag; d = get_distro('debian12'); print(base_tag(d)); print(lab_tag(d, ['postfix']))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout.split()
    assert other == [base_tag(D12), lab_tag(D12, ["postfix"])]
    assert base_tag(D12) != base_tag(D13)
    assert base_tag(D12).startswith("mailstack/base:debian12-")
    assert lab_tag(D12, ["postfix"]).startswith("mailstack/lab:debian12-")


def test_package_set_changes_only_the_baked_tag() -> None:
    before = lab_tag(D12, ["postfix", "dovecot-core"])
    assert lab_tag(D12, ["dovecot-core", "postfix", "postfix"]) == before  # order, repeats
    assert lab_tag(D12, ["postfix", "dovecot-core", "rspamd"]) != before


def test_base_recipe_changes_both_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    base, lab = base_tag(D12), lab_tag(D12, ["postfix"])
    monkeypatch.setattr(images, "BASE_PACKAGES", (*images.BASE_PACKAGES, "vim-tiny"))
    assert base_tag(D12) != base
    assert lab_tag(D12, ["postfix"]) != lab  # a new base means a new baked layer
    monkeypatch.undo()
    monkeypatch.setattr(images, "BAKE_RECIPE", images.BAKE_RECIPE + 1)
    assert base_tag(D12) == base
    assert lab_tag(D12, ["postfix"]) != lab


def _role(roles: Path, name: str, file: str, text: str) -> None:
    (roles / name / "vars").mkdir(parents=True, exist_ok=True)
    (roles / name / "vars" / file).write_text(text)


def test_role_packages_reads_common_and_per_version_vars(tmp_path: Path) -> None:
    _role(tmp_path, "postfix", "Debian-12.yml", "__postfix_packages: [postfix-pcre]\n")
    _role(tmp_path, "postfix", "Debian.yml", "__postfix_packages: [postfix]\n")
    _role(tmp_path, "dovecot", "Debian.yml", "__dovecot_packages: [dovecot-core, postfix]\n")
    _role(tmp_path, "tls", "Debian.yml", "tls_other: 1\n")
    assert role_packages(tmp_path, D12) == ("dovecot-core", "postfix", "postfix-pcre")
    assert role_packages(tmp_path, D13) == ("dovecot-core", "postfix")


def test_role_packages_bakes_what_a_setting_installs_too(tmp_path: Path) -> None:
    # rspamd installs redis-server only for its rate limits or Redis modules; a lab host
    # converges offline, so the image must hold it whatever the inventory says.
    _role(tmp_path, "rspamd", "Debian.yml", "__rspamd_packages: [rspamd]\n"
          "__rspamd_redis_packages: [redis-server]\n__rspamd_other: [not-a-package]\n")  # fmt: skip
    assert role_packages(tmp_path, D12) == ("redis-server", "rspamd")
    assert "redis-server" in role_packages(Path(__file__).parents[2] / "roles", D13)


def test_role_packages_rejects_non_lists(tmp_path: Path) -> None:
    _role(tmp_path, "postfix", "Debian.yml", "__postfix_packages: postfix\n")
    with pytest.raises(BuildError, match="__postfix_packages must be a list"):
        role_packages(tmp_path, D12)


def test_no_roles_dir_means_no_packages(tmp_path: Path) -> None:
    assert role_packages(tmp_path / "missing", D12) == ()


def test_mounts_left_in_a_build_tree_are_found_deepest_first() -> None:
    mounts = (
        "proc /proc proc rw 0 0\n"
        "proc /b/root/proc proc rw 0 0\n"
        "sysfs /b/root/proc/sys/fs/binfmt_misc binfmt_misc rw 0 0\n"
        "tmpfs /b/root\\040x/dev tmpfs rw 0 0\n"
        "tmpfs /b/rootless tmpfs rw 0 0\n"
    )
    assert mounts_below(Path("/b/root"), mounts) == [
        Path("/b/root/proc/sys/fs/binfmt_misc"),
        Path("/b/root/proc"),
    ]
    assert mounts_below(Path("/b/root x"), mounts) == [Path("/b/root x/dev")]
