"""Lab images built from nothing: debootstrap a Debian tree, import it, then bake a package set.

Two layers, each tagged by a hash of what goes into it, so a rebuild with nothing changed is a
lookup and a changed package set rebuilds only the baked layer:

- ``mailstack/base:<distro>-<key>``: debootstrap minbase with systemd as PID 1, SSH and Python;
- ``mailstack/lab:<distro>-<key>``: the base plus the packages the roles install, fetched in a
  build container on the host's network and committed, so a lab converges offline. The units
  the packages enabled are disabled again: a role enables the daemons it runs, so a lab host
  boots like a server the roles were never given, with no exporter or Prometheus of an opt-in
  role running beside the mail stack.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors
from docker import DockerClient

from harness.errors import BuildError
from harness.lab.distros import Distro
from harness.lab.hostpkgs import ensure_host_packages
from harness.lab.mirror import Mirror, find_mirror
from harness.ui import step

__all__ = ["BuildReport", "ImageBuilder", "base_tag", "lab_tag"]

#: Bump when the debootstrap recipe below changes in a way that changes the image.
BASE_RECIPE = 1
#: Bump when the bake script changes.
BAKE_RECIPE = 3
BASE_PACKAGES = (
    "ca-certificates",
    "dbus",
    "iproute2",
    "netbase",
    "openssh-server",
    "procps",
    "python3",
    "python3-apt",
    "systemd",
    "systemd-sysv",
)
SYSTEMD_CMD = 'CMD ["/lib/systemd/systemd"]'
BASE_REPO = "mailstack/base"
_DEBOOTSTRAP_ATTEMPTS = 2
LAB_REPO = "mailstack/lab"
_BAKE_SCRIPT = """set -eu
export DEBIAN_FRONTEND=noninteractive
printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
apt-get update
enabled() {{ systemctl list-unit-files --state=enabled --no-legend | awk '{{print $1}}' | sort; }}
enabled > /tmp/enabled-before
apt-get install -y --no-install-recommends {packages}
enabled | comm -13 /tmp/enabled-before - | xargs -r systemctl disable
rm -f /tmp/enabled-before
apt-get clean
rm -f /usr/sbin/policy-rc.d
"""


def _key(payload: object) -> str:
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def base_tag(distro: Distro) -> str:
    key = _key({"recipe": BASE_RECIPE, "suite": distro.codename, "packages": BASE_PACKAGES})
    return f"{BASE_REPO}:{distro.name}-{key}"


def lab_tag(distro: Distro, packages: Iterable[str]) -> str:
    wanted = sorted(set(packages))
    key = _key({"recipe": BAKE_RECIPE, "base": base_tag(distro), "packages": wanted})
    return f"{LAB_REPO}:{distro.name}-{key}"


@dataclass
class BuildReport:
    """What ``ensure`` did for one image: each layer ``cached`` or ``built``, with timings."""

    tag: str
    layers: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _sources(distro: Distro, mirror: Mirror) -> str:
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    stanzas = [
        f"Types: deb\nURIs: {mirror.archive}\n"
        f"Suites: {distro.codename} {distro.codename}-updates\n"
        f"Components: main\nSigned-By: {keyring}\n"
    ]
    if mirror.security:
        stanzas.append(
            f"Types: deb\nURIs: {mirror.security}\nSuites: {distro.codename}-security\n"
            f"Components: main\nSigned-By: {keyring}\n"
        )
    return "\n".join(stanzas)


def _prepare_tree(root: Path, distro: Distro, mirror: Mirror) -> None:
    """Make a debootstrapped tree fit to boot as a container image."""
    # Each container gets its own machine-id at boot and its own SSH host keys from the harness.
    (root / "etc" / "machine-id").write_text("")
    (root / "var" / "lib" / "dbus" / "machine-id").unlink(missing_ok=True)
    for key in (root / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc" / "ssh" / "sshd_config.d" / "mailstack-lab.conf").write_text(
        "# Lab hosts get one host key, made by the harness and pinned in the lab's known_hosts.\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
    )
    (root / "etc" / "apt" / "sources.list").unlink(missing_ok=True)
    (root / "etc" / "apt" / "sources.list.d" / "debian.sources").write_text(
        _sources(distro, mirror)
    )
    shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    (root / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True)


def mounts_below(root: Path, mounts_text: str) -> list[Path]:
    """Mount points at or below ``root`` in a /proc/self/mounts text, deepest first."""
    found = []
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        # /proc/self/mounts escapes blanks and backslashes as octal (\040).
        point = Path(fields[1].encode().decode("unicode_escape"))
        if point == root or root in point.parents:
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_below(root: Path) -> None:
    """Unmount what a build left mounted in ``root`` (debootstrap mounts /proc there and leaves
    it when its unmount is busy); never delete or archive a tree with a live mount in it."""
    resolved = root.resolve()
    for point in mounts_below(resolved, Path("/proc/self/mounts").read_text()):
        done = subprocess.run(["umount", str(point)], capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
    if mounts_below(resolved, Path("/proc/self/mounts").read_text()):
        raise BuildError(f"cannot unmount what debootstrap left mounted below {root}")


class ImageBuilder:
    """Builds (or finds) the lab image for a distro and package set."""

    def __init__(self, client: DockerClient, build_dir: Path, mirror: Mirror | None = None) -> None:
        self.client = client
        self.build_dir = build_dir
        self._mirror = mirror

    @property
    def mirror(self) -> Mirror:
        if self._mirror is None:
            self._mirror = find_mirror()
        return self._mirror

    def exists(self, tag: str) -> bool:
        try:
            self.client.images.get(tag)
        except docker.errors.ImageNotFound:
            return False
        return True

    def ensure(self, distro: Distro, packages: Iterable[str]) -> BuildReport:
        wanted = tuple(sorted(set(packages)))
        base, lab = base_tag(distro), lab_tag(distro, wanted)
        report = BuildReport(tag=lab)
        if self.exists(lab):
            report.layers = {"base": "cached", "bake": "cached"}
            return report
        if self.exists(base):
            report.layers["base"] = "cached"
        else:
            report.seconds["base"] = self._build_base(distro, base)
            report.layers["base"] = "built"
        report.seconds["bake"] = self._bake(distro, base, lab, wanted)
        report.layers["bake"] = "built"
        return report

    def _build_base(self, distro: Distro, tag: str) -> float:
        ensure_host_packages({"debootstrap": "debootstrap"}, "building lab images")
        work = self.build_dir / tag.replace("/", "_").replace(":", "_")
        root, tarball, log = work / "rootfs", work / "rootfs.tar", work / "debootstrap.log"
        if work.exists():
            unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            with step(f"debootstrap {distro.codename} ({distro.name})") as s:
                cmd = [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    distro.codename,
                    str(root),
                    self.mirror.archive,
                ]
                for attempt in range(1, _DEBOOTSTRAP_ATTEMPTS + 1):
                    try:
                        self._run_logged(cmd, log, s.update, what="debootstrap")
                        break
                    except BuildError:
                        # A mirror caught mid-sync serves an index and not its debs; once more.
                        if attempt == _DEBOOTSTRAP_ATTEMPTS:
                            raise
                        unmount_below(root)
                        shutil.rmtree(root, ignore_errors=True)
                unmount_below(root)
                _prepare_tree(root, distro, self.mirror)
                debootstrap_s = s.elapsed
            with step(f"import {tag}") as s:
                subprocess.run(
                    [
                        "tar",
                        "--numeric-owner",
                        "--one-file-system",
                        "-C",
                        str(root),
                        "-cf",
                        str(tarball),
                        ".",
                    ],
                    check=True,
                )
                self.client.api.import_image_from_file(
                    str(tarball),
                    repository=tag.partition(":")[0],
                    tag=tag.partition(":")[2],
                    changes=[
                        SYSTEMD_CMD,
                        f"LABEL mailstack.layer=base mailstack.distro={distro.name}",
                    ],
                )
                if not self.exists(tag):
                    raise BuildError(f"docker import produced no image {tag}")
                return debootstrap_s + s.elapsed
        finally:
            unmount_below(root)
            shutil.rmtree(root, ignore_errors=True)
            tarball.unlink(missing_ok=True)

    def _bake(self, distro: Distro, base: str, tag: str, packages: tuple[str, ...]) -> float:
        repo, _, version = tag.partition(":")
        if not packages:
            with step(f"tag {tag} (no packages to bake)") as s:
                self.client.images.get(base).tag(repo, version)
                return s.elapsed
        log = self.build_dir / f"bake-{distro.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with step(f"bake {len(packages)} packages into {tag}") as s:
            # The build container shares the host's network only to fetch packages, exactly as
            # apt on the host would; lab containers never have that route.
            container = self.client.containers.run(
                base,
                command=["/bin/sh", "-c", _BAKE_SCRIPT.format(packages=" ".join(packages))],
                network_mode="host",
                detach=True,
                labels={"mailstack.build": tag},
            )
            try:
                with log.open("w", encoding="utf-8") as out:
                    for chunk in container.logs(stream=True, follow=True):
                        text = chunk.decode(errors="replace")
                        out.write(text)
                        if text.strip():
                            s.update(text.strip().splitlines()[-1][:60])
                code = container.wait()["StatusCode"]
                if code != 0:
                    raise BuildError(
                        f"baking {', '.join(packages)} into {distro.name} failed (exit {code})",
                        hint=f"read {log}",
                    )
                container.commit(
                    repository=repo,
                    tag=version,
                    changes=[
                        SYSTEMD_CMD,
                        f"LABEL mailstack.layer=lab mailstack.distro={distro.name}",
                    ],
                )
            finally:
                container.remove(force=True)
            s.note = f"log {log}"
            return s.elapsed

    @staticmethod
    def _run_logged(cmd: list[str], log: Path, update: Callable[[str], None], what: str) -> None:
        with log.open("w", encoding="utf-8") as out:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for line in proc.stdout or ():
                out.write(line)
                update(line.strip()[:60])
            code = proc.wait()
        if code != 0:
            tail = log.read_text(encoding="utf-8").strip().splitlines()[-1:] or [""]
            raise BuildError(f"{what} failed (exit {code}): {tail[0]}", hint=f"read {log}")
