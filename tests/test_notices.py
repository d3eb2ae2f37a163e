"""The reviewers' notices say what happened and what to run next, naming issues by id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.services import issues
from newsletter.services.schedule import assemble_upcoming, send_due
from newsletter.settings import load_settings
from tests.test_scheduler_send import (
    ASSEMBLE_AT,
    ISSUE_DAY,
    LIST,
    SEND_AT,
    env_at,
    make_list,
    notices,
)

REVIEWERS = ["marketing@example.com"]


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


def _text(notice: dict[str, Any]) -> str:
    text = notice["content"][0]
    assert text["type"] == "text/plain"
    return str(text["value"])


def test_an_approved_issue_is_not_asked_to_be_approved(engine: Engine, outbox: Path) -> None:
    make_list(engine)
    make_list(engine, slug="sciatica-news")
    draft = issues.build_issue(load_settings(), engine, "sciatica-news", ISSUE_DAY)
    done = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)
    issues.approve_issue(engine, done.id, by="ana")

    assemble_upcoming(env_at(engine, ASSEMBLE_AT, review_emails=REVIEWERS), ASSEMBLE_AT)

    [notice] = notices(outbox)
    text = _text(notice)
    assert notice["subject"] == f"Review: newsletter for {ISSUE_DAY.isoformat()}"
    assert f"newsletter issue approve {draft.id}" in text
    assert f"newsletter issue approve {done.id}" not in text
    assert "Approved by ana." in text
    assert "1 waiting for approval" in text


def test_a_failed_assembly_is_titled_as_a_failure(
    engine: Engine, outbox: Path, tmp_path: Path
) -> None:
    make_list(engine)
    empty = tmp_path / "empty-content"
    for folder in ("articles", "tips", "issues"):
        (empty / folder).mkdir(parents=True)
    env = env_at(engine, ASSEMBLE_AT, review_emails=REVIEWERS, content_dir=empty)

    counts = assemble_upcoming(env, ASSEMBLE_AT)

    assert counts["status"] == "failed"
    [notice] = notices(outbox)
    assert notice["subject"].startswith("FAILED: ")
    text = _text(notice)
    assert text.startswith("Failed: no issue could be built for Tue 24 Nov 2026")
    assert "Review the newsletter" not in text
    assert "the library has no articles" in " ".join(text.split())


def test_not_sent_names_the_issue_and_the_commands(engine: Engine, outbox: Path) -> None:
    make_list(engine)
    make_list(engine, slug="sciatica-news")
    draft = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)

    send_due(env_at(engine, SEND_AT, review_emails=REVIEWERS), SEND_AT)

    [notice] = notices(outbox)
    assert notice["subject"] == f"NOT SENT: newsletter for 2026-11-24 (issue {draft.id})"
    text = " ".join(_text(notice).split())  # the text part wraps long lines
    assert f"newsletter issue approve {draft.id}" in text
    assert f"newsletter issue send {draft.id}" in text
    assert "issue send ID" not in text
    # The list without any issue gets the build command for that date.
    assert "newsletter issue build --list sciatica-news --date 2026-11-24" in text


def test_build_points_to_the_preview_of_the_built_issue(
    db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["lists", "create", LIST, "--name", "Back care"]).exit_code == 0

    result = runner.invoke(app, ["issue", "build", "--list", LIST, "--date", "2026-11-24"])

    assert result.exit_code == 0, result.output
    [view] = issues.list_issues(engine)
    assert f"`newsletter issue preview {view.id}`" in result.stdout
    assert "preview --list" not in result.stdout
