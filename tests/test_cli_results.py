"""`newsletter issue show` reports what the signed webhook events said about an issue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from test_web_support import Web, event, make_issue, open_web, subscribed
from typer.testing import CliRunner

from newsletter.cli import app

runner = CliRunner()


@pytest.fixture
def web(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    with open_web(db_url, tmp_path) as opened:
        yield opened


def _sent_issue(web: Web, people: int) -> tuple[int, list[str]]:
    emails = [f"reader{i}@example.org" for i in range(people)]
    recipients = [(subscribed(web, email), email) for email in emails]
    return make_issue(web.sessions, web.list_id, recipients=recipients), emails


def test_show_counts_events_and_warns_near_the_complaint_line(web: Web) -> None:
    issue, emails = _sent_issue(web, 3)
    events = [event("delivered", email, n=i, issue_id=issue) for i, email in enumerate(emails)]
    events += [
        event("open", emails[0], n=10, issue_id=issue),
        event("click", emails[0], n=11, issue_id=issue),
        event("spamreport", emails[1], n=12, issue_id=issue),
    ]
    assert web.post_events(events).status_code == 200

    result = runner.invoke(app, ["issue", "show", str(issue)])
    assert result.exit_code == 0, result.output
    assert "Results (from SendGrid events)" in result.stdout
    assert "33.333%" in result.stdout
    assert "close to Gmail's 0.3% line" in result.stderr

    shown = orjson.loads(runner.invoke(app, ["issue", "show", str(issue), "--json"]).stdout)
    assert shown["results"]["delivered"] == 3
    assert shown["results"]["opened"] == 1
    assert shown["results"]["clicked"] == 1
    assert shown["results"]["complaints"] == 1
    assert shown["results"]["complaint_warning"] is True


def test_show_stays_quiet_without_complaints(web: Web) -> None:
    issue, emails = _sent_issue(web, 2)
    events = [event("delivered", email, n=i, issue_id=issue) for i, email in enumerate(emails)]
    assert web.post_events(events).status_code == 200
    result = runner.invoke(app, ["issue", "show", str(issue)])
    assert result.exit_code == 0, result.output
    assert "0.000%" in result.stdout
    assert "Gmail" not in result.stderr
