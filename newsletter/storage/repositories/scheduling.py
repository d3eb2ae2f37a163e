"""The leader lease, job runs and sync cursors.

The lease is taken and renewed with one conditional UPDATE (or an INSERT that does
nothing on conflict) whose row count says who won, so it behaves the same on SQLite
and PostgreSQL and needs no advisory lock. Reading the lease and the runs is in
``repositories.overview`` (Core, shared with ``newsletter status``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import CursorResult, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.storage.models import JobRun, JobRunStatus, SchedulerLease, SyncCursor

FINISHED = (JobRunStatus.OK, JobRunStatus.SKIPPED)


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _insert(session: Session) -> Any:
    # Both dialects spell "insert unless the key exists" the same way, from different modules.
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def acquire_lease(
    session: Session, name: str, holder: str, now: dt.datetime, ttl: dt.timedelta
) -> bool:
    """Take or renew the lease ``name`` for ``holder``; True when ``holder`` holds it now."""
    expires = now + ttl
    stmt = (
        update(SchedulerLease)
        .where(
            SchedulerLease.name == name,
            or_(SchedulerLease.holder == holder, SchedulerLease.expires_at <= now),
        )
        .values(
            holder=holder,
            heartbeat_at=now,
            expires_at=expires,
            # A renewal keeps the original acquisition time; a takeover starts a new one.
            acquired_at=case(
                (SchedulerLease.holder == holder, SchedulerLease.acquired_at),
                else_=literal(now, SchedulerLease.acquired_at.type),
            ),
        )
        .execution_options(synchronize_session=False)
    )
    if _rowcount(session.execute(stmt)) == 1:
        return True
    insert = (
        _insert(session)(SchedulerLease)
        .values(name=name, holder=holder, acquired_at=now, heartbeat_at=now, expires_at=expires)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(SchedulerLease.name)
    )
    # RETURNING, not rowcount: psycopg reports -1 for a single INSERT through SQLAlchemy.
    return session.connection().execute(insert).first() is not None


def release_lease(session: Session, name: str, holder: str) -> bool:
    """Give the lease up at once, so a standby need not wait for it to expire."""
    stmt = delete(SchedulerLease).where(
        SchedulerLease.name == name, SchedulerLease.holder == holder
    )
    return _rowcount(session.execute(stmt.execution_options(synchronize_session=False))) == 1


def start_run(
    session: Session,
    job_id: str,
    scheduled_for: dt.datetime | None,
    holder: str | None,
    now: dt.datetime,
) -> int:
    run = JobRun(
        job_id=job_id,
        scheduled_for=scheduled_for,
        status=JobRunStatus.RUNNING,
        holder=holder,
        started_at=now,
        counts={},
        detail="",
    )
    session.add(run)
    session.flush()
    return run.id


def finish_run(
    session: Session,
    run_id: int,
    status: JobRunStatus,
    now: dt.datetime,
    *,
    counts: dict[str, Any] | None = None,
    detail: str = "",
) -> None:
    stmt = (
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(status=status, finished_at=now, counts=counts or {}, detail=detail[:2000])
        .execution_options(synchronize_session=False)
    )
    session.execute(stmt)


def abandon_runs(session: Session, holder: str, now: dt.datetime, detail: str) -> int:
    """Close the runs a lost leader left ``running``: it will never finish them."""
    stmt = (
        update(JobRun)
        .where(JobRun.holder == holder, JobRun.status == JobRunStatus.RUNNING)
        .values(status=JobRunStatus.FAILED, finished_at=now, detail=detail[:2000])
        .execution_options(synchronize_session=False)
    )
    return _rowcount(session.execute(stmt))


def has_finished_run(session: Session, job_id: str, scheduled_for: dt.datetime) -> bool:
    """Whether this fire time was already handled (run, skipped on purpose, or missed)."""
    stmt = select(JobRun.id).where(
        JobRun.job_id == job_id,
        JobRun.scheduled_for == scheduled_for,
        JobRun.status.in_([*FINISHED, JobRunStatus.MISSED]),
    )
    return session.execute(stmt.limit(1)).first() is not None


def record_missed(
    session: Session, job_id: str, scheduled_for: dt.datetime, now: dt.datetime, detail: str
) -> bool:
    """Record a missed fire time once; False when it was already handled or recorded."""
    if has_finished_run(session, job_id, scheduled_for):
        return False
    session.add(
        JobRun(
            job_id=job_id,
            scheduled_for=scheduled_for,
            status=JobRunStatus.MISSED,
            started_at=now,
            finished_at=now,
            counts={},
            detail=detail[:2000],
        )
    )
    session.flush()
    return True


def get_cursor(session: Session, name: str) -> int | None:
    return session.execute(select(SyncCursor.position).where(SyncCursor.name == name)).scalar()


def set_cursor(session: Session, name: str, position: int, now: dt.datetime) -> None:
    stmt = (
        _insert(session)(SyncCursor)
        .values(name=name, position=position, updated_at=now)
        .on_conflict_do_update(
            index_elements=["name"], set_={"position": position, "updated_at": now}
        )
    )
    session.connection().execute(stmt)


FIRST_START = "scheduler:first_start"
"""The cursor holding when a scheduler first ran on this database (epoch seconds)."""


def first_start(session: Session, now: dt.datetime) -> dt.datetime:
    """When a scheduler first ran here; recorded now if never (the earliest run counts).

    A database that already has runs (from before this was recorded) starts at its
    earliest one, so an upgrade does not forget what was really missed.
    """
    stored = get_cursor(session, FIRST_START)
    if stored is None:
        earliest = session.execute(select(func.min(JobRun.started_at))).scalar()
        start = min(earliest, now) if earliest is not None else now
        stmt = (
            _insert(session)(SyncCursor)
            .values(name=FIRST_START, position=int(start.timestamp()), updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        session.connection().execute(stmt)
        stored = get_cursor(session, FIRST_START)
        assert stored is not None
    return dt.datetime.fromtimestamp(stored, dt.UTC)
