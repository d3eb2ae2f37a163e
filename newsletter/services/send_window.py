"""An issue's send window: until when refused batches are retried, and what is left.

The window opens at the issue's delivery time and closes ``NEWSLETTER_SEND_WINDOW_MINUTES``
later. While it is open, a send retries 429s and server errors (however many), and a
resume (``newsletter issue send ID``, or the scheduler's resume job) sends failed
batches again. A run started late still retries for at least ``RUN_RETRY_FLOOR``, so
a person resuming an old issue by hand is not stopped by the first 429.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from newsletter.delivery.retry import RetryWindow
from newsletter.services import timing
from newsletter.settings import Settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import BatchStatus, IssueStatus, utcnow
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as ledger_repo

RUN_RETRY_FLOOR = dt.timedelta(minutes=10)


def window_closes_at(cfg: Settings, issue_date: dt.date) -> dt.datetime:
    """When the send window of an issue dated ``issue_date`` closes (UTC)."""
    return timing.window_closes(cfg, issue_date).astimezone(dt.UTC)


def run_window(
    cfg: Settings,
    issue_date: dt.date,
    *,
    started: dt.datetime,
    clock: Callable[[], dt.datetime] = utcnow,
) -> RetryWindow:
    """The retry window of one run: the issue's, or ``RUN_RETRY_FLOOR`` after ``started``."""
    window = window_closes_at(cfg, issue_date)
    closed = f"the send window closed at {window:%Y-%m-%d %H:%M} UTC"
    floor = started + RUN_RETRY_FLOOR
    if floor <= window:
        return RetryWindow(window, clock, closed)
    minutes = int(RUN_RETRY_FLOOR.total_seconds() // 60)
    what = f"this run's {minutes} minutes of retries ran out ({closed})"
    return RetryWindow(floor, clock, what)


@dataclass(frozen=True)
class RetryState:
    """What the scheduler's resume job (and ``status``) need to decide and to report."""

    issue_id: int
    status: IssueStatus
    failed_batches: int
    failed_recipients: int
    pending_batches: int
    window_closes_at: dt.datetime
    now: dt.datetime

    @property
    def window_open(self) -> bool:
        return self.now < self.window_closes_at

    @property
    def retryable(self) -> bool:
        """Something is left to send and a resume may still retry it."""
        left = self.failed_batches + self.pending_batches
        return bool(left) and self.window_open and self.status != IssueStatus.CANCELLED

    @property
    def command(self) -> str:
        return f"newsletter issue send {self.issue_id}"


def retry_state(
    cfg: Settings, engine: Engine, issue_id: int, *, now: dt.datetime | None = None
) -> RetryState:
    """Failed and pending batches of an issue, and when its send window closes."""
    with transaction(session_factory(engine)) as session:
        issue = issue_repo.get_issue(session, issue_id)
        counts = ledger_repo.ledger_counts(session, issue_id)
        return RetryState(
            issue_id=issue_id,
            status=issue.status,
            failed_batches=counts.batches_in(BatchStatus.FAILED),
            failed_recipients=counts.recipients_in(BatchStatus.FAILED),
            pending_batches=counts.batches_in(BatchStatus.PENDING),
            window_closes_at=window_closes_at(cfg, issue.issue_date),
            now=now or utcnow(),
        )
