"""Approvers send an approved issue from its page: confirm, stage in the background, progress."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import Console, open_console
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from test_console_issues import next_week, queue
from test_web_support import LIST_SLUG, REPO

from newsletter.services import audience, audit, issues
from newsletter.services.timing import describe_time, due_time
from newsletter.storage.models import IssueStatus, UserRole

PEOPLE = ("ana@example.org", "bo@example.org", "cy@example.org")


@pytest.fixture
def console(db_url: str, tmp_path: Path) -> Iterator[Console]:
    content = tmp_path / "content"
    shutil.copytree(REPO / "content", content)
    with open_console(db_url, tmp_path, content_dir=content) as found:
        for email in PEOPLE:
            audience.add_subscriber(found.web.sessions, LIST_SLUG, email, confirmed=True)
        yield found


def _approved(console: Console, day: dt.date) -> int:
    editor, token = console.signed_in(UserRole.EDITOR)
    offered = day == next_week(console)
    extra = {} if offered else {"off_schedule": "yes", "other_date": day.isoformat()}
    issue_id, problem = queue(editor, token, day, **extra)
    assert issue_id, problem
    issues.approve_issue(_engine(console), issue_id, by="april@clinic.org")
    return issue_id


def _engine(console: Console) -> Engine:
    return console.web.sessions.kw["bind"]


def _soon(console: Console) -> dt.date:
    """Two days ahead: off schedule, so due at the start of that day, within SendGrid's 72 h."""
    return console.web.settings.today() + dt.timedelta(days=2)


def _send(client: TestClient, token: str, issue_id: int, **data: str) -> object:
    return client.post(f"/admin/issues/{issue_id}/send", data={"csrf_token": token, **data})


def test_send_confirms_exactly_what_happens_then_stages_for_the_delivery_time(
    console: Console,
) -> None:
    cfg = console.web.settings
    day = _soon(console)
    issue_id = _approved(console, day)
    approver, token = console.signed_in(UserRole.APPROVER)
    page = approver.get(f"/admin/issues/{issue_id}")
    assert f'action="/admin/issues/{issue_id}/send"' in page.text

    ask = approver.post(f"/admin/issues/{issue_id}/send", data={"csrf_token": token})
    when = describe_time(due_time(cfg, day), cfg.zone)
    assert ask.status_code == 200
    staged = f"Staged now for 3 sendable members of list {LIST_SLUG}; SendGrid delivers it {when}"
    assert staged in ask.text
    assert 'name="deliver" value="due"' in ask.text  # the choice survives the confirmation
    assert console.web.sender.sent == []
    assert issues.show_issue(_engine(console), issue_id).status == IssueStatus.APPROVED

    done = _send(approver, token, issue_id, confirm="yes", deliver="due")
    assert done.status_code == 303 and done.headers["location"].endswith("?done=sending")
    # The TestClient returns once the background send has run.
    view = issues.show_issue(_engine(console), issue_id)
    assert view.status == IssueStatus.SENT
    bodies = [r.decoded() for r in console.web.sender.sent]
    assert {b["send_at"] for b in bodies} == {int(due_time(cfg, day).timestamp())}
    assert sorted(e for b in bodies for e in (p["to"][0]["email"] for p in b["personalizations"]))
    actions = [e.action for e in audit.entries(console.web.sessions, target=f"issue:{issue_id}")]
    assert "issue.send" in actions and "issue.send.done" in actions
    [started] = audit.entries(console.web.sessions, action="issue.send")
    assert started.actor == "april@clinic.org" and when in started.detail

    shown = approver.get(done.headers["location"])
    assert "The send has started" in shown.text
    assert "3 of 3 recipients accepted in 1 of 1 batches" in shown.text
    assert f'action="/admin/issues/{issue_id}/send"' not in shown.text  # sent: no second send


