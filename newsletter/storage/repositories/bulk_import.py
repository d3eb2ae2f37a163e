"""The set-based import path for PostgreSQL: COPY into a temporary table, merge in slices.

Parsed rows are streamed with ``COPY`` into a temporary staging table (temporary tables
write no WAL and are dropped with the transaction). Every ``MERGE_ROWS`` staged rows the
slice is classified by one joined ``CREATE TABLE AS`` and written by one ``INSERT ...
SELECT`` or ``UPDATE ... FROM`` per kind of change; then the staging table is emptied
for the next slice. Because addresses are unique within an import (duplicates are
rejected before staging), deciding slice by slice decides exactly what one pass over the
whole file would. The service runs this on a second thread, so the database merges one
slice while Python parses the next.

The rules are the ones of ``newsletter.audience.import_plan``, written in SQL:
suppressed and unsubscribed people are skipped, profiles merge (a cell replaces, an
empty cell never erases), pending members are confirmed only with ``--confirmed``.

What was measured to matter (EXPLAIN ANALYZE, benchmarks/RESULTS.md): ``ON CONFLICT``
makes PostgreSQL insert every row speculatively (an extra index probe and an extra WAL
record per row), about twice the cost of a plain insert. The classification already
leaves out every address that exists, so the inserts are plain; only an address a
concurrent sign-up committed in the moment between the two can collide. Each slice's
inserts therefore run under one savepoint, and on a unique violation that slice alone is
redone with ``ON CONFLICT DO NOTHING``. The per-row foreign-key checks of the membership
insert stay: they are the database's own guarantee and are not switched off.

Everything runs in the caller's transaction, so the import stays all or nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from newsletter.errors import StorageError
from newsletter.storage.models import MembershipStatus

if TYPE_CHECKING:
    import psycopg

# Staged rows merged at a time: large enough that per-statement costs are noise, small
# enough that the last slice (the one no parsing overlaps) is short, and that a million
# rows take only twenty savepoints (PostgreSQL keeps 64 per transaction in shared memory
# before it overflows to disk, which slows every other session's snapshots).
MERGE_ROWS = 50_000

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

# COPY's text format: a tab between columns, \N for NULL, and these four escaped.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = re.compile(r"[\\\t\n\r]")

CopyValue = str | int | Sequence[str] | None


def _copy_field(value: CopyValue) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES) if _SPECIAL.search(value) else value
    if isinstance(value, int):
        return str(value)
    # A text[] literal; the elements (erasure hashes) are quoted, then escaped for COPY.
    items = ",".join('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in value)
    return _copy_field("{" + items + "}")


def copy_text(rows: Iterable[Sequence[CopyValue]]) -> str:
    """Rows (in ``COPY_COLUMNS`` order) as the text ``Staging.copy`` sends.

    The parsing thread formats them, so that the merging thread only sends bytes: while
    it formatted them (holding the GIL, against the parser) the database waited.
    """
    return "".join(["\t".join(map(_copy_field, row)) + "\n" for row in rows])


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

_CREATE_SKIPS = """
CREATE TEMPORARY TABLE import_skips (
    row_no integer NOT NULL,
    reason text NOT NULL,
    detail text NOT NULL,
    cells text
) ON COMMIT DROP
"""

# One pass over the staged slice decides every row. Each lookup is a LATERAL subquery
# fenced with OFFSET 0, so it can only run as one index probe per staged row: as plain
# joins, the planner chose by its row estimates, which lag far behind a table this very
# transaction is filling (autovacuum cannot count uncommitted rows). Seeing "59
# memberships" where there were 180,000, it scanned the list's memberships once and
# filtered them against every staged row: 3.6 billion comparisons, 253 s for one
# 20,000-row slice. (Hash or merge joins instead scan both tables whole, every slice.)
_PLAN = """
CREATE TEMPORARY TABLE import_plan ON COMMIT DROP AS
SELECT r.row_no, r.email, r.email_key, r.name, r.first_name, r.attributes, r.cells,
       s.id AS sid, m.status AS state,
       CASE WHEN r.reason IS NOT NULL THEN r.reason
            WHEN x.suppressed THEN 'suppressed'
            WHEN m.status = 'unsubscribed' THEN 'unsubscribed' END AS reason,
       CASE WHEN r.reason IS NOT NULL THEN r.detail
            WHEN x.suppressed THEN %(suppressed_detail)s
            WHEN m.status = 'unsubscribed' THEN %(unsubscribed_detail)s END AS detail,
       coalesce(r.name, s.name) AS new_name,
       coalesce(r.first_name, s.first_name) AS new_first_name,
       -- Only a profile update reads it: no JSON parse for each new person.
       CASE WHEN s.id IS NOT NULL
            THEN coalesce(s.attributes::jsonb, '{}'::jsonb) || r.attributes::jsonb
       END AS new_attributes,
       r.timezone, coalesce(r.timezone, s.timezone) AS new_timezone,
       s.id IS NOT NULL AND (coalesce(r.name, s.name), coalesce(r.first_name, s.first_name),
            coalesce(s.attributes::jsonb, '{}'::jsonb) || r.attributes::jsonb,
            coalesce(r.timezone, s.timezone))
            IS DISTINCT FROM (s.name, s.first_name, coalesce(s.attributes::jsonb, '{}'::jsonb),
            s.timezone)
            AS changed
