"""The results service: maintained totals, the hourly chart, links, and unsubscribe windows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from test_web_support import Web, event, make_issue, open_web, subscribed

from newsletter.services import audience
from newsletter.services.results import CHART_HOURS, issue_results
from newsletter.storage.db import transaction
from newsletter.storage.models import Membership

START = dt.datetime(2025, 3, 4, 14, 20, tzinfo=dt.UTC)
T0 = int(START.timestamp())


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as opened:
        yield opened


def test_repeated_events_count_people_once_across_batches(web: Web) -> None:
    ana = subscribed(web, "ana@example.org")
    issue = make_issue(web.sessions, web.list_id, recipients=[(ana, "ana@example.org")])
    # Three separate webhook calls: the totals are updated by each, never recounted.
    for n in (1, 2, 3):
        web.post_events(
            [
                event("delivered", "ana@example.org", n=n, issue_id=issue),
                event("open", "ana@example.org", n=10 + n, issue_id=issue),
            ]
        )
    results = issue_results(web.sessions, issue)
    assert results.delivered == 1
    assert results.opened == 1
    assert results.open_rate == 1.0
    assert results.events == {"delivered": 3, "open": 3}


def test_chart_counts_events_per_hour_from_the_send_start(web: Web) -> None:
    people = [(subscribed(web, f"p{i}@example.org"), f"p{i}@example.org") for i in range(3)]
    issue = make_issue(web.sessions, web.list_id, recipients=people, started=START)
    web.post_events(
        [
            event("delivered", "p0@example.org", n=1, issue_id=issue, timestamp=T0),
            event("delivered", "p1@example.org", n=2, issue_id=issue, timestamp=T0),
            event("open", "p0@example.org", n=3, issue_id=issue, timestamp=T0 + 2 * 3600),
            event(
                "click",
                "p0@example.org",
                n=4,
                issue_id=issue,
                timestamp=T0 + 2 * 3600,
                url="https://clinic.example.org/a",
            ),
            event(
                "click",
                "p1@example.org",
                n=5,
                issue_id=issue,
                timestamp=T0 + 3 * 3600,
                url="https://clinic.example.org/a",
            ),
            event(
                "click",
                "p1@example.org",
                n=6,
                issue_id=issue,
                timestamp=T0 + 3 * 3600 + 1,
                url="https://clinic.example.org/b",
            ),
            event(
                "bounce",
                "p2@example.org",
                n=7,
                issue_id=issue,
                timestamp=T0 + 80 * 3600,
                type="bounce",
            ),
        ]
    )
    results = issue_results(web.sessions, issue)
    chart = results.chart
    assert chart is not None
    assert chart.start == dt.datetime(2025, 3, 4, 14, tzinfo=dt.UTC)
    assert len(chart.series["Delivered"]) == CHART_HOURS
    assert chart.series["Delivered"][0] == 2
    assert chart.series["Opens"][2] == 1
    assert chart.series["Clicks"][2:4] == [1, 2]
    # Hour 80 is past the first 72 hours: counted in the totals, not in the chart.
    assert sum(chart.series["Bounces and drops"]) == 0
    assert results.bounced == 1
    assert results.links == [
        ("https://clinic.example.org/a", 2),
        ("https://clinic.example.org/b", 1),
    ]
    assert results.clicked == 2
    assert results.click_rate == pytest.approx(1.0)


def test_unsubscribes_count_for_the_issue_before_the_next_one(web: Web) -> None:
    ana, bo = subscribed(web, "ana@example.org"), subscribed(web, "bo@example.org")
    people = [(ana, "ana@example.org"), (bo, "bo@example.org")]
    first = make_issue(web.sessions, web.list_id, recipients=people, started=START)
    second = make_issue(
        web.sessions,
        web.list_id,
        recipients=people,
        started=START + dt.timedelta(days=7),
        issue_date=dt.date(2025, 3, 11),
    )
    audience.unsubscribe(web.sessions, ana, web.list_id, source="web:one-click")
    audience.unsubscribe(web.sessions, bo, web.list_id, source="web:one-click")
    with transaction(web.sessions) as session:
        session.execute(
            update(Membership)
            .where(Membership.subscriber_id == ana)
            .values(unsubscribed_at=START + dt.timedelta(days=1))
        )
        session.execute(
            update(Membership)
            .where(Membership.subscriber_id == bo)
            .values(unsubscribed_at=START + dt.timedelta(days=8))
        )
    assert issue_results(web.sessions, first).unsubscribed == 1
    assert issue_results(web.sessions, second).unsubscribed == 1


def test_complaint_levels_under_near_and_over(web: Web) -> None:
    people = [(subscribed(web, f"r{i}@example.org"), f"r{i}@example.org") for i in range(500)]
    issue = make_issue(web.sessions, web.list_id, recipients=people)
    events = [event("delivered", e, n=i, issue_id=issue) for i, (_, e) in enumerate(people)]
    web.post_events(events)
    assert issue_results(web.sessions, issue).complaint_level == "under"
    web.post_events([event("spamreport", "r1@example.org", n=2001, issue_id=issue)])
    near = issue_results(web.sessions, issue)
    assert near.complaint_level == "near"
    assert "near Gmail's 0.3% line (still under it)" in near.complaint_sentence
    web.post_events([event("spamreport", "r2@example.org", n=2002, issue_id=issue)])
    over = issue_results(web.sessions, issue)
    assert over.complaint_level == "over"
    assert "0.40% is over Gmail's 0.3% line" in over.complaint_sentence


def test_no_webhook_key_makes_the_results_unknown(web: Web) -> None:
    ana = subscribed(web, "ana@example.org")
    issue = make_issue(web.sessions, web.list_id, recipients=[(ana, "ana@example.org")])
    results = issue_results(web.sessions, issue, webhook_configured=False)
    assert not results.known
    assert results.notice is not None and "no delivery" in results.notice
    assert results.as_dict()["delivered"] is None