def test_deliver_now_is_an_explicit_choice(console: Console) -> None:
    issue_id = _approved(console, next_week(console))
    approver, token = console.signed_in(UserRole.APPROVER)
    # A week ahead is past SendGrid's 72 hours: at its time it cannot be staged yet.
    early = _send(approver, token, issue_id)
    assert early.status_code == 409 and "SendGrid holds mail at most 72 hours" in early.text
    assert 'id="send-error"' in early.text
    asked = dt.datetime.now(dt.UTC)
    ask = _send(approver, token, issue_id, deliver="now")
    assert "SendGrid delivers it as soon as possible, from " in ask.text
    done = _send(approver, token, issue_id, deliver="now", confirm="yes")
    assert done.status_code == 303
    (body,) = [r.decoded() for r in console.web.sender.sent]
    lead = body["send_at"] - asked.timestamp()
    assert 15 * 60 <= lead <= console.web.settings.stage_lead_minutes * 60 + 60


def test_unapproved_issues_are_refused_and_nothing_is_sent(console: Console) -> None:
    editor, token = console.signed_in(UserRole.EDITOR)
    issue_id, _ = queue(editor, token, next_week(console))
    approver, token = console.signed_in(UserRole.APPROVER)
    assert f"/admin/issues/{issue_id}/send" not in approver.get(f"/admin/issues/{issue_id}").text
    refused = _send(approver, token, issue_id, deliver="now", confirm="yes")
    assert refused.status_code == 409, refused.text[refused.text.find("<main") :][:3000]
    assert "is draft: approve it first; only an approved issue can be sent" in refused.text
    assert console.web.sender.sent == []
    assert audit.entries(console.web.sessions, action="issue.send") == []
    # Editors never see the button (the server refuses them too: test_console_routes).
    assert "/send" not in editor.get(f"/admin/issues/{issue_id}").text


def test_without_staging_an_early_send_needs_now(db_url: str, tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(REPO / "content", content)
    with open_console(db_url, tmp_path, content_dir=content, stage_sends=False) as console:
        audience.add_subscriber(console.web.sessions, LIST_SLUG, PEOPLE[0], confirmed=True)
        issue_id = _approved(console, next_week(console))
        approver, token = console.signed_in(UserRole.APPROVER)
        refused = _send(approver, token, issue_id, confirm="yes")
        assert refused.status_code == 409 and "would reach inboxes early" in refused.text
        assert console.web.sender.sent == []
        ask = _send(approver, token, issue_id, deliver="now")
        assert "It is sent to 1 sendable members of list" in ask.text
        _send(approver, token, issue_id, deliver="now", confirm="yes")
        assert [r.recipients() for r in console.web.sender.sent] == [[PEOPLE[0]]]
        assert "send_at" not in console.web.sender.sent[0].decoded()


def test_a_failed_background_send_is_on_the_issue_history(console: Console) -> None:
    issue_id = _approved(console, _soon(console))
    approver, token = console.signed_in(UserRole.APPROVER)
    ask = _send(approver, token, issue_id)
    assert ask.status_code == 200
    # Everyone leaves between the confirmation and the send: the service refuses.
    for email in PEOPLE:
        audience.unsubscribe_email(console.web.sessions, email, None, source="test")
    done = _send(approver, token, issue_id, confirm="yes")
    assert done.status_code == 303
    [failed] = audit.entries(console.web.sessions, action="issue.send.failed")
    assert "no sendable members" in failed.detail
    page = approver.get(f"/admin/issues/{issue_id}")
    assert "issue.send.failed" in page.text


def test_the_progress_box_is_a_partial_for_htmx(console: Console) -> None:
    issue_id = _approved(console, _soon(console))
    approver, token = console.signed_in(UserRole.APPROVER)
    _send(approver, token, issue_id, confirm="yes")
    part = approver.get(f"/admin/issues/{issue_id}/progress", headers={"HX-Request": "true"})
    assert part.status_code == 200
    assert part.text.lstrip().startswith("{#") is False
    assert re.search(r'^\s*<div id="send-progress"', part.text)
    assert "<html" not in part.text and "3 of 3 recipients accepted" in part.text
    assert "hx-trigger" not in part.text  # sent: the box stops polling
