"""``issue send`` never reaches inboxes before the issue's delivery time unless ``--now``.

Most of this is the unstaged send (``NEWSLETTER_STAGE_SENDS=false``), which refuses an
early issue. A staged send hands it to SendGrid with ``send_at`` at its delivery time
instead, which works from 72 hours ahead: the last test here.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.errors import NotDueError
from newsletter.services import issues, issues_send, timing
from newsletter.settings import load_settings
from newsletter.storage.models import IssueStatus
from tests.test_queue import cli_engine, tuesday_after
from tests.test_scheduler_send import LIST

_ = cli_engine  # the fixture: a migrated database with the list and three members

LATER = tuesday_after(8)
"""At least a week ahead; the default schedule sends Tuesdays at 09:00."""


@pytest.fixture(autouse=True)
def _unstaged(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    if "staged" not in request.node.name:
        monkeypatch.setenv("NEWSLETTER_STAGE_SENDS", "false")


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def _approved_later(engine: Engine) -> int:
    built = run("issue", "build", "--list", LIST, "--date", LATER.isoformat(), "--json")
    assert built.exit_code == 0, built.output
    issue_id = int(json.loads(built.stdout)["id"])
    approved = run("issue", "approve", str(issue_id), "--by", "ana")
    assert approved.exit_code == 0, approved.output
    return issue_id


def _outbox_files(tmp_path: Path) -> list[Path]:
    outbox = tmp_path / "outbox"
    return sorted(outbox.glob("*.json")) if outbox.exists() else []


def test_an_issue_dated_later_is_refused_with_its_due_time(
    cli_engine: Engine, tmp_path: Path
) -> None:
    issue_id = _approved_later(cli_engine)

    result = run("issue", "send", str(issue_id), "--yes")

    assert result.exit_code == 1
    due = f"{timing.describe_date(LATER)} at 09:00 America/New_York"
    assert f"is due {due}" in result.output
    assert f"newsletter issue send {issue_id} --now" in result.output
    assert "Traceback" not in result.output
    assert _outbox_files(tmp_path) == []
    assert issues.show_issue(cli_engine, issue_id).status == IssueStatus.APPROVED


def test_the_service_refuses_too_whatever_face_asks(cli_engine: Engine) -> None:
    issue_id = _approved_later(cli_engine)
    with pytest.raises(NotDueError):
        issues_send.send_issue(load_settings(), cli_engine, issue_id)
    due = timing.due_time(load_settings(), LATER)
    # At its time (the scheduler's clock) it goes.
    report = issues_send.send_issue(load_settings(), cli_engine, issue_id, now=due)
    assert report.ok


def test_now_sends_early_after_a_prompt_with_date_time_zone_and_count(
    cli_engine: Engine, tmp_path: Path
) -> None:
    issue_id = _approved_later(cli_engine)

    declined = run("issue", "send", str(issue_id), "--now", input="n\n")

    assert declined.exit_code == 1
    question = declined.output
    assert f"dated {timing.describe_date(LATER)}" in question
    assert "3 sendable members" in question
    assert "America/New_York" in question
    assert f"before its delivery time {timing.describe_date(LATER)} at 09:00" in question
    assert _outbox_files(tmp_path) == []

    sent = run("issue", "send", str(issue_id), "--now", input="y\n")
    assert sent.exit_code == 0, sent.output
    assert issues.show_issue(cli_engine, issue_id).status == IssueStatus.SENT
    assert _outbox_files(tmp_path)


def test_approve_says_when_it_goes_out(cli_engine: Engine) -> None:
    built = run("issue", "build", "--list", LIST, "--date", LATER.isoformat(), "--json")
    issue_id = json.loads(built.stdout)["id"]
    result = run("issue", "approve", str(issue_id), "--by", "ana")
    assert result.exit_code == 0, result.output
    assert f"It goes out {timing.describe_date(LATER)} at 09:00 America/New_York" in result.stdout


def test_describe_time_is_unambiguous() -> None:
    zone = load_settings().zone
    instant = dt.datetime(2026, 12, 8, 14, 0, tzinfo=dt.UTC)
    assert timing.describe_time(instant, zone) == "Tue 8 Dec 2026 at 09:00 America/New_York"


def test_staged_an_issue_too_far_ahead_says_when_staging_opens_and_now_stages_it(
    cli_engine: Engine, tmp_path: Path
) -> None:
    issue_id = _approved_later(cli_engine)
    result = run("issue", "send", str(issue_id), "--yes")
    assert result.exit_code == 1
    assert "SendGrid holds mail at most 72 hours, so it can be staged from" in result.output
    assert _outbox_files(tmp_path) == []
    staged = run("issue", "send", str(issue_id), "--yes", "--now")
    assert staged.exit_code == 0, staged.output
    assert "staged; SendGrid delivers at" in staged.output and "from now" in staged.output
    assert _outbox_files(tmp_path)
