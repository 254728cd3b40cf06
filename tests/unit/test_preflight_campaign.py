"""A campaign directory as preflight reads it: template variables against the recipients'
columns, clear errors for a bad campaign.yml, and the report's JUnit form."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.bench.campaign_dir import load_campaign_dir
from harness.errors import BenchError
from harness.preflight.message import check_message
from harness.preflight.report import junit_xml
from harness.preflight.rules import Status, finding, not_checked
from harness.preflight.run import PreflightReport
from harness.preflight.templates import check_templates, render_sample

BODY = "Hello {{ first_name }},\n\nNews.\n\nUnsubscribe: https://example.test/u/{{ token }}\n"


def _campaign(tmp_path: Path, body: str = BODY, extra: str = "") -> Path:
    (tmp_path / "body.txt").write_text(body)
    (tmp_path / "recipients.csv").write_text(
        "email,first_name\ncarol@peer.test,Carol\ndave@peer.test,Dave\n"
    )
    (tmp_path / "campaign.yml").write_text(
        "from: news@example.test\nsubject: 'News for {{ first_name }}'\n"
        f"body: body.txt\nrecipients: recipients.csv\n{extra}"
    )
    return tmp_path


def test_a_good_campaign_renders_and_its_sample_passes_the_message_rules(
    tmp_path: Path,
) -> None:
    campaign = load_campaign_dir(_campaign(tmp_path))
    assert check_templates(campaign).status is Status.PASS
    raw = render_sample(campaign)
    assert raw.startswith(b"From: <news@example.test>")
    assert not [f for f in check_message(raw, size_limit=10**6) if f.blocks]


def test_an_unknown_variable_is_named_with_its_template(tmp_path: Path) -> None:
    campaign = load_campaign_dir(_campaign(tmp_path, BODY.replace("first_name", "firstname")))
    found = check_templates(campaign)
    assert found.blocks
    assert "body: firstname" in found.evidence


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("colour: blue\n", "unknown key 'colour'"),
        ("unsubscribe_url: ''\n", ""),  # empty optional value: the default is used
    ],
)
def test_campaign_yml_keys_are_checked(tmp_path: Path, extra: str, message: str) -> None:
    directory = _campaign(tmp_path, extra=extra)
    if message:
        with pytest.raises(BenchError, match=message):
            load_campaign_dir(directory)
    else:
        assert "{{ token }}" in load_campaign_dir(directory).unsubscribe_url


def test_a_missing_body_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    directory = _campaign(tmp_path)
    (directory / "body.txt").unlink()
    with pytest.raises(BenchError, match=r"body: cannot read .*body\.txt"):
        load_campaign_dir(directory)


def test_junit_fails_blockers_only_and_skips_what_was_not_checked() -> None:
    report = PreflightReport(
        from_address="news@example.test",
        sample="built-in",
        receiver="(none)",
        resolver="127.0.0.1:53",
        findings=[
            finding("dmarc.record", False, "_dmarc.example.test TXT: NXDOMAIN"),
            finding("dmarc.rua", False, "rua=(none)"),
            finding("spf.record", True, "v=spf1 -all"),
            not_checked("dkim.pass", "no receiver"),
        ],
    )
    suite = ET.fromstring(junit_xml(report))  # noqa: S314 -- XML made by the test
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["dmarc.record"].find("failure")
    assert failure is not None
    assert "fix:" in (failure.text or "")
    assert cases["dmarc.rua"].find("failure") is None
    assert "warning" in (cases["dmarc.rua"].findtext("system-out") or "")
    assert cases["dkim.pass"].find("skipped") is not None
