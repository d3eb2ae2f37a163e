"""The PostgreSQL bulk import (COPY + merge) writes exactly what the chunked writer writes.

Both writers run on the same PostgreSQL database from the same starting state; the
stored subscribers and memberships, the summary and the report file must be equal.
A new CSV column that only one writer stores fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.services import audience
from newsletter.storage.db import make_engine, session_factory
from newsletter.storage.models import Base, MailingList, Membership, Subscriber, SuppressionReason

Sessions = sessionmaker[Session]

CSV = (
    "Email,First Name,Last Name,City,Notes,Timezone\n"
    "new1@x.org,Ann,Lee,Springfield,,europe/paris\n"
    "NEW1@x.org,Dup,,,,\n"
    "broken,Bad,,,,\n"
    "blocked@x.org,Blocked,,,,\n"
    "left@x.org,Left,,,,\n"
    "kept@x.org,,,,,Asia/Tokyo\n"
    "renamed@x.org,Newname,Smith,,vip,America/Chicago\n"
    "pending@x.org,,,Riverton,,\n"
    "other-list@x.org,Olga,,,,\n"
    '"quoted, comma"@x.org,,,,,\n'
    'new2@x.org,Émile,Zola,Ogdenville,"line one\nline two",\n'
)


@pytest.fixture
def pg_sessions(request: pytest.FixtureRequest) -> Iterator[Sessions]:
    url: str = request.getfixturevalue("_postgresql_url")
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def _reset(sessions: Sessions) -> None:
    with sessions.begin() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    audience.create_list(sessions, "back-care", "Back care")
    audience.create_list(sessions, "other", "Other")
    audience.add_suppression(sessions, "blocked@x.org", SuppressionReason.BOUNCE, source="t")
    audience.add_subscriber(sessions, "back-care", "left@x.org", confirmed=True)
    audience.unsubscribe_email(sessions, "left@x.org", "back-care", source="t")
    audience.add_subscriber(sessions, "back-care", "kept@x.org", name="Kept", confirmed=True)
    audience.add_subscriber(sessions, "back-care", "renamed@x.org", name="Old", confirmed=True)
    audience.add_subscriber(sessions, "back-care", "pending@x.org", first_name="Pat")
    audience.add_subscriber(sessions, "other", "other-list@x.org", name="Olga O")


def _state(sessions: Sessions) -> list[tuple[Any, ...]]:
    with sessions() as session:
        people = session.execute(
            select(
                Subscriber.email,
                Subscriber.name,
                Subscriber.first_name,
                Subscriber.attributes,
                Subscriber.timezone,
                MailingList.slug,
                Membership.status,
                Membership.consent_source,
                Membership.confirmed_at.is_(None),
            )
            .outerjoin(Membership, Membership.subscriber_id == Subscriber.id)
            .outerjoin(MailingList, MailingList.id == Membership.list_id)
            .order_by(Subscriber.email, MailingList.slug)
        ).all()
        # New subscribers get ids in file order under both writers.
        order = session.scalars(select(Subscriber.email).order_by(Subscriber.id)).all()
    return [tuple(p) for p in people] + [tuple(order)]


@pytest.mark.parametrize("confirmed", [False, True])
def test_bulk_and_chunked_writers_store_the_same(
    pg_sessions: Sessions, tmp_path: Path, confirmed: bool
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(CSV, encoding="utf-8", newline="")
    results = {}
    for bulk in (False, True):
        _reset(pg_sessions)
        report = tmp_path / f"rejects-{bulk}.csv"
        summary = audience.import_csv(
            pg_sessions, path, "back-care", confirmed=confirmed, report=report, bulk=bulk
        )
        again = audience.import_csv(pg_sessions, path, "back-care", confirmed=True, bulk=bulk)
        data = summary.to_dict()
        data["report"] = report.read_text(encoding="utf-8-sig")
        results[bulk] = (data, again.to_dict(), _state(pg_sessions))
    chunked, bulk_ = results[False], results[True]
    assert bulk_[0] == chunked[0]
    assert bulk_[1] == chunked[1]
    assert bulk_[2] == chunked[2]
    # And the scenario really exercises every outcome.
    assert chunked[0]["added"] >= 3 and chunked[0]["updated"] >= 1
    assert all(chunked[0]["skipped"].values())


def test_bulk_dry_run_and_report_in_file_order(pg_sessions: Sessions, tmp_path: Path) -> None:
    _reset(pg_sessions)
    before = _state(pg_sessions)
    path = tmp_path / "people.csv"
    path.write_text(CSV, encoding="utf-8", newline="")
    report = tmp_path / "rejects.csv"
    dry = audience.import_csv(
        pg_sessions, path, "back-care", dry_run=True, report=report, bulk=True, chunk_size=2
    )
    assert _state(pg_sessions) == before
    rows = [line.split(",")[:2] for line in report.read_text("utf-8-sig").splitlines()[1:]]
    expected = [["3", "duplicate"], ["4", "invalid"], ["5", "suppressed"], ["6", "unsubscribed"]]
    assert rows == [*expected, ["11", "invalid"]]
    assert dry.rows == 11
