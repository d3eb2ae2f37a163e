"""``newsletter issue queue|cancel|reschedule``: marketing's queue through the CLI."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from newsletter.cli import app, queue_cmd
from newsletter.content.loader import load_library
from newsletter.errors import FieldError
from newsletter.services import issues
from newsletter.services import queue as queue_service
from newsletter.settings import load_settings
from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory
from newsletter.storage.models import Issue, IssueStatus
from tests.test_scheduler_send import LIST, make_list

_ = queue_cmd  # importing it registers the commands on `issue`
REPO = Path(__file__).resolve().parent.parent


def tuesday_after(days: int) -> dt.date:
    """The first Tuesday ``days`` from today or later: the default schedule sends Tuesdays."""
    soon = dt.date.today() + dt.timedelta(days=days)
    return soon + dt.timedelta(days=(1 - soon.weekday()) % 7)


DAY = tuesday_after(30)


@pytest.fixture
def cli_engine(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    make_list(engine)
    return engine


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _choices() -> tuple[list[str], list[str]]:
    library = load_library(REPO / "content")
    live = sorted(slug for slug, a in library.articles.items() if a.is_live(DAY))
    return live[:3], sorted(library.tips)[:1]


def _queue(*extra: str) -> Result:
    return run("issue", "queue", "--list", LIST, "--date", DAY.isoformat(), "--json", *extra)


def test_queue_stores_a_draft_from_the_chosen_content(cli_engine: Engine) -> None:
    articles, tips = _choices()
    result = _queue(
        "--article",
        articles[0],
        "--article",
        articles[1],
        "--article",
        articles[2],
        "--tip",
        tips[0],
        "--subject",
        "Your back, this week",
        "--preheader",
        "Two reads and a tip",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "draft"
    assert data["source"] == "queued"
    assert data["date"] == DAY.isoformat()
    assert data["articles"] == articles
    assert data["tips"][:1] == tips and len(data["tips"]) == 2  # the empty tip slot is filled
    assert data["subject"] == "Your back, this week"
    assert data["preheader"] == "Two reads and a tip"


def test_queue_without_choices_fills_the_issue_the_usual_way(cli_engine: Engine) -> None:
    result = run("issue", "queue", "--list", LIST, "--date", DAY.isoformat())
    assert result.exit_code == 0, result.output
    assert "queued" in result.stdout and "newsletter issue approve" in result.stdout
    [view] = issues.list_issues(cli_engine)
    assert view.article_slugs and view.status == IssueStatus.DRAFT


def test_unknown_slug_is_named(cli_engine: Engine) -> None:
    result = _queue("--article", "no-such-article", "--tip", "no-such-tip")
    assert result.exit_code == 1
    assert "article 'no-such-article'" in result.output
    assert "tip 'no-such-tip'" in result.output
    assert issues.list_issues(cli_engine) == []


def test_bad_or_past_dates(cli_engine: Engine) -> None:
    bad = run("issue", "queue", "--list", LIST, "--date", "24/11/2026")
    assert bad.exit_code == 2
    past = run("issue", "queue", "--list", LIST, "--date", "2020-01-07")
    assert past.exit_code == 1
    assert "in the past" in past.output


def test_one_live_issue_per_list_and_date(cli_engine: Engine) -> None:
    first = json.loads(_queue().stdout)
    second = _queue()
    assert second.exit_code == 1
    assert f"already has issue {first['id']}" in second.output
    cancelled = run("issue", "cancel", str(first["id"]), "--json")
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    again = _queue()
    assert again.exit_code == 0, again.output


def test_cancel_refuses_an_issue_that_started_sending(cli_engine: Engine) -> None:
    issue_id = json.loads(_queue().stdout)["id"]
    with session_factory(cli_engine).begin() as session:
        session.execute(update(Issue).where(Issue.id == issue_id).values(status="sent"))
    result = run("issue", "cancel", str(issue_id))
    assert result.exit_code == 1
    assert "is sent" in result.output
    missing = run("issue", "cancel", "999999")
    assert missing.exit_code == 1


def test_reschedule_moves_and_drops_the_approval(cli_engine: Engine) -> None:
    issue_id = json.loads(_queue().stdout)["id"]
    issues.approve_issue(cli_engine, issue_id, by="ana")
    later = DAY + dt.timedelta(days=7)

    result = run("issue", "reschedule", str(issue_id), "--date", later.isoformat(), "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["date"] == later.isoformat()
    assert data["status"] == "draft"
    assert data["approved_by"] is None
    view = issues.show_issue(cli_engine, issue_id)
    assert view.issue_date == later


def test_reschedule_onto_a_taken_date_is_a_conflict(cli_engine: Engine) -> None:
    first = json.loads(_queue().stdout)["id"]
    later = DAY + dt.timedelta(days=7)
    run("issue", "queue", "--list", LIST, "--date", later.isoformat())
    result = run("issue", "reschedule", str(first), "--date", later.isoformat())
    assert result.exit_code == 1
    assert "already has an issue" in result.output
    assert issues.show_issue(cli_engine, first).issue_date == DAY


def test_approve_after_queue_records_who_and_when(cli_engine: Engine) -> None:
    issue_id = json.loads(_queue().stdout)["id"]
    view = issues.approve_issue(cli_engine, issue_id, by="ana@clinic.example.org")
    assert view.approved_by == "ana@clinic.example.org"
    assert view.approved_at is not None
    assert load_settings().require_approval is True


def _stored(engine: Engine, issue_id: int) -> Issue:
    with session_factory(engine)() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        return issue


def _content_with_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    content = tmp_path / "content"
    shutil.copytree(REPO / "content", content)
    (content / "issues").mkdir(exist_ok=True)
    (content / "issues" / f"{DAY.isoformat()}-{LIST}.md").write_text(body, encoding="utf-8")
    monkeypatch.setenv("NEWSLETTER_CONTENT_DIR", str(content))


def test_queue_honours_the_override_file_for_that_date(
    cli_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    articles, _ = _choices()
    _content_with_override(
        tmp_path,
        monkeypatch,
        "---\nsubject: Open house week\n---\nJoin us **Saturday** for posture checks.\n",
    )

    result = _queue("--article", articles[0])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["subject"] == "Open house week"  # from the file: the queue gave none
    assert data["articles"][0] == articles[0]
    assert any("override file" in note for note in data["notes"])
    stored = _stored(cli_engine, data["id"])
    assert "Join us Saturday for posture checks." in stored.text
    assert "Saturday</strong>" in stored.html


def test_no_override_note_without_an_override_file(cli_engine: Engine) -> None:
    result = _queue()
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]
    assert not any("override" in note for note in notes), notes


def test_one_article_fills_the_other_slots(cli_engine: Engine) -> None:
    articles, _ = _choices()
    chosen = articles[-1]
    result = _queue("--article", chosen)
    assert result.exit_code == 0, result.output
    picked = json.loads(result.stdout)["articles"]
    assert picked[0] == chosen
    assert len(picked) == load_settings().articles_per_issue
    assert len(set(picked)) == len(picked)


@pytest.mark.parametrize("option", ["--tip", "--article"])
def test_the_same_piece_twice_is_refused(cli_engine: Engine, option: str) -> None:
    articles, tips = _choices()
    slug = tips[0] if option == "--tip" else articles[0]
    result = _queue(option, slug, option, slug)
    assert result.exit_code == 1
    assert f"{option.lstrip('-')}s: " in result.output
    assert "more than once" in result.output and slug in result.output
    assert issues.list_issues(cli_engine) == []


def test_the_service_names_each_bad_field(cli_engine: Engine) -> None:
    wednesday = DAY + dt.timedelta(days=1)
    with pytest.raises(FieldError) as caught:
        queue_service.queue_issue(
            load_settings(),
            cli_engine,
            "no-such-list",
            wednesday,
            tips=("no-such-tip", "no-such-tip"),
        )
    fields = {p.field for p in caught.value.problems}
    assert fields == {"list", "date", "tips"}
    assert any("more than once" in m for m in caught.value.for_field("tips"))


def test_a_date_the_schedule_never_sends_needs_confirming(cli_engine: Engine) -> None:
    wednesday = (DAY + dt.timedelta(days=1)).isoformat()
    refused = run("issue", "queue", "--list", LIST, "--date", wednesday)
    assert refused.exit_code == 1
    assert "never sends" in refused.output and "--off-schedule" in refused.output
    assert issues.list_issues(cli_engine) == []

    allowed = run("issue", "queue", "--list", LIST, "--date", wednesday, "--off-schedule")
    assert allowed.exit_code == 0, allowed.output

    issue_id = json.loads(_queue().stdout)["id"]
    moved = run("issue", "reschedule", str(issue_id), "--date", wednesday)
    assert moved.exit_code == 1 and "never sends" in moved.output


def test_replace_cancels_the_issue_named_in_the_conflict(cli_engine: Engine) -> None:
    first = json.loads(_queue().stdout)["id"]
    conflict = _queue()
    assert conflict.exit_code == 1 and "--replace" in conflict.output

    replaced = _queue("--replace")

    assert replaced.exit_code == 0, replaced.output
    assert issues.show_issue(cli_engine, first).status == IssueStatus.CANCELLED
    assert json.loads(replaced.stdout)["status"] == "draft"