FROM import_rows r
CROSS JOIN LATERAL (
    SELECT EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = r.email_key) {erased}
        AS suppressed
    OFFSET 0
) x
LEFT JOIN LATERAL (
    SELECT s.id, s.name, s.first_name, s.attributes, s.timezone
    FROM subscribers s WHERE s.email_key = r.email_key OFFSET 0
) s ON true
LEFT JOIN LATERAL (
    SELECT m.status FROM memberships m
    WHERE m.list_id = %(list_id)s AND m.subscriber_id = s.id OFFSET 0
) m ON true
"""

# Only when someone was ever erased: an index probe per row is not free.
_ERASED = """OR EXISTS (SELECT 1 FROM suppressions y WHERE y.email_key = ANY(r.erased_keys))"""


def plan_statement(*, erasures: bool) -> str:
    """The statement that classifies a staged slice into ``import_plan``."""
    return _PLAN.replace("{erased}", _ERASED if erasures else "")


_OUTCOME = """
CASE WHEN sid IS NULL OR state IS NULL THEN 'added'
     WHEN state = 'pending' AND %(confirmed)s THEN 'updated'
     WHEN changed THEN 'updated'
     ELSE 'unchanged' END
"""

# The fast path: new people and their memberships in one statement (the memberships of
# new subscribers come from RETURNING, not from a join back on email_key).
_INSERT_PEOPLE = """
WITH added AS (
    INSERT INTO subscribers (email, email_key, name, first_name, attributes, timezone,
                             created_at)
    SELECT email, email_key, name, first_name, attributes::json, timezone, %(now)s
    FROM import_plan WHERE reason IS NULL AND sid IS NULL
    ORDER BY row_no
    RETURNING id
)
INSERT INTO memberships (list_id, subscriber_id, status, created_at, updated_at,
                         consent_source, consent_ip, consent_user_agent, confirmed_at,
                         unsubscribed_at, unsubscribe_source)
SELECT %(list_id)s, joining.id, %(status)s, %(now)s, %(now)s, %(consent)s, NULL, NULL,
       %(confirmed_at)s, NULL, NULL
FROM (SELECT id FROM added
      UNION ALL
      SELECT sid FROM import_plan WHERE reason IS NULL AND state IS NULL AND sid IS NOT NULL
     ) AS joining
