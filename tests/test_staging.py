"""Staged sends against the fake SendGrid: batch ids, send_at, settling and its fallback."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import make_issue, seed_audience

from newsletter.delivery.retry import RetryPolicy
from newsletter.delivery.senders import MemorySender, SendGridSender
from newsletter.services import issues as issue_service
from newsletter.services.hold import hold_issue
from newsletter.services.issues_send import send_issue
from newsletter.settings import load_settings
from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory, transaction
from newsletter.storage.models import BatchStatus, IssueStatus, utcnow
from newsletter.storage.repositories import ledger as ledger_repo
from newsletter.storage.repositories import lists, subscribers
from newsletter.testing.fake_faults import Fault
from newsletter.testing.fake_sendgrid import FakeSendGrid

QUICK = RetryPolicy(
    max_attempts=3, base_delay=0.01, max_delay=0.05, jitter=0.05, poll_interval=0.05
)
HOUR = 3600


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'staging.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield url, engine
    engine.dispose()


def _sender(fake: FakeSendGrid, timeout: float = 5.0) -> SendGridSender:
    return SendGridSender(fake.api_key, base_url=fake.url, timeout=timeout)


def test_every_batch_is_staged_with_its_own_batch_id_and_delivered_at_send_at(
    db_url: str, engine: Engine, sessions: sessionmaker[Session], fake: FakeSendGrid
) -> None:
    audience = seed_audience(sessions, 25)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = load_settings(database_url=db_url, batch_size=10)
    before = utcnow()
    report = send_issue(cfg, engine, issue_id, sender=_sender(fake), policy=QUICK)
    assert report.ok and report.status == IssueStatus.SENT
    # The issue's date is past, so SendGrid delivers it the stage lead from now.
    (group,) = report.groups
    lead = (group.send_at - before).total_seconds()
    assert 30 * 60 <= lead < 31 * 60
    ids = {r.batch_id for r in fake.requests}
    assert len(ids) == 3 and None not in ids
    assert {r.send_at for r in fake.requests} == {int(group.send_at.timestamp())}
    assert fake.delivered_recipients() == Counter()
    batches = issue_service.show_issue(engine, issue_id)
    assert batches.status == IssueStatus.SENT
    fake.advance_clock(HOUR)
    assert fake.delivered_recipients() == Counter({e: 1 for e in audience.emails})


@pytest.mark.parametrize("fault", ["reset", "hang"])
def test_an_unknown_outcome_is_cancelled_confirmed_and_resent(
    local: tuple[str, Engine], fake: FakeSendGrid, fault: str
) -> None:
    url, engine = local
    sessions = session_factory(engine)
    audience = seed_audience(sessions, 30)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = load_settings(database_url=url, batch_size=10, send_concurrency=1)
    # "hang": SendGrid took batch 1 and the answer was lost; "reset": it may not have.
    fake.add_faults(Fault(fault, 1.0))  # type: ignore[arg-type]
    report = send_issue(cfg, engine, issue_id, sender=_sender(fake, timeout=0.4), policy=QUICK)
    assert report.ok, report.as_dict()
    assert report.settled.resent == [1] and not report.unknown
    cancelled = fake.schedule.list_statuses()
    assert len(cancelled) == 1 and cancelled[0]["status"] == "cancel"
    fake.advance_clock(HOUR)
    assert fake.delivered_recipients() == Counter({e: 1 for e in audience.emails})
    with transaction(sessions) as session:
        (first,) = ledger_repo.batch_infos(session, issue_id, [BatchStatus.ACCEPTED])[:1]
    assert first.settle_note is not None and "settled by cancelling" in first.settle_note
    assert first.sg_batch_id != cancelled[0]["batch_id"]


def test_late_or_failing_cancels_fall_back_to_reported_unknown(
    local: tuple[str, Engine], fake: FakeSendGrid
) -> None:
    url, engine = local
    sessions = session_factory(engine)
    audience = seed_audience(sessions, 20)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = load_settings(database_url=url, batch_size=10, send_concurrency=1)
    fake.add_faults(Fault("hang", 1.0))
    sender = _sender(fake, timeout=0.4)
    # The batch API fails whenever settling asks: the batch stays unknown, with the reason.
    fake.batch_faults.set_random({"503": 1.0})
    original = sender.create_batch
    ids = iter([fake.create_batch() for _ in range(2)])
    sender.create_batch = lambda: next(ids)  # type: ignore[method-assign]
    report = send_issue(cfg, engine, issue_id, sender=sender, policy=QUICK)
    assert [b.batch_no for b in report.unknown] == [1]
    assert "the batch API failed" in (report.unknown[0].settle_note or "")
    assert report.unknown[0].settle_step == "fallback"
    fake.batch_faults.clear()
    sender.create_batch = original  # type: ignore[method-assign]
    # Resumed 25 minutes later: under 10 minutes to send_at, cancelling is not guaranteed.
    later = utcnow() + dt.timedelta(minutes=25)
    again = send_issue(cfg, engine, issue_id, sender=sender, policy=QUICK, clock=lambda: later)
    assert [b.batch_no for b in again.unknown] == [1]
    note = again.unknown[0].settle_note or ""
    assert "under SendGrid's 10-minute limit" in note
    shown = issue_service.show_issue(engine, issue_id)
    assert any("10-minute" in (b.settle_note or "") for b in shown.problem_batches)
    fake.advance_clock(HOUR)
    # Nobody twice, nobody lost: batch 1 went out once (the hang was accepted).
    assert fake.delivered_recipients() == Counter({e: 1 for e in audience.emails})


SIX_ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Pacific/Tongatapu",
    "America/Los_Angeles",
]


def test_local_time_list_gets_nine_o_clock_in_each_zone_in_batches_of_one_send_at(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 24)
    with transaction(sessions) as session:
        mailing_list = lists.get(session, audience.list_id)
        mailing_list.local_time = "09:00"
        mailing_list.timezone = "Europe/Berlin"
        for n, sid in enumerate(audience.ids):
            person = subscribers.get(session, sid)
            # Every fourth person has no zone: the list's (Berlin) applies.
            person.timezone = None if n % 4 == 3 else SIX_ZONES[n % len(SIX_ZONES)]
    # Tuesday 3 Nov 2026, two days after the US left summer time; staged on the Monday.
    issue_id = make_issue(sessions, audience.list_id, issue_date=dt.date(2026, 11, 3))
    monday = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
    cfg = load_settings(database_url=db_url, batch_size=10)
    sender = MemorySender()
    report = send_issue(cfg, engine, issue_id, sender=sender, clock=lambda: monday)
    assert report.ok
    zone_of: dict[str, str] = {}
    with transaction(sessions) as session:
        for sid, email in zip(audience.ids, audience.emails, strict=True):
            zone_of[email] = subscribers.get(session, sid).timezone or "Europe/Berlin"
    seen = 0
    for request in sender.sent:
        body = request.decoded()
        stamps = {p["send_at"] for p in body["personalizations"]}
        assert stamps == {body["send_at"]}, "a batch holds one send_at only"
        for p in body["personalizations"]:
            zone = ZoneInfo(zone_of[p["to"][0]["email"]])
            local = dt.datetime.fromtimestamp(p["send_at"], dt.UTC).astimezone(zone)
            assert (local.date(), local.hour, local.minute) == (dt.date(2026, 11, 3), 9, 0)
            seen += 1
    assert seen == 24
    # Tongatapu (UTC+13) is first; New York's 09:00 is 14:00 UTC this week.
    first = min(g.send_at for g in report.groups)
    assert first == dt.datetime(2026, 11, 2, 20, 0, tzinfo=dt.UTC)
    assert dt.datetime(2026, 11, 3, 14, 0, tzinfo=dt.UTC) in {g.send_at for g in report.groups}


def test_an_issue_not_yet_due_is_staged_for_its_delivery_time(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 5)
    day = dt.date(2026, 11, 24)  # a Tuesday: the default schedule sends at 09:00 New York
    issue_id = make_issue(sessions, audience.list_id, issue_date=day)
    due = dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.UTC)
    cfg = load_settings(database_url=db_url)
    sender = MemorySender()
    before = due - dt.timedelta(hours=50)
    report = send_issue(cfg, engine, issue_id, sender=sender, clock=lambda: before)
    assert report.ok and [g.send_at for g in report.groups] == [due]
    assert {r.send_at for r in sender.sent} == {int(due.timestamp())}


def test_a_staged_issue_can_be_paused_resumed_and_cancelled_within_the_10_holds(
    local: tuple[str, Engine], fake: FakeSendGrid
) -> None:
    url, engine = local
    sessions = session_factory(engine)
    audience = seed_audience(sessions, 24)
    first = make_issue(sessions, audience.list_id)
    cfg = load_settings(database_url=url, batch_size=4)  # 6 batches
    sender = _sender(fake)
    assert send_issue(cfg, engine, first, sender=sender, policy=QUICK).ok
    paused = hold_issue(engine, first, "pause", sender=sender)
    assert paused.ok and len(paused.done) == 6
    assert {s["status"] for s in fake.schedule.list_statuses()} == {"pause"}
    resumed = hold_issue(engine, first, "resume", sender=sender)
    assert resumed.ok and fake.schedule.list_statuses() == []
    # Six held; a second issue of six batches finds only four places left.
    assert hold_issue(engine, first, "cancel", sender=sender).ok
    second = make_issue(sessions, audience.list_id, issue_date=dt.date(2025, 3, 11), tag="2")
    assert send_issue(cfg, engine, second, sender=sender, policy=QUICK).ok
    partly = hold_issue(engine, second, "cancel", sender=sender)
    assert len(partly.done) == 4 and len(partly.not_done) == 2
    assert all("10 paused or cancelled" in why for why in partly.not_done.values())
    shown = issue_service.show_issue(engine, first)
    assert all(
        "cancelled at SendGrid by an operator" in (b.settle_note or "")
        for b in shown.problem_batches
    )
    fake.advance_clock(HOUR)
    delivered = fake.delivered_recipients()
    # The first issue was stopped entirely; of the second, the two batches left went out.
    assert delivered.total() == 8
