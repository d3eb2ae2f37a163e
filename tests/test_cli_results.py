"""`newsletter issue show` reports what the signed webhook events said about an issue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from test_web_support import Web, event, make_issue, open_cli_web, subscribed
from typer.testing import CliRunner

from newsletter.cli import app

runner = CliRunner()


@pytest.fixture
def web(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    with open_cli_web(db_url, tmp_path, monkeypatch) as opened:
        yield opened


def _sent_issue(web: Web, people: int) -> tuple[int, list[str]]:
    emails = [f"reader{i}@example.org" for i in range(people)]
    recipients = [(subscribed(web, email), email) for email in emails]
    return make_issue(web.sessions, web.list_id, recipients=recipients), emails


def test_show_counts_each_outcome_and_says_over_the_complaint_line(web: Web) -> None:
    issue, emails = _sent_issue(web, 4)
    events = [event("delivered", email, n=i, issue_id=issue) for i, email in enumerate(emails)]
    events += [
        event("open", emails[0], n=10, issue_id=issue),
        event("click", emails[0], n=11, issue_id=issue),
        event("spamreport", emails[1], n=12, issue_id=issue),
        event("bounce", emails[2], n=13, issue_id=issue, type="bounce"),
        event("dropped", emails[3], n=14, issue_id=issue, reason="Spam Reporting Address"),
    ]
    assert web.post_events(events).status_code == 200

    result = runner.invoke(app, ["issue", "show", str(issue)])
    assert result.exit_code == 0, result.output
    assert "Results (from SendGrid events)" in result.stdout
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "1 " in rows["spam complaints"] and "25.00%" in rows["spam complaints"]
    assert "1 " in rows["bounced"]
    assert "1 " in rows["dropped"]
    # Bounces, drops and complaints end memberships but are not unsubscribes.
    assert "0 " in rows["unsubscribed"]
    assert "is over Gmail's 0.3% line" in result.stderr
    assert "close to" not in result.stderr

    shown = orjson.loads(runner.invoke(app, ["issue", "show", str(issue), "--json"]).stdout)
    res = shown["results"]
    assert (res["delivered"], res["opened"], res["clicked"]) == (4, 1, 1)
    assert (res["complaints"], res["bounced"], res["dropped"], res["unsubscribed"]) == (1, 1, 1, 0)
    assert res["complaint_level"] == "over"
    assert res["complaint_warning"] is True


def test_show_stays_quiet_without_complaints(web: Web) -> None:
    issue, emails = _sent_issue(web, 2)
    events = [event("delivered", email, n=i, issue_id=issue) for i, email in enumerate(emails)]
    assert web.post_events(events).status_code == 200
    result = runner.invoke(app, ["issue", "show", str(issue)])
    assert result.exit_code == 0, result.output
    assert "is under Gmail's 0.3% line" in result.stdout
    assert "Gmail" not in result.stderr


def test_show_without_a_webhook_key_says_no_events_can_arrive(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY")
    issue, _ = _sent_issue(web, 2)
    result = runner.invoke(app, ["issue", "show", str(issue)])
    assert result.exit_code == 0, result.output
    assert "no delivery, open, click, bounce or complaint event can arrive" in result.stderr
    assert "Results (from SendGrid events)" not in result.stdout
    shown = orjson.loads(runner.invoke(app, ["issue", "show", str(issue), "--json"]).stdout)
    assert shown["results"]["webhook_configured"] is False
    assert shown["results"]["delivered"] is None
