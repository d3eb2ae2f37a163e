"""Subscribers: one row per address, unique by its lower-cased key."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import JSON, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.errors import NotFoundError
from newsletter.storage.models import Membership, MembershipStatus, Subscriber, utcnow

SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]
# Keeps IN (...) lists well under every backend's bound-parameter limit.
IN_CHUNK = 1000


class Profile(NamedTuple):
    id: int
    email: str
    email_key: str
    name: str | None
    first_name: str | None
    attributes: dict[str, Any]
    timezone: str | None = None


def insert_ignoring_conflicts(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING, so concurrent writers never fail on a unique key.

    Returns how many rows were inserted for a single row (0 or 1); for many rows,
    the driver's row count, which may be -1 when the driver does not know.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    if len(rows) == 1:
        # RETURNING tells both backends' answers apart; rowcount is -1 on psycopg here.
        returning = stmt.returning(*table.primary_key.columns)
        return len(session.connection().execute(returning, dict(rows[0])).all())
    return session.connection().execute(stmt, list(rows)).rowcount


def bulk_insert_ignoring_conflicts(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]
) -> None:
    """Many-row INSERT ... ON CONFLICT DO NOTHING on the raw driver.

    The import writes a million rows; SQLAlchemy's per-row parameter handling was
    most of its time. Values still go through each column type's own bind
    processor (computed once per distinct timestamp/status), so what is stored is
    exactly what the ORM would store.
    """
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    names = list(rows[0].keys())
    columns: list[list[Any]] = []
    for name in names:
        column = table.c[name]
        values = [row[name] for row in rows]
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            if isinstance(column.type, JSON):
                values = [process(v) for v in values]
            else:
                memo: dict[Any, Any] = {}
                values = [memo[v] if v in memo else memo.setdefault(v, process(v)) for v in values]
        columns.append(values)
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"VALUES ({', '.join([marker] * len(names))}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    )
    # A C loop in sqlite3, a pipeline in psycopg: measured faster than multi-row
    # VALUES on PostgreSQL, where the server's per-row work dominates anyway.
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))


def prefer_index_lookups(session: Session) -> None:
    """For the rest of this transaction, steer PostgreSQL to index lookups.

    A big import fills the tables inside one transaction, so the planner's
    statistics still describe the tables as they were (often empty) and it picks
    sequential scans for the per-chunk ``email_key IN (...)`` lookups: quadratic
    time. ``SET LOCAL`` ends with the transaction. SQLite needs nothing.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")


def get(session: Session, subscriber_id: int) -> Subscriber:
    found = session.get(Subscriber, subscriber_id)
    if found is None:
        raise NotFoundError(f"no subscriber with id {subscriber_id}")
    return found


def get_by_key(session: Session, email_key: str) -> Subscriber | None:
    return session.scalars(select(Subscriber).where(Subscriber.email_key == email_key)).first()


def ensure(
    session: Session,
    *,
    email: str,
    email_key: str,
    name: str | None = None,
    first_name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> tuple[Subscriber, bool]:
    """The subscriber with this key, created if needed; (row, created)."""
    existing = get_by_key(session, email_key)
    if existing is not None:
        return existing, False
    row = {
        "email": email,
        "email_key": email_key,
        "name": name,
        "first_name": first_name,
        "attributes": dict(attributes or {}),
        "created_at": utcnow(),
    }
    # Another writer may insert the same key between our SELECT and INSERT: then the
    # insert does nothing and this call did not create the row.
    created = insert_ignoring_conflicts(session, SUBSCRIBERS, [row], ["email_key"]) == 1
    found = get_by_key(session, email_key)
    if found is None:  # pragma: no cover - the insert or a concurrent one made it exist
        raise NotFoundError(f"subscriber {email!r} vanished while being created")
    return found, created


def rows_where_in(
    session: Session, sql: str, values: Sequence[Any], *, before: Sequence[Any] = ()
) -> Iterator[tuple[Any, ...]]:
    """Run ``sql`` once per chunk of ``values`` on the raw driver.

    ``sql`` writes ``{p}`` for a parameter and ``{values}`` for the IN list; ``before``
    are the parameters that come before the list. The import asks three such
    questions per 2000 rows, and SQLAlchemy's expanding IN was a large share of it.
    """
    conn = session.connection()
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    for start in range(0, len(values), IN_CHUNK):
        part = list(values[start : start + IN_CHUNK])
        text = sql.format(p=marker, values=", ".join([marker] * len(part)))
        for row in conn.exec_driver_sql(text, (*before, *part)):
            yield tuple(row)


def profiles_by_key(session: Session, keys: Sequence[str]) -> dict[str, Profile]:
    """Existing subscribers among ``keys``."""
    found: dict[str, Profile] = {}
    sql = (
        "SELECT id, email, email_key, name, first_name, attributes, timezone"
        " FROM subscribers WHERE email_key IN ({values})"
    )
    for sid, email, key, name, first_name, stored, zone in rows_where_in(session, sql, keys):
        # SQLite hands back the JSON text, psycopg the decoded value.
        attributes = json.loads(stored) if isinstance(stored, str) else stored
        found[key] = Profile(sid, email, key, name, first_name, attributes or {}, zone)
    return found


def ids_by_key(session: Session, keys: Sequence[str]) -> dict[str, int]:
    sql = "SELECT email_key, id FROM subscribers WHERE email_key IN ({values})"
    return {key: int(sid) for key, sid in rows_where_in(session, sql, keys)}


def insert_many(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert new subscribers (keys: email, email_key, name, first_name, attributes,
    created_at, and optionally timezone)."""
    bulk_insert_ignoring_conflicts(session, SUBSCRIBERS, rows, ["email_key"])


def update_profiles(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rewrite the profile (keys: b_id, b_name, b_first_name, b_attributes, and
    b_timezone, which is left alone when the rows do not carry it)."""
    if not rows:
        return
    values: dict[str, Any] = {
        "name": bindparam("b_name"),
        "first_name": bindparam("b_first_name"),
        "attributes": bindparam("b_attributes", type_=SUBSCRIBERS.c.attributes.type),
    }
    if all("b_timezone" in row for row in rows):
        values["timezone"] = bindparam("b_timezone")
    stmt = update(SUBSCRIBERS).where(SUBSCRIBERS.c.id == bindparam("b_id")).values(**values)
    session.connection().execute(stmt, list(rows))


def iter_list_members(
    session: Session,
    list_id: int,
    statuses: Sequence[MembershipStatus],
    *,
    chunk_size: int = 2000,
) -> Iterator[Profile]:
    """Members of a list with the given statuses, in subscriber order, streamed."""
    stmt = (
        select(
            SUBSCRIBERS.c.id,
            SUBSCRIBERS.c.email,
            SUBSCRIBERS.c.email_key,
            SUBSCRIBERS.c.name,
            SUBSCRIBERS.c.first_name,
            SUBSCRIBERS.c.attributes,
            SUBSCRIBERS.c.timezone,
        )
        .join(Membership, Membership.subscriber_id == SUBSCRIBERS.c.id)
        .where(Membership.list_id == list_id, Membership.status.in_(list(statuses)))
        .order_by(SUBSCRIBERS.c.id)
        .execution_options(yield_per=chunk_size)
    )
    for row in session.execute(stmt):
        yield Profile(*row)
