"""The receiver's configuration: profile validation names the field, the shipped catalogue, the
``python -m`` entry point, and the package's self-containment (it must run alone in a container)."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import harness.receiver
from harness.receiver import ConfigError, ProfileError, config_from_mapping, profile_from_mapping
from harness.receiver.__main__ import main
from harness.receiver.catalogue import CATALOGUE, load_catalogue

PACKAGE = Path(harness.receiver.__file__).parent
SHIPPED = ("gmail-like", "outlook-like", "yahoo-like")


@pytest.mark.parametrize(
    ("profile", "field", "words"),
    [
        ({"rate": {"burst": 0}}, "profile.rate.burst", "at least 1"),
        ({"rate": {"per_second": "fast"}}, "profile.rate.per_second", "number"),
        ({"rate": {"per_secnd": 1}}, "profile.rate.per_secnd", "per_second"),
        ({"rate": {"stage": "helo"}}, "profile.rate.stage", "mail, rcpt, data"),
        ({"auth": {"require": "strict"}}, "profile.auth.require", "dmarc-aligned"),
        ({"connections": {"max_per_ip": -1}}, "profile.connections.max_per_ip", ">= 0"),
        ({"connections": {"max_per_ip": True}}, "profile.connections.max_per_ip", "integer"),
        ({"connections": {"reply": "451 4.7.0 busy"}}, "profile.connections.reply", "421"),
        ({"greylist": {"reply": "451 4.7 bad"}}, "profile.greylist.reply", "CODE X.Y.Z"),
        ({"greylist": {"reply": "550 5.7.1 no"}}, "profile.greylist.reply", "4xx"),
        ({"rate": {"reply": "451 5.7.28 mixed"}}, "profile.rate.reply", "differ in class"),
        ({"auth": {"reply": "550 5.7.26 {sender}"}}, "profile.auth.reply", "client_ip"),
        ({"auth": {"reply": "550 5.7.26 a { b"}}, "profile.auth.reply", "literal brace"),
        ({"slow": {"probability": 1.5}}, "profile.slow.probability", "at most 1.0"),
        ({"greylist": 5}, "profile.greylist", "mapping"),
        ({"colour": "red"}, "profile.colour", "connections"),
    ],
)
def test_profile_errors_name_the_field_and_how_to_mend_it(profile, field, words):
    with pytest.raises(ProfileError) as caught:
        profile_from_mapping({"name": "lab", **profile})
    error = caught.value
    assert error.field == field
    assert isinstance(error, ValueError)
    assert str(error).startswith(f"{field}: ")
    assert "(mend: " in str(error)
    assert words in str(error)


def test_an_empty_profile_is_a_permissive_receiver():
    profile = profile_from_mapping({}, name="open")
    assert profile.connections.max_per_ip == 0
    assert profile.rate.per_second == 0
    assert profile.greylist.retry_min_seconds == 0
    assert profile.auth.require == "none"
    assert profile.slow.probability == 0


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"store": "/s", "profile": {}}, "journal"),
        ({"journal": "/j", "store": "/s"}, "profile"),
        ({"journal": "/j", "store": "/s", "profile": {}, "listen": {"port": 70000}}, "listen.port"),
        ({"journal": "/j", "store": "/s", "profile": {}, "tls": {"cert": "/c"}}, "tls.key"),
        (
            {"journal": "/j", "store": "/s", "profile": {}, "tls": {"cert": "/no", "key": "/no"}},
            "tls.cert",
        ),
        ({"journal": "/j", "store": "/s", "profile": {}, "seed": 1.5}, "seed"),
        ({"journal": "/j", "store": "/s", "profile": "hotmail-like"}, "profile"),
        ({"journal": "/j", "store": "/s", "profile": {"rate": {"burst": 0}}}, "profile.rate.burst"),
    ],
)
def test_config_errors_name_the_field(config, field):
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"hostname": "mx.bigmail.test", **config})
    assert caught.value.field == field


def test_the_catalogue_ships_three_valid_profiles():
    profiles = load_catalogue()
    assert sorted(profiles) == list(SHIPPED)
    assert profiles["gmail-like"].auth.reply.enhanced == "5.7.26"
    assert profiles["gmail-like"].rate.reply[:2] == (451, "4.7.28")
    assert profiles["outlook-like"].auth.reply.enhanced == "5.7.515"
    assert profiles["outlook-like"].auth.require == "spf-and-dkim-and-dmarc"
    assert "[TSS04]" in profiles["yahoo-like"].rate.reply.text
    assert profiles["yahoo-like"].rate.reply.code == 421


def test_every_catalogue_section_explains_its_values():
    """Each value block (a setting line after a section header) has a comment above it."""
    lines = CATALOGUE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            if line.strip() == "description:":
                continue
            assert lines[number + 1].strip().startswith("#"), f"line {number + 2}: {line.strip()}"


@pytest.mark.parametrize("name", SHIPPED)
def test_print_profile_gives_the_json_a_container_config_inlines(capsys, tmp_path, name):
    assert main(["--print-profile", name]) == 0
    inline = json.loads(capsys.readouterr().out)
    config = config_from_mapping(
        {"journal": str(tmp_path / "j"), "store": str(tmp_path / "s"), "profile": inline}
    )
    assert config.profile == load_catalogue()[name]


def test_check_and_errors_from_the_command_line(capsys, tmp_path):
    good = tmp_path / "receiver.json"
    good.write_text(json.dumps({"journal": "/j", "store": "/s", "profile": {"name": "lab"}}))
    assert main(["--config", str(good), "--check"]) == 0
    assert "ok (profile lab)" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"journal": "/j", "store": "/s", "profile": {"rate": {"burst": 0}}}))
    assert main(["--config", str(bad), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "profile.rate.burst" in err
    assert "Traceback" not in err
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["--config", str(broken)]) == 2


ALLOWED_IMPORTS = {"aiosmtpd", "dkim", "spf", "dns"}


def test_the_package_imports_only_the_stdlib_and_the_debian_packages():
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            for root in roots:
                ok = root in sys.stdlib_module_names or root in ALLOWED_IMPORTS or root == "yaml"
                assert ok, f"{path.name} imports {root}"
                assert root != "harness", f"{path.name} imports harness"


def test_a_copy_of_the_directory_runs_alone_as_python_m_receiver(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "receiver", ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp_path / "receiver.json"
    config.write_text(json.dumps({"journal": "/j", "store": "/s", "profile": {"name": "lab"}}))
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "--config", str(config), "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ok (profile lab)" in done.stdout
