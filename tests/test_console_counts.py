"""The lists page's member counts: kept by triggers, equal to a fresh COUNT after every change.

Each step below is one way memberships change in production (import on both writers,
signup, confirmation, unsubscribe, webhook bounce/complaint/unsubscribe, manual
suppression, erasure, event retention); after each, the maintained counts and the
sendable figure must equal what a full scan counts right now.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.services import audience, lifecycle
from newsletter.services.events import ingest_events, process_pending_events
from newsletter.storage.db import transaction
from newsletter.storage.models import (
    ListMemberCount,
    Membership,
    MembershipStatus,
    Subscriber,
    Suppression,
    SuppressionReason,
)
from newsletter.storage.repositories import member_counts

BACK, NECK = "back-care", "neck-care"


def _fresh(session: Session) -> dict[int, dict[MembershipStatus, int]]:
    counts: dict[int, dict[MembershipStatus, int]] = {}
    query = select(Membership.list_id, Membership.status, func.count()).group_by(
        Membership.list_id, Membership.status
    )
    for list_id, status, n in session.execute(query):
        counts.setdefault(list_id, dict.fromkeys(MembershipStatus, 0))[status] = n
    return counts


def _fresh_sendable(session: Session, list_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Membership)
        .join(Subscriber, Subscriber.id == Membership.subscriber_id)
        .where(
            Membership.list_id == list_id,
            Membership.status == MembershipStatus.SUBSCRIBED,
            Membership.confirmed_at.is_not(None),
            (Subscriber.paused_until.is_(None)) | (Subscriber.paused_until <= func.now()),
            ~select(Suppression.id).where(Suppression.email_key == Subscriber.email_key).exists(),
        )
    )
    return int(session.scalar(query) or 0)


def _raw_table(session: Session) -> dict[int, dict[MembershipStatus, int]]:
    """What the trigger-kept table says, summed by hand (no fold, no repository code)."""
    counts: dict[int, dict[MembershipStatus, int]] = {}
    c = ListMemberCount
    query = select(c.list_id, c.status, func.sum(c.members)).group_by(c.list_id, c.status)
    for list_id, status, n in session.execute(query):
        if n:
            counts.setdefault(list_id, dict.fromkeys(MembershipStatus, 0))[
                MembershipStatus(status)
            ] = int(n)
    return counts


def _assert_exact(sessions: sessionmaker[Session], step: str) -> None:
    with transaction(sessions) as session:
        fresh = _fresh(session)
        assert _raw_table(session) == fresh, f"after {step}"
    shown = {row.list.slug: row for row in audience.lists_with_counts(sessions)}
    with transaction(sessions) as session:
        fresh = _fresh(session)
        for row in shown.values():
            by_status = fresh.get(row.list.id, dict.fromkeys(MembershipStatus, 0))
            assert (row.pending, row.subscribed, row.unsubscribed) == (
                by_status[MembershipStatus.PENDING],
                by_status[MembershipStatus.SUBSCRIBED],
                by_status[MembershipStatus.UNSUBSCRIBED],
            ), f"{row.list.slug} after {step}"
            assert row.sendable == _fresh_sendable(session, row.list.id), f"after {step}"


def _csv(path: Path, emails: list[str]) -> Path:
    path.write_text("email,first_name\n" + "".join(f"{e},X\n" for e in emails), encoding="utf-8")
    return path


def _signup(sessions: sessionmaker[Session], slug: str, email: str) -> tuple[int, int]:
    result = audience.subscribe_pending(
        sessions, slug, email, None, source="web:test", ip=None, user_agent=None
    )
    assert result.subscriber_id is not None
    return result.subscriber_id, result.list_id


def _events(sessions: sessionmaker[Session], *items: tuple[str, str]) -> None:
    ingest_events(
        sessions,
        [
            {"event": name, "email": email, "timestamp": 1_741_000_000 + i, "sg_event_id": f"x{i}"}
            for i, (name, email) in enumerate(items)
        ],
    )
    process_pending_events(sessions)


@pytest.mark.parametrize("bulk", [None, False], ids=["default-writer", "chunked-writer"])
def test_counts_stay_exact_through_every_kind_of_change(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path, bulk: bool | None
) -> None:
    if bulk is False and engine.dialect.name == "sqlite":
        pytest.skip("SQLite has only the chunked writer (the default run covers it)")
    back = audience.create_list(sessions, BACK, "Back Care").id
    audience.create_list(sessions, NECK, "Neck Care")
    _assert_exact(sessions, "creating lists")

    people = [f"p{i}@example.org" for i in range(40)]
    audience.import_csv(sessions, _csv(tmp_path / "a.csv", people[:30]), BACK, bulk=bulk)
    _assert_exact(sessions, "a pending import")
    # Confirms the 30 pending, adds 10 confirmed; a bad row is skipped.
    rows = [*people, "not-an-address"]
    audience.import_csv(sessions, _csv(tmp_path / "b.csv", rows), BACK, confirmed=True, bulk=bulk)
    _assert_exact(sessions, "a confirmed import over pending members")
    audience.import_csv(
        sessions, _csv(tmp_path / "c.csv", people[:5]), NECK, confirmed=True, dry_run=True
    )
    _assert_exact(sessions, "a dry run (rolled back)")

    sid, list_id = _signup(sessions, NECK, "new@example.org")
    _assert_exact(sessions, "a signup")
    audience.confirm(sessions, sid, list_id, ip=None, user_agent=None, source="web:confirm")
    _assert_exact(sessions, "a confirmation")
    _signup(sessions, NECK, "p1@example.org")
    _assert_exact(sessions, "a second list's signup by a member")

    audience.unsubscribe_email(sessions, "p2@example.org", BACK, source="web:one-click")
    audience.unsubscribe_email(sessions, "p1@example.org", None, source="cli")
    _assert_exact(sessions, "unsubscribes from one list and from all")

    _events(sessions, ("bounce", "p3@example.org"), ("spamreport", "p4@example.org"))
    _events(sessions, ("unsubscribe", "p5@example.org"))
    _assert_exact(sessions, "webhook bounce, complaint and unsubscribe")
    audience.add_suppression(sessions, "p6@example.org", SuppressionReason.MANUAL, source="t")
    _assert_exact(sessions, "a manual suppression")

    lifecycle.forget(sessions, "p7@example.org")
    lifecycle.forget(sessions, "p1@example.org")
    _assert_exact(sessions, "erasure (subscribers forget)")
    lifecycle.prune_events(
        sessions, retention_days=0, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    )
    _assert_exact(sessions, "event retention")

    with transaction(sessions) as session:
        assert _fresh(session)[back][MembershipStatus.SUBSCRIBED] > 20
        gone = "SELECT id FROM subscribers WHERE email LIKE 'p1_@%'"
        session.execute(text(f"DELETE FROM memberships WHERE subscriber_id IN ({gone})"))
    _assert_exact(sessions, "a raw SQL delete nobody told the counts about")


def test_an_import_appends_one_row_per_status_on_postgresql(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    audience.create_list(sessions, BACK, "Back Care")
    emails = [f"r{i}@example.org" for i in range(300)]
    audience.import_csv(sessions, _csv(tmp_path / "a.csv", emails), BACK, confirmed=True)
    with transaction(sessions) as session:
        rows = session.scalar(select(func.count()).select_from(ListMemberCount))
    # Statement triggers on PostgreSQL: one row for the whole import, not one per member;
    # SQLite's row triggers add to the single row of the key.
    assert rows == 1
    _assert_exact(sessions, "an import")


def test_appended_rows_are_folded_back_without_changing_a_count(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    audience.create_list(sessions, BACK, "Back Care")
    for i in range(12):
        sid, list_id = _signup(sessions, BACK, f"s{i}@example.org")
        if i % 3 == 0:
            audience.confirm(sessions, sid, list_id, ip=None, user_agent=None, source="t")
    monkeypatch.setattr(member_counts, "FOLD_AFTER_ROWS", 2)
    _assert_exact(sessions, "a fold")
    with transaction(sessions) as session:
        keys = session.execute(select(ListMemberCount.status, ListMemberCount.confirmed)).all()
    assert sorted(keys) == [("pending", False), ("subscribed", True)]


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def remember(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", remember)
    yield seen
    event.remove(engine, "before_cursor_execute", remember)


def test_the_lists_page_counts_never_scan_the_memberships(
    sessions: sessionmaker[Session], tmp_path: Path, statements: list[str]
) -> None:
    audience.create_list(sessions, BACK, "Back Care")
    audience.import_csv(sessions, _csv(tmp_path / "a.csv", ["a@example.org"]), BACK)
    statements.clear()
    (row,) = audience.lists_with_counts(sessions)
    assert row.pending == 1
    # Memberships are only joined from the few suppressed or paused people, never
    # read on their own (a COUNT or GROUP BY over them is a scan of the whole audience).
    scans = [s for s in statements if re.search(r"\bFROM memberships\b", s)]
    assert scans == []
