"""Compose, review, test, approve, cancel, reschedule and rebuild through the console."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import Console, open_console
from fastapi.testclient import TestClient
from test_web_support import LIST_SLUG, REPO

from newsletter.services import audit, issues
from newsletter.services.compose import send_dates
from newsletter.services.timing import describe_time, due_time
from newsletter.storage.models import IssueStatus, UserRole

ARTICLE = "core-bracing-made-simple"
SECOND = "desk-posture-for-a-happier-back"
TIP = "cat-cow-stretch"


@pytest.fixture
def console(db_url: str, tmp_path: Path) -> Iterator[Console]:
    content = tmp_path / "content"
    shutil.copytree(REPO / "content", content)
    with open_console(db_url, tmp_path, content_dir=content) as found:
        yield found


def next_week(console: Console) -> dt.date:
    cfg = console.web.settings
    return send_dates(cfg, cfg.today())[1].day


def queue(
    client: TestClient, token: str, day: dt.date, *, articles: tuple[str, ...] = (ARTICLE,),
    **extra: str,
) -> tuple[int, str]:  # fmt: skip
    data: dict[str, object] = {
        "csrf_token": token,
        "list": LIST_SLUG,
        "date": day.isoformat(),
        "articles": list(articles),
        "tips": [TIP],
        "subject": "Brace yourself",
        "preheader": "Small habits, strong back",
        "intro": "Hello from **the clinic**.",
    } | extra
    answer = client.post("/admin/issues/new", data=data)
    if answer.status_code != 303:
        return 0, answer.text
    found = re.fullmatch(r"/admin/issues/(\d+)\?done=queued", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1)), ""


def test_compose_offers_send_dates_lists_and_the_library(console: Console) -> None:
    client, _ = console.signed_in(UserRole.EDITOR)
    page = client.get(f"/admin/issues/new?list={LIST_SLUG}")
    assert page.status_code == 200
    when = describe_time(
        due_time(console.web.settings, next_week(console)), console.web.settings.zone
    )
    assert when in page.text
    assert f'value="{ARTICLE}"' in page.text and f'value="{TIP}"' in page.text
    assert '<label for="list">List</label>' in page.text


def test_editor_queues_an_issue_and_reviews_it(console: Console) -> None:
    client, token = console.signed_in(UserRole.EDITOR)
    day = next_week(console)
    issue_id, problem = queue(client, token, day, articles=(SECOND, ARTICLE))
    assert issue_id, problem
    view = issues.show_issue(console.web.sessions.kw["bind"], issue_id)
    assert view.status == IssueStatus.DRAFT and view.source == "queued"
    assert view.article_slugs[:2] == (SECOND, ARTICLE)
    assert view.subject == "Brace yourself" and view.intro == "Hello from **the clinic**."
    page = client.get(f"/admin/issues/{issue_id}?done=queued")
    assert page.status_code == 200
    when = describe_time(due_time(console.web.settings, day), console.web.settings.zone)
    assert f"It goes out {when} once it is approved." in page.text
    assert "All checks pass." in page.text
    assert 'title="Phone preview, 375 pixels wide"' in page.text
    assert "Hi Alex," in page.text  # the text part, with sample values
    assert "Approve…" not in page.text  # an editor is not offered what they may not do
    frame = client.get(f"/admin/issues/{issue_id}/frame")
    assert frame.status_code == 200 and "<html" in frame.text.lower()
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    [entry] = audit.entries(console.web.sessions, target=f"issue:{issue_id}")
    assert entry.action == "issue.queue" and entry.actor == "eddie@clinic.org"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"articles": ["no-such-article"]}, "articles", "unknown article"),
        ({"articles": [ARTICLE, ARTICLE]}, "articles", ""),
        ({"list": "nope"}, "list", "no list with slug"),
        ({"date": "2020-01-07"}, "date", "is in the past"),
        ({"date": "not-a-date"}, "date", "is not a date"),
    ],
)
def test_bad_compose_input_is_shown_next_to_its_field(
    console: Console, change: dict[str, object], field: str, message: str
) -> None:
    client, token = console.signed_in(UserRole.EDITOR)
    day = next_week(console)
    data: dict[str, object] = {
        "csrf_token": token, "list": LIST_SLUG, "date": day.isoformat(), "articles": [ARTICLE],
    } | change  # fmt: skip
    answer = client.post("/admin/issues/new", data=data)
    if change.get("articles") == [ARTICLE, ARTICLE]:
        # A ticked box sent twice is one pick, not an error.
        assert answer.status_code == 303
        return
    assert answer.status_code == 400
    assert f'id="{field}-error"' in answer.text and message in answer.text
    assert "The issue was not queued." in answer.text
    assert issues.list_issues(console.web.sessions.kw["bind"]) == []


def test_off_schedule_needs_the_explicit_choice(console: Console) -> None:
    client, token = console.signed_in(UserRole.EDITOR)
    day = next_week(console) + dt.timedelta(days=1)
    _, problem = queue(client, token, day)
    assert "never sends on" in problem
    issue_id, problem = queue(client, token, day, off_schedule="yes", other_date=day.isoformat())
    assert issue_id, problem


def test_a_second_live_issue_for_the_list_and_date_is_refused(console: Console) -> None:
    client, token = console.signed_in(UserRole.EDITOR)
    day = next_week(console)
    first, _ = queue(client, token, day)
    answer = client.post(
        "/admin/issues/new",
        data={"csrf_token": token, "list": LIST_SLUG, "date": day.isoformat()},
    )
    assert answer.status_code == 409
    assert "already has an issue" in answer.text and f"/admin/issues/{first}" in answer.text


def test_test_send_goes_through_the_sender_with_a_test_subject(console: Console) -> None:
    client, token = console.signed_in(UserRole.EDITOR)
    issue_id, _ = queue(client, token, next_week(console))
    answer = client.post(
        f"/admin/issues/{issue_id}/test", data={"csrf_token": token, "to": "a@x.org, b@x.org"}
    )
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=test")
    body = console.web.sender.sent[-1].decoded()
    assert body["subject"].startswith("[TEST] ")
    assert {p["to"][0]["email"] for p in body["personalizations"]} == {"a@x.org", "b@x.org"}
    [entry] = audit.entries(console.web.sessions, action="issue.test")
    assert entry.detail == "to a@x.org, b@x.org"
    bad = client.post(
        f"/admin/issues/{issue_id}/test", data={"csrf_token": token, "to": "not an address"}
    )
    assert bad.status_code == 400 and 'id="to-error"' in bad.text


def test_approve_confirms_with_the_send_time_then_approves(console: Console) -> None:
    editor, token = console.signed_in(UserRole.EDITOR)
    day = next_week(console)
    issue_id, _ = queue(editor, token, day)
    approver, token = console.signed_in(UserRole.APPROVER)
    when = describe_time(due_time(console.web.settings, day), console.web.settings.zone)
    ask = approver.post(f"/admin/issues/{issue_id}/approve", data={"csrf_token": token})
    assert ask.status_code == 200 and f"It goes out {when} to 0 subscribers" in ask.text
    engine = console.web.sessions.kw["bind"]
    assert issues.show_issue(engine, issue_id).status == IssueStatus.DRAFT
    done = approver.post(
        f"/admin/issues/{issue_id}/approve", data={"csrf_token": token, "confirm": "yes"}
    )
    assert done.status_code == 303
    view = issues.show_issue(engine, issue_id)
    assert view.status == IssueStatus.APPROVED and view.approved_by == "april@clinic.org"
    page = approver.get(done.headers["location"])
    assert f"Approved. It goes out {when}." in page.text
    assert "issue.approve" in page.text  # the issue's own history
    again = approver.post(
        f"/admin/issues/{issue_id}/approve", data={"csrf_token": token, "confirm": "yes"}
    )
    assert again.status_code == 409 and "only a draft can be approved" in again.text


def test_cancel_confirms_then_cancels(console: Console) -> None:
    editor, token = console.signed_in(UserRole.EDITOR)
    issue_id, _ = queue(editor, token, next_week(console))
    approver, token = console.signed_in(UserRole.APPROVER)
    ask = approver.post(f"/admin/issues/{issue_id}/cancel", data={"csrf_token": token})
    assert "cannot be undone" in ask.text
    done = approver.post(
        f"/admin/issues/{issue_id}/cancel", data={"csrf_token": token, "confirm": "yes"}
    )
    assert done.status_code == 303
    engine = console.web.sessions.kw["bind"]
    assert issues.show_issue(engine, issue_id).status == IssueStatus.CANCELLED
    assert [e.action for e in audit.entries(console.web.sessions, action="issue.cancel")]


def test_reschedule_moves_the_issue_and_drops_the_approval(console: Console) -> None:
    editor, token = console.signed_in(UserRole.EDITOR)
    day = next_week(console)
    issue_id, _ = queue(editor, token, day)
    engine = console.web.sessions.kw["bind"]
    issues.approve_issue(engine, issue_id, by="april@clinic.org")
    later = send_dates(console.web.settings, console.web.settings.today())[2].day
    done = editor.post(
        f"/admin/issues/{issue_id}/reschedule",
        data={"csrf_token": token, "date": later.isoformat()},
    )
    assert done.status_code == 303
    view = issues.show_issue(engine, issue_id)
    assert view.issue_date == later and view.status == IssueStatus.DRAFT
    assert view.intro == "Hello from **the clinic**."  # kept through the re-render
    [entry] = audit.entries(console.web.sessions, action="issue.reschedule")
    assert entry.detail == f"{day.isoformat()} -> {later.isoformat()}"
    past = editor.post(
        f"/admin/issues/{issue_id}/reschedule", data={"csrf_token": token, "date": "2020-01-07"}
    )
    assert past.status_code == 400 and "is in the past" in past.text


def test_content_changed_since_approval_offers_rebuild(console: Console) -> None:
    editor, token = console.signed_in(UserRole.EDITOR)
    issue_id, _ = queue(editor, token, next_week(console))
    engine = console.web.sessions.kw["bind"]
    issues.approve_issue(engine, issue_id, by="april@clinic.org")
    page = editor.get(f"/admin/issues/{issue_id}")
    assert "Rebuild and send back for approval" not in page.text
    path = console.web.settings.content_dir / "articles" / f"{ARTICLE}.md"
    path.write_text(
        path.read_text("utf-8").replace('"Core Bracing Made Simple"', '"Core Bracing, Simply"'),
        "utf-8",
    )
    page = editor.get(f"/admin/issues/{issue_id}")
    assert "The content changed since this issue was approved" in page.text
    assert "Rebuild and send back for approval" in page.text
    done = editor.post(f"/admin/issues/{issue_id}/rebuild", data={"csrf_token": token})
    assert done.status_code == 303
    fresh_id = int(re.findall(r"/admin/issues/(\d+)", done.headers["location"])[0])
    assert fresh_id != issue_id
    assert issues.show_issue(engine, issue_id).status == IssueStatus.CANCELLED
    fresh = issues.show_issue(engine, fresh_id)
    assert fresh.status == IssueStatus.DRAFT and fresh.intro == "Hello from **the clinic**."
    assert "Core Bracing, Simply" in editor.get(f"/admin/issues/{fresh_id}/frame").text


def test_home_calendar_puts_problems_first(console: Console) -> None:
    editor, token = console.signed_in(UserRole.EDITOR)
    page = editor.get("/admin")
    assert page.status_code == 200
    assert "Compose this issue" in page.text
    issue_id, _ = queue(editor, token, next_week(console))
    page = editor.get("/admin")
    assert f"#{issue_id} " in page.text and "Review and approve" in page.text
