"""The receiver's configuration file (JSON): where to listen, what to record, which profile.

Schema (README.md beside this file has it with examples)::

    {"hostname": "mx.bigmail.test",
     "listen": {"host": "0.0.0.0", "port": 25},
     "journal": "/var/lib/receiver/journal.jsonl",
     "store": "/var/lib/receiver/store",
     "tls": {"cert": "/etc/receiver/cert.pem", "key": "/etc/receiver/key.pem"},
     "seed": 1,
     "dns_timeout_seconds": 5,
     "data_size_limit": 36700160,
     "profile": "gmail-like"  or  {"name": "lab", "rate": {...}, ...}}
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

from .catalogue import shipped_profile
from .errors import ConfigError
from .fields import Section
from .profile import Profile, profile_from_mapping

__all__ = ["Config", "TlsFiles", "config_from_mapping", "load_config"]


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Config:
    hostname: str
    listen_host: str
    listen_port: int
    journal: Path
    store: Path
    tls: TlsFiles | None
    seed: int
    dns_timeout_seconds: float
    data_size_limit: int
    profile: Profile


def load_config(path: Path) -> Config:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            "<file>", f"cannot read {path}: {exc.strerror}", hint="give --config a readable file"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"<line {exc.lineno}>", f"not JSON: {exc.msg}", hint="fix the syntax", source=str(path)
        ) from exc
    return config_from_mapping(data, source=str(path))


def config_from_mapping(data: object, *, source: str = "") -> Config:
    top = Section(data, "", source=source)
    hostname = top.text("hostname", None) or socket.getfqdn()
    listen = top.section("listen")
    listen_host = listen.text("host", "127.0.0.1") or "127.0.0.1"
    port = listen.integer("port", 25)
    if port > 65535:
        raise ConfigError(
            "listen.port", f"{port} is not a port", hint="use 1-65535, or 0 for any", source=source
        )
    listen.done()
    journal = Path(top.required_text("journal", '"/var/lib/receiver/journal.jsonl"'))
    store = Path(top.required_text("store", '"/var/lib/receiver/store"'))
    tls = _tls(top.section("tls"), source)
    seed = top.integer("seed", 0)
    dns_timeout = top.number("dns_timeout_seconds", 5.0, minimum=0.1, maximum=60.0)
    size_limit = top.integer("data_size_limit", 36_700_160, minimum=1024)
    profile = _profile(top.raw("profile"), source)
    top.done()
    return Config(
        hostname=hostname,
        listen_host=listen_host,
        listen_port=port,
        journal=journal,
        store=store,
        tls=tls,
        seed=seed,
        dns_timeout_seconds=dns_timeout,
        data_size_limit=size_limit,
        profile=profile,
    )


def _tls(s: Section, source: str) -> TlsFiles | None:
    cert, key = s.text("cert", None), s.text("key", None)
    s.done()
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        missing = "tls.cert" if cert is None else "tls.key"
        raise ConfigError(
            missing, "is missing", hint="give both tls.cert and tls.key, or neither", source=source
        )
    for field, value in (("tls.cert", cert), ("tls.key", key)):
        if not Path(value).is_file():
            raise ConfigError(
                field, f"no such file {value!r}", hint="point it at a PEM file", source=source
            )
    return TlsFiles(Path(cert), Path(key))


def _profile(value: object, source: str) -> Profile:
    if value is None:
        raise ConfigError(
            "profile",
            "is missing",
            hint='name a shipped profile ("gmail-like") or inline a profile mapping',
            source=source,
        )
    if isinstance(value, str):
        return shipped_profile(value)
    return profile_from_mapping(value, name="inline", source=source)
