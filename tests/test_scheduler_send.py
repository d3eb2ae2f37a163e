"""The job bodies on real services: assemble + notice, the approval gate, stale refusal."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.services import audience, issues
from newsletter.services.queue import reschedule_issue
from newsletter.services.resume import resume_sends
from newsletter.services.schedule import (
    AUTOPILOT,
    JobEnv,
    assemble_upcoming,
    send_due,
)
from newsletter.settings import load_settings
from newsletter.storage.db import session_factory
from newsletter.storage.models import Issue, IssueStatus

NY = ZoneInfo("America/New_York")
ISSUE_DAY = dt.date(2026, 11, 24)  # a Tuesday
SEND_AT = dt.datetime(2026, 11, 24, 9, 0, tzinfo=NY)
ASSEMBLE_AT = dt.datetime(2026, 11, 19, 10, 0, tzinfo=NY)  # the Thursday before
LIST = "back-care"


def make_list(engine: Engine, members: int = 3, slug: str = LIST) -> list[str]:
    sessions = session_factory(engine)
    audience.create_list(sessions, slug, "Back Care Weekly")
    emails = [f"{slug}-{n}@example.com" for n in range(members)]
    for email in emails:
        audience.add_subscriber(sessions, slug, email, confirmed=True)
    return emails


def env_at(engine: Engine, when: dt.datetime, **settings: Any) -> JobEnv:
    return JobEnv(
        settings=load_settings(**settings), sessions=session_factory(engine), now=lambda: when
    )


def outbox_messages(outbox: Path) -> dict[str, list[dict[str, Any]]]:
    """Outbox request bodies keyed by batch key (file stem)."""
    if not outbox.exists():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(outbox.glob("*.json"))}


def issue_recipients(outbox: Path) -> list[str]:
    found: list[str] = []
    for key, body in outbox_messages(outbox).items():
        if key.startswith("review-"):
            continue
        assert isinstance(body, dict)
        found += [to["email"] for p in body["personalizations"] for to in p["to"]]
    return found


def notices(outbox: Path) -> list[dict[str, Any]]:
    return [b for k, b in outbox_messages(outbox).items() if k.startswith("review-")]  # type: ignore[misc]


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


def _status(engine: Engine, issue_id: int) -> Issue:
    sessions: sessionmaker[Session] = session_factory(engine)
    with sessions() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        return issue


def test_assemble_builds_next_send_dates_drafts_and_notifies(engine: Engine, outbox: Path) -> None:
    make_list(engine)
    make_list(engine, slug="sciatica-news")
    env = env_at(engine, ASSEMBLE_AT, review_emails=["marketing@example.com"])

    counts = assemble_upcoming(env, ASSEMBLE_AT)
    again = assemble_upcoming(env, ASSEMBLE_AT)

    assert counts["built"] == 2 and counts["date"] == ISSUE_DAY.isoformat()
    assert again["built"] == 0 and again["existing"] == 2
    views = issues.list_issues(engine)
    assert {(v.list_slug, v.issue_date, v.status) for v in views} == {
        (LIST, ISSUE_DAY, IssueStatus.DRAFT),
        ("sciatica-news", ISSUE_DAY, IssueStatus.DRAFT),
    }
    sent = notices(outbox)
    assert len(sent) == 2  # one per run: the second run's notice lists the same drafts
    body = sent[0]
    assert body["personalizations"][0]["to"] == [{"email": "marketing@example.com"}]
    assert "2026-11-24" in body["subject"]
    text = body["content"][0]["value"]
    for view in views:
        assert view.subject.split()[0] in text
        assert f"/issues/{view.id}/preview" in text
        assert f"newsletter issue approve {view.id}" in text


def test_gate_on_draft_is_skipped_loudly_and_nothing_is_sent(
    engine: Engine, outbox: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_list(engine)
    draft = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)
    env = env_at(engine, SEND_AT, review_emails=["marketing@example.com"])

    with caplog.at_level("ERROR"):
        counts = send_due(env, SEND_AT)

    assert counts["status"] == "skipped"
    assert counts["blocked"] == 1 and counts["sent"] == 0
    assert f"issue {draft.id} is not approved" in counts["detail"]
    assert issue_recipients(outbox) == []
    assert _status(engine, draft.id).status == IssueStatus.DRAFT
    assert any("NOT SENT" in r.getMessage() for r in caplog.records)
    [notice] = notices(outbox)
    assert notice["subject"].startswith("NOT SENT")


def test_gate_with_no_issue_at_all_is_skipped(engine: Engine, outbox: Path) -> None:
    make_list(engine)
    counts = send_due(env_at(engine, SEND_AT), SEND_AT)
    assert counts["status"] == "skipped"
    assert "no issue for 2026-11-24" in counts["detail"]
    assert issues.list_issues(engine) == []


def test_approved_issue_goes_to_every_member_once(engine: Engine, outbox: Path) -> None:
    members = make_list(engine, members=4)
    view = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)
    issues.approve_issue(engine, view.id, by="ana@clinic.example.org")

    counts = send_due(env_at(engine, SEND_AT), SEND_AT)
    again = send_due(env_at(engine, SEND_AT + dt.timedelta(minutes=5)), SEND_AT)

    assert counts["sent"] == 1 and counts["accepted"] == 4
    assert again["sent"] == 0
    assert sorted(issue_recipients(outbox)) == sorted(members)
    assert _status(engine, view.id).status == IssueStatus.SENT


def test_autopilot_approves_the_draft_and_sends(engine: Engine, outbox: Path) -> None:
    members = make_list(engine)
    draft = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)

    counts = send_due(env_at(engine, SEND_AT, require_approval=False), SEND_AT)

    assert counts["sent"] == 1
    issue = _status(engine, draft.id)
    assert issue.approved_by == AUTOPILOT
    assert issue.status == IssueStatus.SENT
    assert sorted(issue_recipients(outbox)) == sorted(members)


def test_autopilot_builds_when_assemble_never_ran(engine: Engine, outbox: Path) -> None:
    members = make_list(engine)
    counts = send_due(env_at(engine, SEND_AT, require_approval=False), SEND_AT)
    assert counts["sent"] == 1
    [view] = issues.list_issues(engine)
    assert view.issue_date == ISSUE_DAY and view.approved_by == AUTOPILOT
    assert sorted(issue_recipients(outbox)) == sorted(members)


@pytest.mark.parametrize("require_approval", [True, False])
def test_content_changed_after_approval_is_not_sent(
    engine: Engine, outbox: Path, require_approval: bool
) -> None:
    make_list(engine)
    view = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)
    issues.approve_issue(engine, view.id, by="ana")
    with session_factory(engine).begin() as session:
        session.execute(update(Issue).where(Issue.id == view.id).values(html="<p>edited</p>"))

    env = env_at(engine, SEND_AT, require_approval=require_approval)
    counts = send_due(env, SEND_AT)

    assert counts["sent"] == 0
    assert "changed after approval" in counts["detail"]
    assert issue_recipients(outbox) == []


def test_an_edit_by_reschedule_needs_approval_again(engine: Engine, outbox: Path) -> None:
    members = make_list(engine)
    cfg = load_settings()
    view = issues.build_issue(cfg, engine, LIST, dt.date(2026, 11, 17))
    issues.approve_issue(engine, view.id, by="ana")

    moved = reschedule_issue(cfg, engine, view.id, ISSUE_DAY, today=dt.date(2026, 11, 16))

    assert moved.issue_date == ISSUE_DAY
    assert moved.status == IssueStatus.DRAFT and moved.approved_by is None
    assert moved.content_hash != view.content_hash
    assert send_due(env_at(engine, SEND_AT), SEND_AT)["blocked"] == 1
    issues.approve_issue(engine, view.id, by="ana")
    assert send_due(env_at(engine, SEND_AT), SEND_AT)["sent"] == 1
    assert sorted(issue_recipients(outbox)) == sorted(members)


def test_an_issue_past_its_send_time_beyond_the_grace_is_refused(
    engine: Engine, outbox: Path
) -> None:
    make_list(engine)
    view = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)
    issues.approve_issue(engine, view.id, by="ana")

    late = env_at(engine, SEND_AT + dt.timedelta(hours=7))
    counts = send_due(late, SEND_AT)

    assert counts["status"] == "failed" and counts["stale"] == 1
    assert issue_recipients(outbox) == []
    assert _status(engine, view.id).status == IssueStatus.APPROVED


def test_resume_finishes_an_interrupted_send(engine: Engine, outbox: Path) -> None:
    members = make_list(engine, members=7)
    view = issues.build_issue(load_settings(batch_size=2), engine, LIST, ISSUE_DAY)
    issues.approve_issue(engine, view.id, by="ana")
    calls = {"n": 0}

    def stop_after_two_batches() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    env = JobEnv(
        settings=load_settings(batch_size=2, send_concurrency=1),
        sessions=session_factory(engine),
        now=lambda: SEND_AT,
        should_stop=stop_after_two_batches,
    )
    first = send_due(env, SEND_AT)
    assert first["sent"] == 1
    assert _status(engine, view.id).status == IssueStatus.SENDING
    assert 0 < len(issue_recipients(outbox)) < len(members)

    resumed = resume_sends(env_at(engine, SEND_AT + dt.timedelta(minutes=5), batch_size=2))

    assert resumed["resumed"] == 1
    assert sorted(issue_recipients(outbox)) == sorted(members)
    assert _status(engine, view.id).status == IssueStatus.SENT


def test_resume_job_stages_an_approved_issue_the_lead_before_its_delivery_time(
    engine: Engine, outbox: Path
) -> None:
    make_list(engine, members=3)
    view = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)
    issues.approve_issue(engine, view.id, by="ana@clinic.example.org")
    early = resume_sends(env_at(engine, SEND_AT - dt.timedelta(hours=1)))
    assert early["resumed"] == 0 and _status(engine, view.id).status == IssueStatus.APPROVED
    # 09:00 less the 30-minute lead is 08:30; the job every 5 minutes starts it in time.
    staged = resume_sends(env_at(engine, SEND_AT - dt.timedelta(minutes=35)))
    assert staged["resumed"] == 1
    issue = _status(engine, view.id)
    assert issue.status == IssueStatus.SENT
    assert issue.stage_plan is not None
    assert dt.datetime.fromisoformat(str(issue.stage_plan[0]["send_at"])) == SEND_AT
    # The send job at 09:00 finds it under way and sends nothing twice.
    assert send_due(env_at(engine, SEND_AT), SEND_AT)["sent"] == 0


def test_a_local_time_list_is_staged_for_its_earliest_zone(engine: Engine, outbox: Path) -> None:
    make_list(engine, members=2)
    sessions = session_factory(engine)
    audience.update_list_delivery(sessions, LIST, local_time="09:00")
    audience.add_subscriber(
        sessions, LIST, "far@example.com", confirmed=True, timezone="Pacific/Tongatapu"
    )
    view = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)
    issues.approve_issue(engine, view.id, by="ana@clinic.example.org")
    # 09:00 on the 24th in Tongatapu (UTC+13) is 20:00 UTC on the 23rd; less the lead.
    tonga = dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.UTC)
    assert resume_sends(env_at(engine, tonga - dt.timedelta(hours=2)))["resumed"] == 0
    assert resume_sends(env_at(engine, tonga - dt.timedelta(minutes=35)))["resumed"] == 1
    assert _status(engine, view.id).status == IssueStatus.SENT
