"""Render a role's templates offline, the way Ansible would: Jinja set up as Ansible's template
module sets it (trim_blocks, the core and math filters, the core tests, the roles' own filter
plugins), the role's variable files read in Ansible's order and templated until nothing more
resolves."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml
from ansible.plugins.filter.core import FilterModule as AnsibleCoreFilters
from ansible.plugins.filter.mathstuff import FilterModule as AnsibleMathFilters
from ansible.plugins.test.core import TestModule as AnsibleCoreTests

from tests.filter_plugins import ROLES, load_filters


def ansible_environment(roles: Iterable[str], templates: Path | None = None) -> jinja2.Environment:
    """Jinja as Ansible's template module sets it up, with the filter plugins of ``roles`` and
    ``templates`` as the folder an ``{% include %}`` reads from."""
    env = jinja2.Environment(  # noqa: S701 - config files, not HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
        loader=jinja2.FileSystemLoader(templates) if templates else None,
    )
    env.filters.update(AnsibleCoreFilters().filters())
    env.filters.update(AnsibleMathFilters().filters())
    env.tests.update(AnsibleCoreTests().tests())
    # Ansible's default() knows only Ansible's own undefined marker; Jinja's does the same for
    # Jinja's undefined.
    env.filters["default"] = env.filters["d"] = jinja2.filters.do_default
    for role in roles:
        if (ROLES / role / "filter_plugins" / f"{role}.py").is_file():
            env.filters.update(load_filters(role).FilterModule().filters())
    return env


def templated(env: jinja2.Environment, raw: Any, ctx: Mapping[str, Any]) -> Any:
    """One variable templated the way Ansible does: a lone {{ expression }} keeps its type."""
    if isinstance(raw, dict):
        return {k: templated(env, v, ctx) for k, v in raw.items()}
    if isinstance(raw, list):
        return [templated(env, v, ctx) for v in raw]
    if not isinstance(raw, str) or "{{" not in raw:
        return raw
    lone = re.fullmatch(r"\s*\{\{(.*)\}\}\s*", raw, re.DOTALL)
    if lone and "{{" not in lone.group(1):
        value = env.compile_expression(lone.group(1), undefined_to_none=False)(**ctx)
        if isinstance(value, jinja2.Undefined):  # a variable not resolved yet: try again later
            raise jinja2.UndefinedError(lone.group(1))
        return value
    return env.from_string(raw).render(ctx)


def role_variables(
    env: jinja2.Environment, files: Iterable[Path], facts: Mapping[str, Any], **overrides: Any
) -> dict[str, Any]:
    """The variables of ``files`` (later files win, then ``overrides``) templated over
    ``facts`` (what the play knows that no file sets) until nothing more resolves; a variable
    that needs what is not there (a registered result) stays out."""
    raw: dict[str, Any] = {}
    for path in files:
        if path.is_file():
            raw.update(yaml.safe_load(path.read_text()) or {})
    raw.update(overrides)
    ctx: dict[str, Any] = {**facts, **{k: v for k, v in overrides.items() if k in facts}}
    # Plain values first: a template reading one through default() must not see it unset.
    ctx.update({k: v for k, v in raw.items() if k not in ctx and "{{" not in str(v)})
    pending = {k: v for k, v in raw.items() if k not in ctx}
    while pending:
        done = []
        for name, value in pending.items():
            try:
                ctx[name] = templated(env, value, ctx)
            except jinja2.UndefinedError:
                continue
            done.append(name)
        if not done:
            break
        for name in done:
            del pending[name]
    return ctx


def role_files(role: str, version: int = 12) -> list[Path]:
    """A role's defaults and vars in the order Ansible reads them for Debian ``version``
    (defaults first, then vars/main.yml, then the per-OS files the role loads)."""
    base = ROLES / role
    return [
        base / "defaults/main.yml",
        base / "vars/main.yml",
        base / "vars/Debian.yml",
        base / f"vars/Debian-{version}.yml",
    ]
