"""Role READMEs generated from each role's meta/argument_specs.yml, so they cannot drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["render_role_readme", "stale_role_readmes", "write_role_readmes"]

_HEADER = "<!-- Generated from meta/argument_specs.yml by `mailstack roles-doc`; do not edit. -->"


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(spec: dict[str, Any], defaults: dict[str, Any], name: str) -> str:
    value = spec["default"] if "default" in spec else defaults.get(name, "")
    if value in ("", None):
        return "" if name not in defaults else '`""`'
    dumped = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    return f"`{_cell(dumped)}`"


def _rows(options: dict[str, Any], defaults: dict[str, Any], prefix: str = "") -> list[str]:
    rows = []
    for name, spec in options.items():
        full = f"{prefix}{name}"
        kind = spec.get("type", "str")
        if spec.get("elements"):
            kind += f" of {spec['elements']}"
        req = "yes" if spec.get("required") else ""
        choices = (
            f" Choices: {', '.join(map(str, spec['choices']))}." if spec.get("choices") else ""
        )
        desc = spec.get("description", "")
        desc = " ".join(desc) if isinstance(desc, list) else desc
        default = _default(spec, defaults, name) if not prefix else _default(spec, {}, name)
        rows.append(f"| `{full}` | {kind} | {req} | {default} | {_cell(desc)}{choices} |")
        if spec.get("options"):
            sub = f"{full}[]." if spec.get("type") == "list" else f"{full}."
            rows += _rows(spec["options"], {}, sub)
    return rows


def render_role_readme(role: Path) -> str:
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    meta = yaml.safe_load((role / "meta" / "main.yml").read_text()) or {}
    defaults_file = role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.is_file() else {}
    main = specs["main"]
    lines = [_HEADER, f"# Role `{role.name}`", "", meta["galaxy_info"]["description"] + ".", ""]
    deps = [d["role"] if isinstance(d, dict) else d for d in meta.get("dependencies") or []]
    if deps:
        lines += [f"Runs first: {', '.join(f'`{d}`' for d in deps)} (as dependencies).", ""]
    lines += [
        "Documented defaults: [defaults/main.yml](defaults/main.yml). Ansible checks every "
        "variable below against [meta/argument_specs.yml](meta/argument_specs.yml) before the "
        "role's first task.",
        "",
        "| variable | type | required | default | description |",
        "|---|---|---|---|---|",
        *_rows(main.get("options", {}), defaults or {}),
        "",
    ]
    notes = role / "meta" / "notes.md"
    if notes.is_file():
        # Hand-written notes (e.g. what each tuning choice measured), after the variables.
        lines += [notes.read_text().rstrip("\n"), ""]
    return "\n".join(lines)


def _roles(roles_dir: Path) -> list[Path]:
    return sorted(p for p in roles_dir.iterdir() if (p / "meta" / "argument_specs.yml").is_file())


def stale_role_readmes(roles_dir: Path) -> list[Path]:
    """READMEs that differ from what their argument specs generate."""
    return [
        role / "README.md"
        for role in _roles(roles_dir)
        if not (role / "README.md").is_file()
        or (role / "README.md").read_text() != render_role_readme(role)
    ]


def write_role_readmes(roles_dir: Path) -> list[Path]:
    written = []
    for role in _roles(roles_dir):
        (role / "README.md").write_text(render_role_readme(role))
        written.append(role / "README.md")
    return written
