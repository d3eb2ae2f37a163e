"""Settling unknown batches by hand after checking SendGrid's activity."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import make_issue, seed_audience
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.delivery.ledger import Ledger, Outcome
from newsletter.errors import IssueStateError
from newsletter.services import issues as issue_service
from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus
from newsletter.storage.repositories import ledger as repo

runner = CliRunner()


def _with_unknown(sessions: sessionmaker[Session]) -> int:
    """An issue of 3 one-person batches: 1 accepted, 2 and 3 unknown."""
    audience = seed_audience(sessions, 3)
    issue_id = make_issue(sessions, audience.list_id)
    ledger = Ledger(sessions, issue_id)
    ledger.begin()
    ledger.snapshot(batch_size=1)
    assert ledger.claim(1) is not None and ledger.record(Outcome(1, BatchStatus.ACCEPTED))
    for batch in (2, 3):
        assert ledger.claim(batch) is not None
        assert ledger.record(Outcome(batch, BatchStatus.UNKNOWN))
    ledger.finish()
    return issue_id


def _unknown(sessions: sessionmaker[Session], issue_id: int) -> list[int]:
    with transaction(sessions) as session:
        return repo.batch_numbers(session, issue_id, [BatchStatus.UNKNOWN])


def test_marking_one_batch_leaves_the_other_unknown(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    issue_id = _with_unknown(sessions)
    assert issue_service.mark_unknown_accepted(engine, issue_id, [2], by="ops") == [2]
    assert _unknown(sessions, issue_id) == [3]
    assert issue_service.mark_unknown_accepted(engine, issue_id, None, by="ops") == [3]
    assert _unknown(sessions, issue_id) == []


def test_a_batch_that_is_not_unknown_is_refused_by_number(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    issue_id = _with_unknown(sessions)
    with pytest.raises(IssueStateError, match=r"batch\(es\) 1 are not unknown"):
        issue_service.mark_unknown_accepted(engine, issue_id, [1, 2], by="ops")
    assert _unknown(sessions, issue_id) == [2, 3]


def test_cli_marks_all_unknown_batches(
    db_url: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    issue_id = _with_unknown(sessions)
    refused = runner.invoke(app, ["issue", "mark-accepted", str(issue_id)], input="n\n")
    assert refused.exit_code == 1
    assert _unknown(sessions, issue_id) == [2, 3]
    result = runner.invoke(app, ["issue", "mark-accepted", str(issue_id), "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert '"marked_accepted"' in result.stdout
    assert _unknown(sessions, issue_id) == []
    again = runner.invoke(app, ["issue", "mark-accepted", str(issue_id), "--yes"])
    assert again.exit_code == 0
    assert "no unknown batches" in again.stdout
