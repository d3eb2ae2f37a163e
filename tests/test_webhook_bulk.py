"""Webhook batches are written set-based: one statement per table, whatever the size.

A batch of 2,500 events (more than one page of SQLAlchemy's multi-row VALUES) is stored
with one INSERT, and its effects with one upsert per results table, on both databases;
what is stored is what a row-by-row insert stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from test_web_support import Web, event, make_issue, open_web

from newsletter.services.events import ingest_events, process_pending_events
from newsletter.services.results import issue_results
from newsletter.storage.db import transaction
from newsletter.storage.models import DeliveryOutcome, IssueEventHour, WebhookEvent

SIZE = 2500


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        yield app


@pytest.fixture
def statements(web: Web) -> Iterator[Counter[str]]:
    """INSERT statements sent to the database, by target table."""
    seen: Counter[str] = Counter()
    engine = web.sessions.kw["bind"]

    def count(_conn: Any, _cursor: Any, sql: str, _params: Any, _ctx: Any, many: bool) -> None:
        words = sql.split()
        if words[:2] == ["INSERT", "INTO"]:
            seen[words[2]] += 1

    sa_event.listen(engine, "before_cursor_execute", count)
    yield seen
    sa_event.remove(engine, "before_cursor_execute", count)


def _batch(issue_id: int) -> list[dict[str, Any]]:
    kinds = ("delivered", "open", "click", "processed", "deferred")
    return [
        event(
            kinds[n % len(kinds)],
            f"Reader{n % 1200}@example.org",
            n=n,
            issue_id=issue_id,
            timestamp=1_741_000_000 + 60 * n,
            url=f"https://example.org/a/{n % 7}",
            note={"nested": [n, "ü\u2028"]},
        )
        for n in range(SIZE)
    ]


def test_a_large_batch_is_one_insert_and_one_upsert_per_table(
    web: Web, statements: Counter[str]
) -> None:
    issue_id = make_issue(web.sessions, web.list_id)
    posted = _batch(issue_id)
    result = ingest_events(web.sessions, posted)
    assert (result.received, result.stored) == (SIZE, SIZE)
    assert statements["webhook_events"] == 1
    # A repeat of the whole batch, and repeats inside one batch, store nothing new.
    again = ingest_events(web.sessions, posted[:10] + posted[:10])
    assert again.stored == 0
    with transaction(web.sessions) as session:
        stored = session.execute(
            select(WebhookEvent.sg_event_id, WebhookEvent.payload, WebhookEvent.processed).order_by(
                WebhookEvent.id
            )
        ).all()
    # In the order posted, payloads exactly as posted, all pending.
    assert [row.sg_event_id for row in stored] == [item["sg_event_id"] for item in posted]
    assert [row.payload for row in stored] == posted
    assert not any(row.processed for row in stored)

    statements.clear()
    done = process_pending_events(web.sessions, chunk=SIZE)
    assert done.processed == SIZE
    for table in (
        "delivery_outcomes",
        "issue_outcome_totals",
        "issue_event_counts",
        "issue_event_hours",
        "issue_link_clicks",
    ):
        assert statements[table] == 1, table
    with transaction(web.sessions) as session:
        people = session.scalar(select(func.count()).select_from(DeliveryOutcome))
        hours = session.scalar(select(func.sum(IssueEventHour.count)))
    # "processed" is not an outcome: the addresses that only had one get no row.
    assert people == len({n % 1200 for n in range(SIZE) if n % 5 != 3})
    assert hours == SIZE
    results = issue_results(web.sessions, issue_id)
    assert results.delivered == len({n % 1200 for n in range(0, SIZE, 5)})
