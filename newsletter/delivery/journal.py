"""A local journal of batch outcomes that could not be written to the database.

When the database stays unreachable after SendGrid answered (``Ledger.record`` gave up
retrying), the outcome would otherwise be lost: the batch is left ``sending`` and the
next resume could only call it unknown. Instead it is appended here, one JSON line per
outcome, flushed and fsynced, in ``NEWSLETTER_SEND_JOURNAL_DIR/issue-<id>.jsonl``. The
next resume on this host applies the journal first (``Ledger.recover``), so the batch
ends as what really happened, with a note saying how it got there.

Applying an entry is a compare-and-set from ``sending``, so applying it twice, or after
another process settled the batch, changes nothing. The file lists no recipients:
batch numbers, statuses, message ids and error texts only.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import orjson

from newsletter.delivery.ledger_model import Outcome
from newsletter.storage.models import BatchStatus


@dataclass(frozen=True)
class JournalEntry:
    """One outcome SendGrid gave that the database did not take."""

    batch_no: int
    status: BatchStatus
    message_id: str | None
    error: str | None
    error_field: str | None
    status_code: int | None
    db_error: str

    @classmethod
    def of(cls, outcome: Outcome, db_error: str) -> JournalEntry:
        return cls(
            outcome.batch_no,
            outcome.status,
            outcome.message_id,
            outcome.error,
            outcome.error_field,
            outcome.status_code,
            db_error,
        )

    def as_outcome(self) -> Outcome:
        """The outcome to record, its error saying how it was recorded."""
        return Outcome(
            self.batch_no,
            self.status,
            self.message_id,
            self.note,
            self.error_field,
            self.status_code,
        )

    @property
    def note(self) -> str:
        """The batch's ``error`` text once the entry is applied: what really happened."""
        if self.status == BatchStatus.ACCEPTED:
            return (
                f"SendGrid accepted the request ({self.status_code or 202}, message id "
                f"{self.message_id or 'not given'}) but recording it failed: {self.db_error}; "
                "recorded from the local send journal by the next resume"
            )
        return (
            f"{self.error or self.status.value} (recording it failed: {self.db_error}; "
            "recorded from the local send journal by the next resume)"
        )


class OutcomeJournal:
    """The journal of one issue on this host; safe to share between worker threads."""

    def __init__(self, directory: Path, issue_id: int) -> None:
        self.path = directory / f"issue-{issue_id}.jsonl"
        self._lock = threading.Lock()

    def add(self, entry: JournalEntry) -> None:
        line = orjson.dumps(
            {
                "batch_no": entry.batch_no,
                "status": entry.status.value,
                "message_id": entry.message_id,
                "error": entry.error,
                "error_field": entry.error_field,
                "status_code": entry.status_code,
                "db_error": entry.db_error,
            }
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as handle:
                handle.write(line + b"\n")
                handle.flush()
                os.fsync(handle.fileno())

    def entries(self) -> list[JournalEntry]:
        """Every complete entry; a line cut short by a crash is ignored."""
        with self._lock:
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return []
        found: list[JournalEntry] = []
        for line in raw.splitlines():
            try:
                data = orjson.loads(line)
                found.append(
                    JournalEntry(
                        batch_no=int(data["batch_no"]),
                        status=BatchStatus(data["status"]),
                        message_id=data.get("message_id"),
                        error=data.get("error"),
                        error_field=data.get("error_field"),
                        status_code=data.get("status_code"),
                        db_error=str(data.get("db_error") or ""),
                    )
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
        return found

    def clear(self) -> None:
        """Forget every entry (once applied: resumes run under the issue's lease, before
        any worker of theirs can add one)."""
        with self._lock:
            self.path.unlink(missing_ok=True)
