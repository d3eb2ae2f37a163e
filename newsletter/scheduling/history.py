"""Where a scheduler records its runs: the database, or memory for a ``--now`` run.

The run history (``job_runs``) is what ``status`` reports and what keeps a cron job to
one run per fire time. A run under a simulated clock (``--now`` or ``NEWSLETTER_NOW``)
answers fire times that have not really come, so it must not write there: it keeps its
history in memory, for its own process only, and ``status`` never sees it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from newsletter.storage.db import transaction
from newsletter.storage.models import JobRunStatus
from newsletter.storage.repositories import scheduling as repo


@dataclass(frozen=True)
class RunEnd:
    """How a run ended: its status, when, its counts and a one-line detail."""

    status: JobRunStatus
    at: dt.datetime
    counts: Mapping[str, Any]
    detail: str


class RunHistory(Protocol):
    def has_finished(self, job_id: str, fire: dt.datetime) -> bool:
        """Whether this fire time was already handled (run, skipped, or missed)."""
        ...

    def start(
        self, job_id: str, fire: dt.datetime | None, holder: str, now: dt.datetime
    ) -> int: ...

    def finish(self, run_id: int, end: RunEnd) -> None: ...

    def record_missed(self, job_id: str, fire: dt.datetime, now: dt.datetime, detail: str) -> bool:
        """Record a missed fire time once; False when it was already handled."""
        ...

    def first_start(self, now: dt.datetime) -> dt.datetime:
        """When a scheduler first ran (recorded at ``now`` the first time it is asked)."""
        ...


class DatabaseHistory:
    """The real history, in ``job_runs``, shared by every scheduler process."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def has_finished(self, job_id: str, fire: dt.datetime) -> bool:
        with transaction(self._sessions) as session:
            return repo.has_finished_run(session, job_id, fire)

    def start(self, job_id: str, fire: dt.datetime | None, holder: str, now: dt.datetime) -> int:
        with transaction(self._sessions) as session:
            return repo.start_run(session, job_id, fire, holder, now)

    def finish(self, run_id: int, end: RunEnd) -> None:
        with transaction(self._sessions) as session:
            repo.finish_run(
                session, run_id, end.status, end.at, counts=dict(end.counts), detail=end.detail
            )

    def record_missed(self, job_id: str, fire: dt.datetime, now: dt.datetime, detail: str) -> bool:
        with transaction(self._sessions) as session:
            return repo.record_missed(session, job_id, fire, now, detail)

    def first_start(self, now: dt.datetime) -> dt.datetime:
        with transaction(self._sessions) as session:
            return repo.first_start(session, now)


class MemoryHistory:
    """A simulated run's history: this process only, gone when it exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[int, tuple[str, dt.datetime | None, JobRunStatus]] = {}
        self._first: dt.datetime | None = None

    def has_finished(self, job_id: str, fire: dt.datetime) -> bool:
        done = (JobRunStatus.OK, JobRunStatus.SKIPPED, JobRunStatus.MISSED)
        with self._lock:
            return any((j, f) == (job_id, fire) and s in done for j, f, s in self._runs.values())

    def start(self, job_id: str, fire: dt.datetime | None, holder: str, now: dt.datetime) -> int:
        with self._lock:
            run_id = len(self._runs) + 1
            self._runs[run_id] = (job_id, fire, JobRunStatus.RUNNING)
            return run_id

    def finish(self, run_id: int, end: RunEnd) -> None:
        with self._lock:
            job_id, fire, _ = self._runs[run_id]
            self._runs[run_id] = (job_id, fire, end.status)

    def record_missed(self, job_id: str, fire: dt.datetime, now: dt.datetime, detail: str) -> bool:
        if self.has_finished(job_id, fire):
            return False
        with self._lock:
            self._runs[len(self._runs) + 1] = (job_id, fire, JobRunStatus.MISSED)
        return True

    def first_start(self, now: dt.datetime) -> dt.datetime:
        with self._lock:
            if self._first is None:
                self._first = now
            return self._first
