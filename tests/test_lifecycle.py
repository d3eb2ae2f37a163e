"""Event retention, erasure and backups, on SQLite and PostgreSQL.

Retention: ``issue show`` prints the same numbers before and after the raw events are
deleted. Erasure: nothing of the person is left but a keyed hash that refuses them.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select, text, update
from test_web_support import Web, event, make_issue, open_cli_web, subscribed
from typer.testing import CliRunner

from newsletter.audience.erasure import ErasureKeys
from newsletter.cli import app
from newsletter.errors import SettingsError
from newsletter.services import audience, lifecycle
from newsletter.services.audience import SubscribeOutcome
from newsletter.storage.db import make_engine
from newsletter.storage.models import (
    AuditEntry,
    Delivery,
    DeliveryOutcome,
    Membership,
    Subscriber,
    Suppression,
    WebhookEvent,
)

runner = CliRunner()


@pytest.fixture
def web(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    with open_cli_web(db_url, tmp_path, monkeypatch) as opened:
        yield opened


def _sent(web: Web, emails: list[str]) -> int:
    recipients = [(subscribed(web, email), email) for email in emails]
    issue = make_issue(web.sessions, web.list_id, recipients=recipients)
    events = [event("delivered", e, n=i, issue_id=issue) for i, e in enumerate(emails)]
    events += [
        event("open", emails[0], n=100, issue_id=issue),
        event("open", emails[0], n=101, issue_id=issue),
        event("click", emails[1], n=102, issue_id=issue, url="https://example.org/a"),
        event("bounce", emails[2], n=103, issue_id=issue, type="bounce"),
    ]
    assert web.post_events(events).status_code == 200
    return issue


def _show(issue: int) -> tuple[str, dict[str, object]]:
    shown = runner.invoke(app, ["issue", "show", str(issue)])
    assert shown.exit_code == 0, shown.output
    as_json = runner.invoke(app, ["issue", "show", str(issue), "--json"])
    data = orjson.loads(as_json.stdout)
    return shown.stdout, data["results"]


def _events(web: Web) -> int:
    with web.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(WebhookEvent)) or 0)


def _age_events(web: Web, days: int) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    with web.sessions.begin() as session:
        session.execute(update(WebhookEvent).values(received_at=old))


# ---------------------------------------------------------------- retention


def test_retention_deletes_old_raw_events_and_the_results_stay(web: Web) -> None:
    emails = [f"reader{i}@example.org" for i in range(4)]
    issue = _sent(web, emails)
    before_text, before = _show(issue)
    assert before["delivered"] == 4 and before["opened"] == 1 and before["bounced"] == 1
    stored = _events(web)
    assert stored == 8

    # Young events stay.
    kept = lifecycle.prune_events(web.sessions, retention_days=90)
    assert kept.deleted == 0 and _events(web) == stored

    _age_events(web, 91)
    # A late event still waiting to be processed is never deleted.
    with web.sessions.begin() as session:
        session.execute(
            update(WebhookEvent).where(WebhookEvent.event == "bounce").values(processed=False)
        )
    first = lifecycle.prune_events(web.sessions, retention_days=90, chunk=3, max_chunks=1)
    assert (first.deleted, first.chunks, first.more) == (3, 1, True)  # bounded
    rest = lifecycle.prune_events(web.sessions, retention_days=90, chunk=3)
    assert rest.deleted == 4 and not rest.more
    assert _events(web) == 1
    with web.sessions.begin() as session:  # as it was, for the comparison below
        session.execute(update(WebhookEvent).values(processed=True))

    after_text, after = _show(issue)
    assert after == before
    assert after_text == before_text


def test_retention_is_a_scheduler_job_with_a_setting() -> None:
    from newsletter.schedule_rules import specs
    from newsletter.scheduling import jobs
    from newsletter.settings import load_settings

    assert specs.PRUNE_EVENTS in specs.BY_ID and specs.PRUNE_EVENTS in specs.ONCE_ORDER
    assert specs.PRUNE_EVENTS in jobs.DEFAULT_BODIES
    assert load_settings().event_retention_days == 90
    with pytest.raises(SettingsError, match="NEWSLETTER_EVENT_RETENTION_DAYS"):
        load_settings(event_retention_days=1)


# ---------------------------------------------------------------- erasure


def test_forget_erases_the_person_and_refuses_them_later(
    web: Web, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emails = ["Gone.Person@Example.org", "stay1@example.org", "stay2@example.org"]
    issue = _sent(web, emails)
    _, before = _show(issue)
    result = runner.invoke(app, ["subscribers", "forget", "gone.person@example.org", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Erased gone.person@example.org" in result.stdout

    with web.sessions() as session:
        dumped = []
        for model in (Subscriber, Membership, Delivery, DeliveryOutcome, WebhookEvent):
            for row in session.scalars(select(model)):
                names = [column.name for column in model.__table__.columns]
                dumped.append(repr({c: getattr(row, c) for c in names}))
        assert not any("gone.person" in d.lower() for d in dumped)
        suppressions = list(session.scalars(select(Suppression)))
        assert all("gone" not in s.email.lower() + s.email_key for s in suppressions)
        erased = [s for s in suppressions if s.source == "erasure"]
        assert len(erased) == 1 and erased[0].email_key.startswith("erased:")
        # The ledger still counts the delivery, anonymously.
        assert session.scalar(select(func.count()).select_from(Delivery)) == 3
        entries = list(session.scalars(select(AuditEntry)))
        assert [e.action for e in entries] == ["subscriber.forget"]
        assert "gone" not in repr(entries[0].__dict__).lower()

    # The per-issue results are aggregates: they stay.
    _, after = _show(issue)
    assert after["delivered"] == before["delivered"]

    # A later sign-up, hand add or import of the address is refused as suppressed.
    signed = audience.subscribe_pending(
        web.sessions,
        "back-care",
        "GONE.person@example.org",
        None,
        source="t",
        ip=None,
        user_agent=None,
    )
    assert signed.outcome is SubscribeOutcome.SUPPRESSED
    csv_path = tmp_path / "again.csv"
    csv_path.write_text("email\ngone.person@example.org\nnew@example.org\n", encoding="utf-8")
    imported = runner.invoke(
        app, ["subscribers", "import", str(csv_path), "--list", "back-care", "--json"]
    )
    assert imported.exit_code == 0, imported.output
    summary = orjson.loads(imported.stdout)
    assert summary["skipped"]["suppressed"] == 1 and summary["added"] == 1
    with pytest.raises(Exception, match="no subscriber"):
        audience.show_subscriber(web.sessions, "gone.person@example.org")

    # Forgetting again is harmless; a rotated key still recognises the address.
    again = runner.invoke(app, ["subscribers", "forget", "gone.person@example.org", "--yes"])
    assert again.exit_code == 0
    cfg = web.settings
    rotated = ErasureKeys.from_settings(
        cfg.model_copy(
            update={
                "secret_key": type(cfg.secret_key)("a-new-key-" + "x" * 30),
                "secret_key_fallbacks": [cfg.secret_key],
            }
        )
    )
    with web.sessions() as session:
        assert lifecycle.is_erased(session, "gone.person@example.org", rotated)
        assert not lifecycle.is_erased(session, "stay1@example.org", rotated)


def test_forget_asks_first_and_refuses_without_a_terminal(web: Web) -> None:
    subscribed(web, "ask@example.org")
    refused = runner.invoke(app, ["subscribers", "forget", "ask@example.org"])
    assert refused.exit_code == 2
    assert "--yes" in refused.output
    kept = audience.show_subscriber(web.sessions, "ask@example.org")
    assert kept.email == "ask@example.org"


# ---------------------------------------------------------------- backup


def test_backup_copies_sqlite_while_a_writer_holds_a_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "live.db"
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{db}")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["lists", "create", "back-care", "--name", "Back"]).exit_code == 0
    engine = make_engine(f"sqlite:///{db}")
    # Another process is in the middle of a write: the copy shows the committed state.
    with engine.connect() as writer:
        writer.execute(text("BEGIN IMMEDIATE"))
        writer.execute(text("UPDATE lists SET name = 'uncommitted'"))
        target = tmp_path / "copy.db"
        done = runner.invoke(app, ["db", "backup", str(target), "--json"])
        writer.rollback()
    engine.dispose()
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout)["written"] is True
    copy = sqlite3.connect(target)
    assert copy.execute("SELECT slug, name FROM lists").fetchall() == [("back-care", "Back")]
    copy.close()
    again = runner.invoke(app, ["db", "backup", str(target)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert runner.invoke(app, ["db", "backup", str(target), "--force"]).exit_code == 0


def test_backup_on_postgresql_prints_pg_dump_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", "postgresql+psycopg://news:s3cret@db:5433/news")
    done = runner.invoke(app, ["db", "backup", "news.dump"])
    assert done.exit_code == 0, done.output
    assert "pg_dump --format=custom --file=news.dump --host=db --port=5433" in done.stdout
    assert "--username=news news" in done.stdout
    assert "s3cret" not in done.stdout
