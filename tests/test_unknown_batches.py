"""Settling unknown batches by hand after checking SendGrid's activity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import make_issue, seed_audience
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.delivery.ledger import Ledger, Outcome
from newsletter.errors import IssueStateError
from newsletter.services import unknown as unknown_service
from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus, SendBatch
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
    assert unknown_service.mark_unknown_accepted(engine, issue_id, [2], by="ops") == [2]
    assert _unknown(sessions, issue_id) == [3]
    assert unknown_service.mark_unknown_accepted(engine, issue_id, None, by="ops") == [3]
    assert _unknown(sessions, issue_id) == []


def test_a_batch_that_is_not_unknown_is_refused_by_number(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    issue_id = _with_unknown(sessions)
    refused = r"batch\(es\) 1 are not unknown.*nothing was changed"
    with pytest.raises(IssueStateError, match=refused):
        unknown_service.mark_unknown_accepted(engine, issue_id, [1, 2], by="ops")
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


def _outbox_bodies(tmp_path: Path) -> list[dict[str, Any]]:
    outbox = tmp_path / "outbox"
    if not outbox.exists():
        return []
    return [json.loads(p.read_text()) for p in sorted(outbox.glob("*.json"))]


def test_resend_unknown_with_batch_resends_only_that_batch(
    db_url: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSLETTER_STAGE_SENDS", "false")
    issue_id = _with_unknown(sessions)
    asked = runner.invoke(
        app, ["issue", "send", str(issue_id), "--resend-unknown", "--batch", "3"], input="n\n"
    )
    assert asked.exit_code == 1
    # The question names the batch and how many people get it, and the risk.
    assert "batch 3 (1 person)" in asked.output and "twice" in asked.output
    assert _outbox_bodies(tmp_path) == []
    result = runner.invoke(
        app, ["issue", "send", str(issue_id), "--resend-unknown", "--batch", "3", "--yes"]
    )
    assert result.exit_code == 1, result.output  # batch 2 is still unknown
    assert "Resent unknown batch(es) 3" in result.stdout
    bodies = _outbox_bodies(tmp_path)
    assert [b["custom_args"]["batch"] for b in bodies] == ["3"]
    assert _unknown(sessions, issue_id) == [2]
    with transaction(sessions) as session:
        (third,) = repo.batch_infos(session, issue_id, [BatchStatus.ACCEPTED])[1:]
    assert third.batch_no == 3 and "chosen by an operator" in (third.settle_note or "")


def test_resend_of_a_batch_that_is_not_unknown_changes_nothing(
    db_url: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    issue_id = _with_unknown(sessions)
    refused = runner.invoke(
        app,
        ["issue", "send", str(issue_id), "--resend-unknown", "--batch", "1", "--batch", "2"],
    )
    assert refused.exit_code == 1
    assert "batch(es) 1 are not unknown" in refused.output
    assert "its unknown batches: 2–3" in refused.output
    assert _unknown(sessions, issue_id) == [2, 3] and _outbox_bodies(tmp_path) == []
    usage = runner.invoke(app, ["issue", "send", str(issue_id), "--batch", "2"])
    assert usage.exit_code == 2 and "--resend-unknown" in usage.output
    marked = runner.invoke(app, ["issue", "mark-accepted", str(issue_id), "--batch", "9"])
    assert marked.exit_code == 1 and "batch(es) 9 are not unknown" in marked.output
    assert _unknown(sessions, issue_id) == [2, 3]


def test_dry_runs_change_nothing_and_say_what_would_happen(
    db_url: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    issue_id = _with_unknown(sessions)
    mark = runner.invoke(
        app, ["issue", "mark-accepted", str(issue_id), "--batch", "2", "--dry-run", "--json"]
    )
    assert mark.exit_code == 0, mark.output
    assert [b["batch"] for b in json.loads(mark.stdout)["would_mark_accepted"]] == [2]
    send = runner.invoke(app, ["issue", "send", str(issue_id), "--resend-unknown", "--dry-run"])
    assert send.exit_code == 0, send.output
    assert "Dry run" in send.stdout and "batches 2–3 (2 people)" in send.stdout
    assert _unknown(sessions, issue_id) == [2, 3] and _outbox_bodies(tmp_path) == []
    confirm = runner.invoke(
        app, ["issue", "mark-accepted", str(issue_id), "--batch", "2"], input="n\n"
    )
    assert "batch 2 (1 person)" in confirm.output and "1 other unknown" in confirm.output


def test_unknown_listing_gives_message_id_and_request_time_fields(
    db_url: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    issue_id = _with_unknown(sessions)
    with transaction(sessions) as session:
        session.execute(
            update(SendBatch)
            .where(SendBatch.issue_id == issue_id, SendBatch.batch_no == 2)
            .values(message_id="msg-two")
        )
    listed = runner.invoke(app, ["issue", "unknown", str(issue_id), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)["unknown_batches"]
    assert [(r["batch"], r["message_id"]) for r in rows] == [(2, "msg-two"), (3, None)]
    assert all("request_started_at" in r and r["recipients"] == 1 for r in rows)
    shown = json.loads(runner.invoke(app, ["issue", "show", str(issue_id), "--json"]).stdout)
    assert [r["batch"] for r in shown["unknown_batches"]] == [2, 3]
    table = runner.invoke(app, ["issue", "unknown", str(issue_id)])
    assert "msg-two" in table.stdout and "mark-accepted" in table.stdout
    text = runner.invoke(app, ["issue", "show", str(issue_id)]).stdout
    assert "msg-two" in text and "unknown outcome" in text
