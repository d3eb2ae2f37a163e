"""A dropped database connection at the record step loses no outcome (issue #10, item 3).

On PostgreSQL the session's backend is really terminated (``pg_terminate_backend``) just
as the UPDATE that records a 202 is about to run; on SQLite that UPDATE fails with the
error a vanished file gives. The write is retried on a fresh connection, so the batch
is still recorded as accepted. When the database stays away, the outcome goes to the
local send journal and the next resume records it with what really happened.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import make_issue, seed_audience

from newsletter.delivery.retry import RetryPolicy
from newsletter.delivery.senders import MemorySender
from newsletter.errors import DatabaseUnavailableError
from newsletter.services.issues_send import send_issue
from newsletter.settings import Settings, load_settings
from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus, IssueStatus
from newsletter.storage.repositories import ledger as ledger_repo

FAST = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, jitter=0.0)


class RecordBreaker:
    """Breaks the connection under the UPDATE that records an outcome, ``times`` times."""

    def __init__(self, engine: Engine, db_url: str, times: int) -> None:
        self.left = times
        self.broken = 0
        self._admin = None if engine.dialect.name == "sqlite" else create_engine(db_url)
        event.listen(engine, "before_cursor_execute", self._before)
        self._engine = engine

    def _before(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Only the outcome's UPDATE sets message_id.
        if (
            self.left <= 0
            or not statement.startswith("UPDATE send_batches")
            or ("message_id" not in statement)
        ):
            return
        self.left -= 1
        self.broken += 1
        if self._admin is None:
            raise sqlite3.OperationalError("disk I/O error")
        pid = conn.connection.dbapi_connection.info.backend_pid
        with self._admin.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    def close(self) -> None:
        if event.contains(self._engine, "before_cursor_execute", self._before):
            event.remove(self._engine, "before_cursor_execute", self._before)
        if self._admin is not None:
            self._admin.dispose()


@pytest.fixture
def breaker_factory(engine: Engine, db_url: str) -> Iterator[Any]:
    made: list[RecordBreaker] = []

    def make(times: int) -> RecordBreaker:
        made.append(RecordBreaker(engine, db_url, times))
        return made[-1]

    yield make
    for breaker in made:
        breaker.close()


def _cfg(db_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        database_url=db_url,
        batch_size=10,
        send_concurrency=1,
        stage_sends=False,
        send_journal_dir=tmp_path / "journal",
        **overrides,
    )


def _batches(sessions: sessionmaker[Session], issue_id: int) -> list[ledger_repo.BatchInfo]:
    with transaction(sessions) as session:
        return ledger_repo.batch_infos(session, issue_id)


def test_a_202_is_recorded_after_the_connection_drops_at_the_record_step(
    db_url: str,
    engine: Engine,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    breaker_factory: Any,
) -> None:
    audience = seed_audience(sessions, 30)
    issue_id = make_issue(sessions, audience.list_id)
    sender = MemorySender()
    breaker = breaker_factory(2)
    report = send_issue(_cfg(db_url, tmp_path), engine, issue_id, sender=sender, policy=FAST)
    assert breaker.broken == 2
    assert report.ok and report.status == IssueStatus.SENT, report.as_dict()
    batches = _batches(sessions, issue_id)
    assert [b.status for b in batches] == [BatchStatus.ACCEPTED] * 3
    assert [b.message_id for b in batches] == [r.message_id for r in sender.sent]
    assert sender.accepted_recipients() == Counter({e: 1 for e in audience.emails})


def test_a_database_that_stays_away_stops_the_send_and_the_rerun_records_the_202(
    db_url: str,
    engine: Engine,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    breaker_factory: Any,
) -> None:
    audience = seed_audience(sessions, 30)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = _cfg(db_url, tmp_path, db_reconnect_seconds=0.5)
    sender = MemorySender()
    breaker = breaker_factory(1000)
    with pytest.raises(DatabaseUnavailableError) as caught:
        send_issue(cfg, engine, issue_id, sender=sender, policy=FAST)
    message = str(caught.value)
    assert f"`newsletter issue send {issue_id}` resumes it" in message
    assert "recording batch 1 failed" in message and "SendGrid accepted it" in message
    assert len(sender.sent) == 1  # the send stopped at the first outcome it could not keep
    journal = cfg.send_journal_dir / f"issue-{issue_id}.jsonl"
    assert journal.exists()
    breaker.close()

    again = send_issue(cfg, engine, issue_id, sender=sender, policy=FAST)
    assert again.ok, again.as_dict()
    first = _batches(sessions, issue_id)[0]
    assert first.status == BatchStatus.ACCEPTED
    assert first.message_id == sender.sent[0].message_id
    assert (first.error or "").startswith(
        f"SendGrid accepted the request (202, message id {first.message_id}) "
        "but recording it failed: database error"
    )
    assert not journal.exists()
    # Batch 1 was not sent again: the journal said SendGrid had it.
    assert sender.accepted_recipients() == Counter({e: 1 for e in audience.emails})
