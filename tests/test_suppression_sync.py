"""The hourly suppression sync against the project's fake SendGrid, with paging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.delivery.suppressions_api import SuppressionsClient
from newsletter.services.schedule import JobEnv, cursor_name, sync_suppressions
from newsletter.settings import load_settings
from newsletter.storage.db import transaction
from newsletter.storage.models import SuppressionReason
from newsletter.storage.repositories import scheduling as sched_repo
from newsletter.storage.repositories import suppressions as suppressions_repo
from newsletter.testing.fake_sendgrid import DEFAULT_API_KEY, FakeSendGrid

NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)
BASE = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp())


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def _env(sessions: sessionmaker[Session]) -> JobEnv:
    return JobEnv(settings=load_settings(), sessions=sessions, now=lambda: NOW)


def _client(fake: FakeSendGrid, page_size: int = 50) -> SuppressionsClient:
    return SuppressionsClient(fake.url, DEFAULT_API_KEY, 5.0, page_size=page_size)


def _reasons(sessions: sessionmaker[Session]) -> dict[str, SuppressionReason]:
    with transaction(sessions) as session:
        return {s.email_key: s.reason for s in suppressions_repo.list_all(session)}


def test_sync_pages_through_every_kind(sessions: sessionmaker[Session], fake: FakeSendGrid) -> None:
    for n in range(120):
        fake.add_suppression("bounces", f"bounce{n}@example.com", created=BASE + n)
    fake.add_suppression("spam_reports", "Angry@Example.COM", created=BASE + 5)
    fake.add_suppression("invalid_emails", "not-an-address", created=BASE + 6)
    fake.add_suppression("global_unsubscribes", "gone@example.com", created=BASE + 7)
    fake.add_suppression("blocks", "blocked@example.com", created=BASE + 8)
    client = _client(fake)

    counts = sync_suppressions(_env(sessions), client)

    assert counts == {"seen": 124, "added": 124, "kinds": 5}
    # 120 bounces in pages of 50 need three pages; every other kind fits in one.
    assert client.requests_made == 3 + 4
    reasons = _reasons(sessions)
    assert len(reasons) == 124
    assert reasons["bounce0@example.com"] is SuppressionReason.BOUNCE
    assert reasons["angry@example.com"] is SuppressionReason.SPAMREPORT
    assert reasons["not-an-address"] is SuppressionReason.INVALID
    assert reasons["gone@example.com"] is SuppressionReason.UNSUBSCRIBE
    assert reasons["blocked@example.com"] is SuppressionReason.BOUNCE
    with transaction(sessions) as session:
        assert sched_repo.get_cursor(session, cursor_name("bounces")) == BASE + 119
        assert sched_repo.get_cursor(session, cursor_name("spam_reports")) == BASE + 5


def test_second_sync_starts_from_the_cursor(
    sessions: sessionmaker[Session], fake: FakeSendGrid
) -> None:
    for n in range(60):
        fake.add_suppression("bounces", f"old{n}@example.com", created=BASE + n)
    sync_suppressions(_env(sessions), _client(fake), kinds=["bounces"])
    fake.add_suppression("bounces", "new1@example.com", created=BASE + 1000)
    fake.add_suppression("bounces", "new2@example.com", created=BASE + 1001)

    client = _client(fake)
    counts = sync_suppressions(_env(sessions), client, kinds=["bounces"])

    # Only the entry at the cursor's own second is read again, plus the two new ones.
    assert counts["seen"] == 3
    assert counts["added"] == 2
    assert client.requests_made == 1
    assert len(_reasons(sessions)) == 62
    with transaction(sessions) as session:
        assert sched_repo.get_cursor(session, cursor_name("bounces")) == BASE + 1001


def test_sync_keeps_an_existing_manual_suppression(
    sessions: sessionmaker[Session], fake: FakeSendGrid
) -> None:
    with transaction(sessions) as session:
        suppressions_repo.add(
            session,
            email="kept@example.com",
            email_key="kept@example.com",
            reason=SuppressionReason.MANUAL,
            source="manual",
        )
    fake.add_suppression("bounces", "kept@example.com", created=BASE)
    counts = sync_suppressions(_env(sessions), _client(fake), kinds=["bounces"])
    assert counts["added"] == 0
    assert _reasons(sessions)["kept@example.com"] is SuppressionReason.MANUAL


def test_sync_without_an_api_key_is_skipped(sessions: sessionmaker[Session]) -> None:
    assert sync_suppressions(_env(sessions)) == {"status": "skipped"}


def test_stop_request_ends_the_sync_between_kinds(
    sessions: sessionmaker[Session], fake: FakeSendGrid
) -> None:
    fake.add_suppression("bounces", "a@example.com", created=BASE)
    env = JobEnv(
        settings=load_settings(), sessions=sessions, now=lambda: NOW, should_stop=lambda: True
    )
    assert sync_suppressions(env, _client(fake))["kinds"] == 0
    assert _reasons(sessions) == {}
