"""A campaign kept as a directory: ``campaign.yml`` naming the sender, the subject template
and the one-click unsubscribe templates, beside the body template and the recipients CSV::

    from: news@example.test
    subject: "News for {{ first_name }}"
    body: body.txt                      # a file beside campaign.yml
    recipients: recipients.csv          # header row, an 'email' column
    return_domain: example.test         # VERP bounces; default: the From domain
    unsubscribe_url: "https://example.test/u/{{ token }}"
    unsubscribe_mailto: "unsubscribe+{{ token }}@example.test"

`mailstack preflight --campaign DIR` checks it; `bench campaign --campaign DIR` sends it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.bench.campaign import Campaign, load_recipients
from harness.errors import BenchError

__all__ = ["CAMPAIGN_FILE", "load_campaign_dir"]

CAMPAIGN_FILE = "campaign.yml"
_KEYS = {
    "from",
    "subject",
    "body",
    "recipients",
    "return_domain",
    "unsubscribe_url",
    "unsubscribe_mailto",
}
_REQUIRED = ("from", "subject", "body", "recipients")


def _text(doc: dict[str, Any], key: str, where: Path) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BenchError(
            f"{where}: {key} must be a non-empty string, got {value!r}",
            hint=f"set {key}: in {CAMPAIGN_FILE} (see `mailstack preflight --help`)",
        )
    return value


def _read(path: Path, key: str, where: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BenchError(
            f"{where}: {key}: cannot read {path}: {exc.strerror}",
            hint=f"name a file beside {CAMPAIGN_FILE}",
        ) from None


def load_campaign_dir(directory: Path) -> Campaign:
    """The campaign in ``directory``; its templates are not rendered here (a preflight
    reports unknown variables as findings, a send checks them with ``Campaign.check``)."""
    where = directory / CAMPAIGN_FILE
    try:
        doc = yaml.safe_load(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BenchError(
            f"cannot read {where}: {exc.strerror}",
            hint=f"a campaign directory holds {CAMPAIGN_FILE}, the body and the recipients CSV",
        ) from None
    except yaml.YAMLError as exc:
        raise BenchError(f"{where} is not YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise BenchError(f"{where}: expected a mapping of {', '.join(sorted(_KEYS))}")
    unknown = sorted(str(k) for k in doc if k not in _KEYS)
    if unknown:
        raise BenchError(
            f"{where}: unknown key {unknown[0]!r}", hint=f"keys: {', '.join(sorted(_KEYS))}"
        )
    for key in _REQUIRED:
        _text(doc, key, where)
    sender = _text(doc, "from", where).strip()
    if "@" not in sender:
        raise BenchError(f"{where}: from {sender!r} is not an address", hint="news@your.domain")
    domain = sender.rsplit("@", 1)[1]
    return Campaign(
        rows=tuple(
            tuple(sorted(r.items())) for r in load_recipients(directory / str(doc["recipients"]))
        ),
        subject=str(doc["subject"]),
        body=_read(directory / str(doc["body"]), "body", where),
        from_address=sender,
        return_domain=str(doc.get("return_domain") or domain),
        unsubscribe_url=str(doc.get("unsubscribe_url") or f"https://{domain}/u/{{{{ token }}}}"),
        unsubscribe_mailto=str(
            doc.get("unsubscribe_mailto") or f"unsubscribe+{{{{ token }}}}@{domain}"
        ),
    )
