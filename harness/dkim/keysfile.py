"""The inventory file(s) that list a domain's ``rspamd_dkim_keys``, edited in place.

Keys are code: a rotation step edits the same YAML an admin would, keeping its comments,
quoting and order (ruamel.yaml round trip), and the admin commits the result.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from harness.dkim.plan import Change
from harness.errors import DkimError

__all__ = ["KeysFile", "find_keys_files", "inventory_dir"]

_VAR = "rspamd_dkim_keys"
_SUFFIXES = (".yml", ".yaml", ".json", "")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


class KeysFile:
    """One YAML file holding ``rspamd_dkim_keys`` at its top level."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
            doc = _yaml().load(text)
        except (OSError, YAMLError) as exc:
            raise DkimError(f"{path}: cannot read it as YAML: {exc}") from None
        if not isinstance(doc, CommentedMap) or not isinstance(doc.get(_VAR), CommentedSeq):
            raise DkimError(
                f"{path}: no list {_VAR} at the top level",
                hint="pass the group_vars or host_vars file that lists the domain's keys",
            )
        self.doc = doc
        self.explicit_start = text.lstrip().startswith("---")

    @property
    def keys(self) -> CommentedSeq:
        seq: CommentedSeq = self.doc[_VAR]
        return seq

    def domain_keys(self, domain: str) -> list[dict[str, str]]:
        """The domain's entries, as plain values (what a plan reads)."""
        return [
            {k: str(v) for k, v in entry.items() if k != "private_key"}
            for entry in self.keys
            if isinstance(entry, dict) and str(entry.get("domain")) == domain
        ]

    def apply(self, changes: Iterable[Change]) -> None:
        for change in changes:
            if change.add:
                entry = CommentedMap()
                entry["domain"] = change.domain
                entry["selector"] = change.selector
                entry["state"] = change.state
                if change.algorithm != "rsa":
                    entry["algorithm"] = change.algorithm
                self.keys.append(entry)
                continue
            found = [
                e
                for e in self.keys
                if str(e.get("domain")) == change.domain
                and str(e.get("selector")) == change.selector
            ]
            if not found:
                raise DkimError(f"{self.path}: no key {change.domain} {change.selector} to set")
            found[0]["state"] = change.state

    def save(self) -> None:
        """Write the file back; a rename, so a reader never sees half of it."""
        tmp = self.path.with_name(f".{self.path.name}.mailstack-tmp")
        yaml = _yaml()
        yaml.explicit_start = self.explicit_start
        with tmp.open("w", encoding="utf-8") as out:
            yaml.dump(self.doc, out)
        os.replace(tmp, self.path.resolve())


def inventory_dir(inventory: str) -> Path:
    """The folder Ansible reads group_vars/ and host_vars/ from for ``inventory``."""
    path = Path(inventory)
    return path if path.is_dir() else path.parent


def _candidates(folder: Path) -> list[Path]:
    found = []
    for sub in ("group_vars", "host_vars"):
        base = folder / sub
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() and path.suffix in _SUFFIXES and not path.name.startswith("."):
                found.append(path)
    return found


def _lists_domain(path: Path, domain: str) -> bool:
    try:
        doc: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError, UnicodeDecodeError):
        return False
    keys = doc.get(_VAR) if isinstance(doc, dict) else None
    return isinstance(keys, list) and any(
        isinstance(k, dict) and str(k.get("domain")) == domain for k in keys
    )


def find_keys_files(inventory: str, domain: str, given: Sequence[Path] = ()) -> list[KeysFile]:
    """The files to edit: those given, else the one file under the inventory's group_vars or
    host_vars that lists the domain's keys (several: name each with --keys-file)."""
    if given:
        files = [KeysFile(p) for p in given]
        for f in files:
            if not f.domain_keys(domain):
                raise DkimError(f"{f.path}: {_VAR} lists no key of {domain}")
        listed = {repr([sorted(k.items()) for k in f.domain_keys(domain)]) for f in files}
        if len(listed) > 1:
            raise DkimError(
                f"the --keys-file files list different keys of {domain}",
                hint="make them agree first: every host serving a domain signs with the same keys",
            )
        return files
    folder = inventory_dir(inventory)
    listing = [p for p in _candidates(folder) if _lists_domain(p, domain)]
    if not listing:
        raise DkimError(
            f"no file under {folder}/group_vars or host_vars lists {_VAR} of {domain}",
            hint="add the domain's current key there (state: active), or pass --keys-file",
        )
    if len(listing) > 1:
        raise DkimError(
            f"{len(listing)} files list {_VAR} of {domain}: {', '.join(map(str, listing))}",
            hint="name each one the rotation should edit with --keys-file",
        )
    return [KeysFile(listing[0])]
