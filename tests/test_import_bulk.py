"""The PostgreSQL bulk import (COPY + merge) writes exactly what the chunked writer writes.

Both writers run on the same PostgreSQL database from the same starting state; the
stored subscribers and memberships, the summary and the report file must be equal.
A new CSV column that only one writer stores fails here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import ImportFileError, StorageError
from newsletter.services import audience, audience_bulk
from newsletter.storage.db import make_engine, session_factory
from newsletter.storage.models import (
    Base,
    MailingList,
    Membership,
    Subscriber,
    SuppressionReason,
    utcnow,
)
from newsletter.storage.repositories import bulk_import

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
    "jo.ann@x.org,Jo\\Ann,,C:\\dir,,\n"
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


def _both_writers(
    sessions: Sessions, tmp_path: Path, *, confirmed: bool, chunk_size: int | None = None
) -> dict[bool, tuple[Any, ...]]:
    """Import CSV (then again, confirmed) with each writer from the same start."""
    path = tmp_path / "people.csv"
    path.write_text(CSV, encoding="utf-8", newline="")
    results = {}
    for bulk in (False, True):
        _reset(sessions)
        report = tmp_path / f"rejects-{bulk}.csv"
        summary = audience.import_csv(
            sessions,
            path,
            "back-care",
            confirmed=confirmed,
            report=report,
            bulk=bulk,
            chunk_size=chunk_size,
        )
        again = audience.import_csv(
            sessions, path, "back-care", confirmed=True, bulk=bulk, chunk_size=chunk_size
        )
        data = summary.to_dict()
        data["report"] = report.read_text(encoding="utf-8-sig")
        results[bulk] = (data, again.to_dict(), _state(sessions))
    return results


@pytest.mark.parametrize("confirmed", [False, True])
def test_bulk_and_chunked_writers_store_the_same(
    pg_sessions: Sessions, tmp_path: Path, confirmed: bool
) -> None:
    results = _both_writers(pg_sessions, tmp_path, confirmed=confirmed)
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
    assert dry.rows == 12


def _people(count: int, *, start: int = 0) -> str:
    rows = [f"person{i}@x.org,P{i},,,," for i in range(start, start + count)]
    return "Email,First Name,Last Name,City,Notes,Timezone\n" + "\n".join(rows) + "\n"


def _counts(sessions: Sessions) -> tuple[int, int]:
    with sessions() as session:
        people = session.scalar(select(func.count()).select_from(Subscriber))
        members = session.scalar(select(func.count()).select_from(Membership))
    return int(people or 0), int(members or 0)


def test_slices_merge_while_parsing_and_match_one_pass(
    pg_sessions: Sessions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny slices: the merge thread merges many of them, some before parsing ends.
    monkeypatch.setattr(audience_bulk, "MERGE_ROWS", 3)
    results = _both_writers(pg_sessions, tmp_path, confirmed=False, chunk_size=2)
    assert results[True] == results[False]


def test_a_database_refusal_mid_import_is_a_storage_error_and_writes_nothing(
    pg_sessions: Sessions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (raising=False: the old single-merge writer is refused the same way, and must say so.)
    monkeypatch.setattr(audience_bulk, "MERGE_ROWS", 10, raising=False)
    _reset(pg_sessions)
    before = _counts(pg_sessions)
    path = tmp_path / "people.csv"
    path.write_text(_people(60), encoding="utf-8", newline="")
    with pg_sessions.begin() as session:
        session.execute(text(_REFUSE))
    try:
        with pytest.raises(StorageError, match=r"person45@x\.org is refused"):
            audience.import_csv(pg_sessions, path, "back-care", bulk=True, chunk_size=5)
    finally:
        with pg_sessions.begin() as session:
            session.execute(text("DROP TRIGGER refuse_one ON subscribers"))
            session.execute(text("DROP FUNCTION refuse_one()"))
    # Four slices were merged before the refusal: all of them are rolled back.
    assert _counts(pg_sessions) == before


_REFUSE = """
CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.email_key = 'person45@x.org' THEN
        RAISE EXCEPTION '% is refused', NEW.email_key;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_one BEFORE INSERT ON subscribers
    FOR EACH ROW EXECUTE FUNCTION refuse_one();
