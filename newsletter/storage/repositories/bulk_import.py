"""The set-based import path for PostgreSQL: COPY into a temporary table, then merge.

Row-at-a-time lookups and inserts made a 1M-row import spend minutes in round trips and
per-statement planning. Here the parsed rows are streamed with ``COPY`` into a temporary
table (no WAL, dropped with the transaction), classified by one joined ``CREATE TABLE
AS``, and written by one ``INSERT ... SELECT`` or ``UPDATE ... FROM`` per kind of change.
The rules are the ones of ``newsletter.audience.import_plan``, written in SQL:
suppressed and unsubscribed people are skipped, profiles merge (a cell replaces, an
empty cell never erases), pending members are confirmed only with ``--confirmed``.

Everything runs in the caller's transaction, so the import stays all or nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy.orm import Session

from newsletter.storage.models import MembershipStatus

# One row of the staging table, in this column order.
COPY_COLUMNS = (
    "row_no",
    "email",
    "email_key",
    "name",
    "first_name",
    "attributes",
    "reason",
    "detail",
    "cells",
    "timezone",
    "erased_keys",
)

_CREATE = """
CREATE TEMPORARY TABLE import_rows (
    row_no integer NOT NULL,
    email text,
    email_key text,
    name text,
    first_name text,
    attributes text,
    reason text,
    detail text,
    cells text,
    timezone text,
    erased_keys text[]
) ON COMMIT DROP
"""

# One pass over the staged rows decides every row (hash joins on the unique keys).
_PLAN = """
CREATE TEMPORARY TABLE import_plan ON COMMIT DROP AS
SELECT r.row_no, r.email, r.email_key, r.name, r.first_name, r.attributes, r.cells,
       s.id AS sid, m.status AS state,
       CASE WHEN r.reason IS NOT NULL THEN r.reason
            WHEN x.email_key IS NOT NULL {erased} THEN 'suppressed'
            WHEN m.status = 'unsubscribed' THEN 'unsubscribed' END AS reason,
       CASE WHEN r.reason IS NOT NULL THEN r.detail
            WHEN x.email_key IS NOT NULL {erased} THEN %(suppressed_detail)s
            WHEN m.status = 'unsubscribed' THEN %(unsubscribed_detail)s END AS detail,
       coalesce(r.name, s.name) AS new_name,
       coalesce(r.first_name, s.first_name) AS new_first_name,
       coalesce(s.attributes::jsonb, '{}'::jsonb) || r.attributes::jsonb AS new_attributes,
       r.timezone, coalesce(r.timezone, s.timezone) AS new_timezone,
       s.id IS NOT NULL AND (coalesce(r.name, s.name), coalesce(r.first_name, s.first_name),
            coalesce(s.attributes::jsonb, '{}'::jsonb) || r.attributes::jsonb,
            coalesce(r.timezone, s.timezone))
            IS DISTINCT FROM (s.name, s.first_name, coalesce(s.attributes::jsonb, '{}'::jsonb),
            s.timezone)
            AS changed
FROM import_rows r
LEFT JOIN suppressions x ON x.email_key = r.email_key
LEFT JOIN subscribers s ON s.email_key = r.email_key
LEFT JOIN memberships m ON m.list_id = %(list_id)s AND m.subscriber_id = s.id
"""

# Only when someone was ever erased: an index probe per row is not free.
_ERASED = """OR EXISTS (SELECT 1 FROM suppressions y WHERE y.email_key = ANY(r.erased_keys))"""

_OUTCOME = """
CASE WHEN sid IS NULL OR state IS NULL THEN 'added'
     WHEN state = 'pending' AND %(confirmed)s THEN 'updated'
     WHEN changed THEN 'updated'
     ELSE 'unchanged' END
"""

_NEW_SUBSCRIBERS = """
INSERT INTO subscribers (email, email_key, name, first_name, attributes, timezone, created_at)
SELECT email, email_key, name, first_name, attributes::json, timezone, %(now)s
FROM import_plan WHERE reason IS NULL AND sid IS NULL
ORDER BY row_no
ON CONFLICT (email_key) DO NOTHING
"""

_PROFILES = """
UPDATE subscribers
SET name = p.new_name, first_name = p.new_first_name, attributes = p.new_attributes::json,
    timezone = p.new_timezone