ORDER BY joining.id
"""

# The slow path, for a slice that collided with a concurrent sign-up.
_NEW_SUBSCRIBERS = """
INSERT INTO subscribers (email, email_key, name, first_name, attributes, timezone, created_at)
SELECT email, email_key, name, first_name, attributes::json, timezone, %(now)s
FROM import_plan WHERE reason IS NULL AND sid IS NULL
ORDER BY row_no
ON CONFLICT (email_key) DO NOTHING
"""

# The join on email_key also finds the subscriber the concurrent sign-up created.
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

_PROFILES = """
UPDATE subscribers
SET name = p.new_name, first_name = p.new_first_name, attributes = p.new_attributes::json,
    timezone = p.new_timezone
FROM import_plan p
WHERE subscribers.id = p.sid AND p.reason IS NULL AND p.changed
"""

_CONFIRMS = """
UPDATE memberships
SET status = 'subscribed', confirmed_at = %(now)s, consent_source = %(consent)s,
    updated_at = %(now)s
FROM import_plan p
WHERE memberships.list_id = %(list_id)s AND memberships.subscriber_id = p.sid
  AND memberships.status = 'pending' AND p.reason IS NULL AND p.state = 'pending'
"""

_KEEP_SKIPS = """
INSERT INTO import_skips (row_no, reason, detail, cells)
SELECT row_no, reason, detail, cells FROM import_plan WHERE reason IS NOT NULL
"""

# How the slice divides, counted before writing: the outcomes for the summary, and what
# the writes will touch, so that a statement with nothing to do is not sent (a slice of
# new people needs no update and no skip).
_KINDS = f"""
SELECT count(*) FILTER (WHERE outcome = 'added'),
       count(*) FILTER (WHERE outcome = 'updated'),
       count(*) FILTER (WHERE outcome = 'unchanged'),
       count(*) FILTER (WHERE reason IS NULL AND changed),
       count(*) FILTER (WHERE reason IS NULL AND state = 'pending'),
       count(*) FILTER (WHERE reason IS NOT NULL)
FROM (SELECT reason, changed, state, CASE WHEN reason IS NULL THEN {_OUTCOME} END AS outcome
      FROM import_plan) AS p