"""


def test_a_bad_line_after_merged_slices_rolls_everything_back(
    pg_sessions: Sessions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audience_bulk, "MERGE_ROWS", 10)
    _reset(pg_sessions)
    before = _counts(pg_sessions)
    path = tmp_path / "people.csv"
    path.write_bytes(_people(80).encode() + b"late@x.org,\xff\xfe,,,,\n")
    with pytest.raises(ImportFileError, match="not UTF-8"):
        audience.import_csv(pg_sessions, path, "back-care", bulk=True, chunk_size=5)
    assert _counts(pg_sessions) == before
    # The merge thread has let go of the connection: the next import works.
    good = path.with_name("good.csv")
    good.write_text(_people(30), encoding="utf-8", newline="")
    summary = audience.import_csv(pg_sessions, good, "back-care", bulk=True, chunk_size=5)
    assert summary.added == 30


def test_an_address_a_sign_up_takes_during_the_merge_is_joined_not_refused(
    pg_sessions: Sessions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reset(pg_sessions)
    path = tmp_path / "people.csv"
    path.write_text(_people(5), encoding="utf-8", newline="")
    insert = bulk_import.Staging._insert

    def sign_up_first(self: bulk_import.Staging, cur: Any) -> None:
        # Committed from another connection after the slice was classified.
        audience.add_subscriber(pg_sessions, "back-care", "person2@x.org", name="Signed Up")
        insert(self, cur)

    monkeypatch.setattr(bulk_import.Staging, "_insert", sign_up_first)
    summary = audience.import_csv(pg_sessions, path, "back-care", confirmed=True, bulk=True)
    assert summary.added == 5
    people = {row[0]: row for row in _state(pg_sessions)[:-1]}
    assert people["person2@x.org"][1] == "Signed Up"  # the sign-up's row is kept
    assert people["person2@x.org"][6] == "pending"  # and its own membership
    assert people["person4@x.org"][6] == "subscribed"


def test_copy_text_escapes_what_copy_would_misread() -> None:
    line = bulk_import.copy_text([(7, "a\\b", "tab\there", None, "new\nline\r", ["k1", 'k"2'])])
    assert line == '7\ta\\\\b\ttab\\there\t\\N\tnew\\nline\\r\t{"k1","k\\\\"2"}\n'


def test_each_staged_row_is_classified_by_index_probes(pg_sessions: Sessions) -> None:
    # On a table this transaction is filling, the planner's estimates lag far behind: as
    # plain joins it once scanned a list's memberships for every staged row (a
    # Materialize under a Join Filter, quadratic in the list). No plan may filter a
    # scanned table against the staged rows, whatever the estimates.
    _reset(pg_sessions)
    with pg_sessions() as session:
        list_id = session.scalars(select(MailingList.id).where(MailingList.slug == "back-care"))
        rules = bulk_import.MergeRules(
            list_id=list_id.one(),
            confirmed=True,
            consent="t",
            now=utcnow(),
            erasures=True,
            suppressed_detail="s",
            unsubscribed_detail="u",
        )
        bulk_import.Staging.start(session, rules)
        raw: Any = session.connection().connection.dbapi_connection
        with raw.cursor() as cur:
            cur.execute("EXPLAIN " + bulk_import.plan_statement(erasures=True), rules.params())
            plan = "\n".join(row[0] for row in cur.fetchall())
        session.rollback()
    assert "Join Filter" not in plan and "Materialize" not in plan, plan
    for table in ("suppressions", "subscribers", "memberships"):
        assert f" on {table} " in plan, plan


def test_the_bulk_writer_loads_the_driver_only_when_an_import_runs() -> None:
    # Every CLI command imports the import service; psycopg costs ~0.1 s to load.
    probe = "import sys, newsletter.services.audience_csv; print('psycopg' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
