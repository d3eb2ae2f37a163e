"""Scheduler state: the leader lease, the record of job runs, and sync cursors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.storage.models.base import Base, UTCDateTime, utcnow
from newsletter.storage.types import JobRunStatus


class SchedulerLease(Base):
    """One row per lease name; whoever holds an unexpired row is the leader."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class JobRun(Base):
    """One run (or one missed run) of a scheduled job, for idempotence and ``status``."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_scheduled", "job_id", "scheduled_for"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64))
    # The fire time this run answers; None for runs started by hand or by an interval.
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[JobRunStatus] = mapped_column(
        Enum(
            JobRunStatus,
            name="job_run_status",
            native_enum=False,
            create_constraint=True,
            length=20,
            values_callable=lambda members: [m.value for m in members],
        )
    )
    holder: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detail: Mapped[str] = mapped_column(Text, default="")


class SyncCursor(Base):
    """Where an incremental sync stopped (e.g. the last ``start_time`` per suppression kind)."""

    __tablename__ = "sync_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
