"""Campaign rehearsal inputs: CSV, templates, headers, VERP, rate shapes."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from harness.bench.campaign import Campaign, RateShape, load_recipients, schedule
from harness.errors import BenchError


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.csv"
    path.write_text(text)
    return path


def _campaign(rows: list[dict[str, str]], subject: str = "Hi {{ name }}") -> Campaign:
    return Campaign.build(
        rows,
        subject,
        "Dear {{ name }},\n.a line starting with a dot\nbye\n",
        "news@example.test",
        "example.test",
        "https://unsub.example.test/u/{{ token }}",
        "unsubscribe+{{ token }}@example.test",
    )


def test_recipients_and_bad_rows_named(tmp_path: Path) -> None:
    rows = load_recipients(_csv(tmp_path, "email,name\nalice@example.test,Alice\n"))
    assert rows == [{"email": "alice@example.test", "name": "Alice"}]
    with pytest.raises(BenchError, match="row 3: 'not-an-address'") as caught:
        load_recipients(_csv(tmp_path, "email,name\na@b.test,A\nnot-an-address,B\n"))
    assert "nothing was sent" in str(caught.value)
    with pytest.raises(BenchError, match="no 'email' column"):
        load_recipients(_csv(tmp_path, "mail,name\na@b.test,A\n"))


def test_message_has_personalised_text_unsubscribe_and_verp() -> None:
    campaign = _campaign([{"email": "bob@example.test", "name": "Bob"}])
    data = campaign.render(0, "tok1", 1700000000.0)
    assert b"Subject: Hi Bob\r\n" in data
    assert b"Dear Bob,\r\n" in data
    assert b"\r\n..a line starting with a dot\r\n" in data  # dot-stuffed
    assert b"List-Unsubscribe: <https://unsub.example.test/u/tok1>, " in data
    assert b"<mailto:unsubscribe+tok1@example.test>\r\n" in data
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in data
    assert data.endswith(b"\r\n.\r\n")
    assert campaign.return_path(0) == "bounces+bob=example.test@example.test"


def test_unknown_template_variable_stops_before_sending() -> None:
    with pytest.raises(BenchError, match="surname"):
        _campaign([{"email": "bob@example.test", "name": "Bob"}], subject="Hi {{ surname }}")


def test_rate_shapes() -> None:
    steady = schedule(5, RateShape.parse("10"))
    assert steady == pytest.approx((0.0, 0.1, 0.2, 0.3, 0.4))
    ramp = schedule(100, RateShape.parse("ramp:10:30"))
    gaps = [b - a for a, b in itertools.pairwise(ramp)]
    assert gaps[0] > gaps[-1]  # it speeds up
    assert ramp[-1] == pytest.approx(2 * 100 / (10 + 30), rel=0.05)
    for bad in ("fast", "ramp:30:10", "0"):
        with pytest.raises(BenchError, match="--shape"):
            RateShape.parse(bad)