FROM import_plan p
WHERE subscribers.id = p.sid AND p.reason IS NULL AND p.changed
"""

# The join on email_key also finds a subscriber a concurrent signup has just created.
_JOINS = """
INSERT INTO memberships (list_id, subscriber_id, status, created_at, updated_at,
                         consent_source, consent_ip, consent_user_agent, confirmed_at,
                         unsubscribed_at, unsubscribe_source)
SELECT %(list_id)s, s.id, %(status)s, %(now)s, %(now)s, %(consent)s, NULL, NULL,
       %(confirmed_at)s, NULL, NULL
FROM import_plan p JOIN subscribers s ON s.email_key = p.email_key
WHERE p.reason IS NULL AND p.state IS NULL
ORDER BY s.id
ON CONFLICT (list_id, subscriber_id) DO NOTHING
"""

_CONFIRMS = """
UPDATE memberships
SET status = 'subscribed', confirmed_at = %(now)s, consent_source = %(consent)s,
    updated_at = %(now)s
FROM import_plan p
WHERE memberships.list_id = %(list_id)s AND memberships.subscriber_id = p.sid
  AND memberships.status = 'pending' AND p.reason IS NULL AND p.state = 'pending'
"""


def _cursor(session: Session) -> Any:
    # The psycopg cursor itself: COPY is not part of SQLAlchemy's API.
    return session.connection().connection.cursor()


def start(session: Session) -> None:
    """Create the staging table for this transaction."""
    with _cursor(session) as cur:
        # Hash joins over a million staged rows want more than the 4 MB default.
        cur.execute("SET LOCAL work_mem = '64MB'")
        cur.execute(_CREATE)


def copy_rows(session: Session, rows: Iterable[tuple[Any, ...]]) -> None:
    """Stream rows (in ``COPY_COLUMNS`` order) into the staging table."""
    sql = f"COPY import_rows ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    with _cursor(session) as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def merge(
    session: Session,
    *,
    list_id: int,
    confirmed: bool,
    consent: str,
    now: dt.datetime,
    erasures: bool,
    suppressed_detail: str,
    unsubscribed_detail: str,
) -> dict[str, int]:
    """Apply the staged rows; returns how many rows were added, updated and unchanged."""
    params: dict[str, Any] = {
        "list_id": list_id,
        "confirmed": confirmed,
        "consent": consent,
        "now": now,
        "confirmed_at": now if confirmed else None,
        "status": (MembershipStatus.SUBSCRIBED if confirmed else MembershipStatus.PENDING).value,
        "suppressed_detail": suppressed_detail,
        "unsubscribed_detail": unsubscribed_detail,
    }
    with _cursor(session) as cur:
        # The planner must know the staging table holds a million rows, not none.
        cur.execute("ANALYZE import_rows")
        cur.execute(_PLAN.replace("{erased}", _ERASED if erasures else ""), params)
        cur.execute("ANALYZE import_plan")
        cur.execute(_NEW_SUBSCRIBERS, params)
        cur.execute(_PROFILES, params)
        cur.execute(_JOINS, params)
        if confirmed:
            cur.execute(_CONFIRMS, params)
        cur.execute(
            f"SELECT {_OUTCOME} AS outcome, count(*) FROM import_plan"
            " WHERE reason IS NULL GROUP BY outcome",
            params,
        )
        counts = {str(outcome): int(n) for outcome, n in cur.fetchall()}
    return counts


Skip = tuple[int, str, str, str | None]


def iter_skips(session: Session, *, batch: int = 5000) -> Iterator[Skip]:
    """Every skipped row in file order: (row, reason, detail, cells as JSON or None)."""
    with _cursor(session) as cur:
        cur.execute(
            "SELECT row_no, reason, detail, cells FROM import_plan"
            " WHERE reason IS NOT NULL ORDER BY row_no"
        )
        while rows := cur.fetchmany(batch):
            for row_no, reason, detail, cells in rows:
                yield int(row_no), str(reason), str(detail), cells
