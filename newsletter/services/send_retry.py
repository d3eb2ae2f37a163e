"""Failed sends: how long the scheduler keeps retrying them, and how it says so.

An issue that ends ``failed`` (some batches were refused after their own retries)
is never reported as a success. The resume job tries it again with a growing pause
(1, 2, 4 … minutes, at most :data:`BACKOFF_CAP`) until the send window closes
(``NEWSLETTER_SEND_WINDOW_MINUTES`` after the issue's delivery time); then it gives
up and says so. A failed batch was refused, so nobody in it got the issue: trying it
again never sends anyone the issue twice.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from newsletter.services import timing
from newsletter.services.timing import window_closes
from newsletter.settings import Settings
from newsletter.storage.models import BatchStatus, IssueStatus
from newsletter.storage.repositories.ledger import LedgerCounts

BACKOFF_FIRST = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(minutes=16)
LEASE_MARGIN = dt.timedelta(seconds=3)
"""How long after a send lease expires the resume job tries the issue again."""


class RetryBackoff:
    """When each failed issue may be tried next, in this process (thread-safe).

    Kept in memory on purpose: a new leader starts again at one minute, which is at
    worst one extra early attempt.
    """

    def __init__(self, first: dt.timedelta = BACKOFF_FIRST, cap: dt.timedelta = BACKOFF_CAP):
        self._first = first
        self._cap = cap
        self._lock = threading.Lock()
        self._state: dict[int, tuple[int, dt.datetime]] = {}

    def due(self, issue_id: int, now: dt.datetime) -> bool:
        with self._lock:
            state = self._state.get(issue_id)
        return state is None or state[1] <= now

    def failed(
        self, issue_id: int, now: dt.datetime, *, latest: dt.datetime | None = None
    ) -> dt.datetime:
        """Count one more failed attempt; returns when the next one is due (by ``latest``)."""
        with self._lock:
            attempts = self._state.get(issue_id, (0, now))[0] + 1
            pause: dt.timedelta = min(self._first * 2 ** (attempts - 1), self._cap)
            due = now + pause if latest is None else min(now + pause, latest)
            self._state[issue_id] = (attempts, due)
            return due

    def next_at(self, issue_id: int) -> dt.datetime | None:
        with self._lock:
            state = self._state.get(issue_id)
        return state[1] if state else None

    def forget(self, issue_id: int) -> bool:
        """Stop tracking an issue; True when it was tracked."""
        with self._lock:
            return self._state.pop(issue_id, None) is not None


@dataclass(frozen=True)
class FailedSend:
    """An issue left with failed batches, for the log, the run record and the notice."""

    issue_id: int
    list_slug: str
    issue_date: dt.date
    recipients: int
    batches: int
    window_closes: dt.datetime
    next_try: dt.datetime | None = None
    """None: the window has closed, a person must act."""

    @property
    def command(self) -> str:
        return f"newsletter issue send {self.issue_id}"

    def describe(self, zone: ZoneInfo) -> str:
        what = (
            f"{self.list_slug}: issue {self.issue_id} ended with {self.recipients} "
            f"recipient(s) in {self.batches} failed batch(es)"
        )
        closes = timing.describe_time(self.window_closes, zone)
        if self.next_try is None:
            return (
                f"{what}; the send window closes {closes} and the scheduler has stopped "
                f"retrying: resume it with `{self.command}`"
            )
        return (
            f"{what}; the scheduler retries from {timing.describe_time(self.next_try, zone)} "
            f"until {closes}; to resume now: `{self.command}`"
        )


def failure_of(
    cfg: Settings,
    backoff: RetryBackoff,
    *,
    issue_id: int,
    list_slug: str,
    issue_date: dt.date,
    status: IssueStatus,
    counts: LedgerCounts,
    now: dt.datetime,
) -> FailedSend | None:
    """The failure to report when a send left failed batches (counted in ``backoff``).

    None, and the issue forgotten by ``backoff``, when nothing failed.
    """
    batches = counts.batches_in(BatchStatus.FAILED)
    if status != IssueStatus.FAILED and not batches:
        backoff.forget(issue_id)
        return None
    return FailedSend(
        issue_id=issue_id,
        list_slug=list_slug,
        issue_date=issue_date,
        recipients=counts.recipients_in(BatchStatus.FAILED),
        batches=batches,
        window_closes=window_closes(cfg, issue_date),
        next_try=next_try(cfg, backoff, issue_id, issue_date, now),
    )


def next_try(
    cfg: Settings, backoff: RetryBackoff, issue_id: int, issue_date: dt.date, now: dt.datetime
) -> dt.datetime | None:
    """Count a failed attempt; when to try again, kept inside the window (None: give up)."""
    last_chance = window_closes(cfg, issue_date) - dt.timedelta(seconds=1)
    if last_chance <= now:
        backoff.forget(issue_id)
        return None
    return backoff.failed(issue_id, now, latest=last_chance)