"""


@dataclass(frozen=True)
class MergeRules:
    """What every slice is merged with."""

    list_id: int
    confirmed: bool
    consent: str
    now: dt.datetime
    erasures: bool
    suppressed_detail: str
    unsubscribed_detail: str

    def params(self) -> dict[str, Any]:
        status = MembershipStatus.SUBSCRIBED if self.confirmed else MembershipStatus.PENDING
        return {
            "list_id": self.list_id,
            "confirmed": self.confirmed,
            "consent": self.consent,
            "now": self.now,
            "confirmed_at": self.now if self.confirmed else None,
            "status": status.value,
            "suppressed_detail": self.suppressed_detail,
            "unsubscribed_detail": self.unsubscribed_detail,
        }


def _failed(exc: Exception) -> StorageError:
    return StorageError(f"the database refused the import: {exc}".rstrip())


def _unique_violation() -> type[Exception]:
    from psycopg.errors import UniqueViolation

    return UniqueViolation


def _driver_errors() -> type[Exception]:
    # psycopg is imported only when an import runs: every CLI command imports this module.
    import psycopg

    return psycopg.Error


class Staging:
    """The staging tables of one import, driven through the psycopg connection itself
    (COPY is not part of SQLAlchemy's API).

    After ``start`` only this object touches the connection until ``iter_skips``; the
    service may call ``copy``/``merge`` from a second thread, and ``cancel`` from the
    first to stop a statement in flight.
    """

    def __init__(self, connection: psycopg.Connection[Any], rules: MergeRules) -> None:
        self._conn = connection
        self._rules = rules
        self._params = rules.params()
        self.staged = 0
        self._analyzed = False

    @classmethod
    def start(cls, session: Session, rules: MergeRules) -> Staging:
        """Create the staging tables for this transaction."""
        raw: Any = session.connection().connection.dbapi_connection
        staging = cls(raw, rules)
        try:
            with raw.cursor() as cur:
                # Sorting a staged slice wants more than the 4 MB default.
                cur.execute("SET LOCAL work_mem = '64MB'")
                # Every slice's classification costs enough to pass jit_above_cost, and
                # compiling it took longer than it saved: 0.5 of 1.0 s per 200,000 rows.
                cur.execute("SET LOCAL jit = off")
                cur.execute(_CREATE)
                cur.execute(_CREATE_SKIPS)
        except _driver_errors() as exc:
            raise _failed(exc) from exc
        return staging

    def copy(self, text: str, rows: int) -> None:
        """Stream ``rows`` rows, formatted by ``copy_text``, into the staging table."""
        sql = f"COPY import_rows ({', '.join(COPY_COLUMNS)}) FROM STDIN"
        try:
            with self._conn.cursor() as cur, cur.copy(sql) as copy:
                copy.write(text)
        except _driver_errors() as exc:
            raise _failed(exc) from exc
        self.staged += rows

    def merge(self) -> dict[str, int]:
        """Apply the staged slice and empty the staging table; returns how many rows
        were added, updated and unchanged."""
        if self.staged == 0:
            return {}
        try:
            with self._conn.cursor() as cur:
                return self._merge(cur)
        except _driver_errors() as exc:
            raise _failed(exc) from exc

    def _merge(self, cur: psycopg.Cursor[Any]) -> dict[str, int]:
        params = self._params
        if not self._analyzed:
            # Column statistics for the staging table, once: every slice looks alike, and
            # after each TRUNCATE the planner sizes the table from its pages.
            cur.execute("ANALYZE import_rows")
            self._analyzed = True
        cur.execute("DROP TABLE IF EXISTS import_plan")
        cur.execute(plan_statement(erasures=self._rules.erasures), params)
        cur.execute(_KINDS, params)
        added, updated, unchanged, changed, pending, skipped = cur.fetchone() or (0,) * 6
        if added:
            self._insert(cur)
        if changed:
            cur.execute(_PROFILES, params)
        if pending and self._rules.confirmed:
            cur.execute(_CONFIRMS, params)
        if skipped:
            cur.execute(_KEEP_SKIPS)
        cur.execute("TRUNCATE import_rows")
        self.staged = 0
        return {
            outcome: int(n)
            for outcome, n in (("added", added), ("updated", updated), ("unchanged", unchanged))
            if n
        }

    def _insert(self, cur: psycopg.Cursor[Any]) -> None:
        """New subscribers and new memberships: plain inserts, redone with ON CONFLICT
        only if a concurrent sign-up took one of the addresses meanwhile."""
        cur.execute("SAVEPOINT import_slice")
        try:
            cur.execute(_INSERT_PEOPLE, self._params)
        except _unique_violation():
            cur.execute("ROLLBACK TO SAVEPOINT import_slice")
            cur.execute(_NEW_SUBSCRIBERS, self._params)
            cur.execute(_JOINS, self._params)
        cur.execute("RELEASE SAVEPOINT import_slice")

    def cancel(self) -> None:
        """Ask the server to stop the statement in flight (from another thread)."""
        with contextlib.suppress(_driver_errors()):
            self._conn.cancel_safe(timeout=5.0)

    def iter_skips(self, *, batch: int = 5000) -> Iterator[Skip]:
        """Every skipped row in file order: (row, reason, detail, cells as JSON or None)."""
        try:
            with self._conn.cursor() as cur:
                cur.execute(
                    "SELECT row_no, reason, detail, cells FROM import_skips ORDER BY row_no"
                )
                while rows := cur.fetchmany(batch):
                    for row_no, reason, detail, cells in rows:
                        yield int(row_no), str(reason), str(detail), cells
        except _driver_errors() as exc:
            raise _failed(exc) from exc


Skip = tuple[int, str, str, str | None]
