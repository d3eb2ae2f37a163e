"""Members per list and status, read from ``list_member_counts`` (kept by triggers).

The triggers of migration v0017 write the table; nothing in Python does, except the
fold here, which merges the per-transaction rows PostgreSQL leaves into one per key. Reading is a
``GROUP BY`` over a few rows per list, whatever the audience size.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from newsletter.storage.models import ListMemberCount, MembershipStatus

FOLD_AFTER_ROWS = 200
"""Fold when the table holds more rows than this (PostgreSQL adds rows per transaction)."""

Counts = dict[int, dict[MembershipStatus, int]]


def _sums(session: Session) -> list[tuple[int, str, bool, int]]:
    c = ListMemberCount
    query = select(c.list_id, c.status, c.confirmed, func.sum(c.members)).group_by(
        c.list_id, c.status, c.confirmed
    )
    return [(int(a), str(s), bool(k), int(n or 0)) for a, s, k, n in session.execute(query)]


def fold(session: Session) -> None:
    """Merge every other slot into slot 0 (PostgreSQL; on SQLite all is in slot 0 already).

    Safe next to concurrent writers: rows of a transaction still running are invisible
    to the DELETE and stay; a second fold waits for the first and then finds the rows
    it read gone, so nothing is counted twice.
    """
    c = ListMemberCount
    gone = session.execute(
        delete(c).where(c.slot != 0).returning(c.list_id, c.status, c.confirmed, c.members)
    )
    sums: dict[tuple[int, str, bool], int] = {}
    for list_id, status, confirmed, members in gone:
        key = (int(list_id), str(status), bool(confirmed))
        sums[key] = sums.get(key, 0) + int(members)
    if not sums:
        return
    rows = [
        {"list_id": k[0], "status": k[1], "confirmed": k[2], "slot": 0, "members": n}
        for k, n in sums.items()
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(c).values(rows)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[c.list_id, c.status, c.confirmed, c.slot],
            set_={"members": c.members + stmt.excluded.members},
        )
    )


def _fold_if_long(session: Session) -> None:
    rows = session.scalar(select(func.count()).select_from(ListMemberCount)) or 0
    if rows > FOLD_AFTER_ROWS:
        fold(session)


def by_status(session: Session) -> Counts:
    """Per list id: members in each status (absent statuses are 0)."""
    _fold_if_long(session)
    counts: Counts = {}
    for list_id, status, _confirmed, members in _sums(session):
        per_list = counts.setdefault(list_id, dict.fromkeys(MembershipStatus, 0))
        per_list[MembershipStatus(status)] += members
    return counts


def confirmed_subscribed(session: Session, list_id: int) -> int:
    """Members of the list who are subscribed and confirmed (before suppressions, pauses)."""
    c = ListMemberCount
    query = select(func.sum(c.members)).where(
        c.list_id == list_id,
        c.status == MembershipStatus.SUBSCRIBED.value,
        c.confirmed.is_(True),
    )
    return int(session.scalar(query) or 0)
