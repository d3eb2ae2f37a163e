"""One bad signed event never blocks the others: odd issue ids, poison events, deep JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_web_support import Web, event, make_issue, open_web, signed_headers, subscribed
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.services import audience, events
from newsletter.services.events import ingest_events, parse_issue_id, process_pending_events
from newsletter.storage.db import transaction
from newsletter.storage.models import IssueEventCount, MembershipStatus
from newsletter.storage.repositories import events as events_repo


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app_:
        yield app_


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12),
        (12, 12),
        ("2147483647", 2**31 - 1),
        ("2147483648", None),
        ("12345678901234567890", None),
        ("²", None),
        ("١٢", None),  # Arabic-Indic digits: isdigit() says yes, an id they are not
        ("0", None),
        (-3, None),
        (True, None),
        ("12abc", None),
        (None, None),
        (1.5, None),
    ],
)
def test_issue_ids_are_ascii_digits_within_an_integer(raw: Any, expected: int | None) -> None:
    assert parse_issue_id(raw) == expected


def _status(web: Web, email: str) -> MembershipStatus:
    return audience.show_subscriber(web.sessions, email).memberships[0].status


def test_odd_issue_ids_do_not_block_the_events_after_them(web: Web) -> None:
    subscribed(web, "ana@example.org")
    issue = make_issue(web.sessions, web.list_id)
    answer = web.post_events(
        [
            event("open", "x@example.org", n=1, issue_id="²"),
            event("open", "x@example.org", n=2, issue_id="12345678901234567890"),
            event("open", "x@example.org", n=3, issue_id=str(2**31)),
            event("delivered", "ana@example.org", n=4, issue_id=issue),
            event("spamreport", "ana@example.org", n=5),
        ]
    )
    assert answer.status_code == 200
    assert answer.json()["processed"] == 5
    assert _status(web, "ana@example.org") == MembershipStatus.UNSUBSCRIBED
    with transaction(web.sessions) as session:
        assert events_repo.count_pending(session) == 0
        counted = session.get(IssueEventCount, (issue, "delivered"))
        assert counted is not None and counted.count == 1


def test_a_poison_event_is_set_aside_with_its_error_and_shown_in_status(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribed(web, "ana@example.org")
    real = events._collect

    def collect(item: Any, issue_id: int | None, effects: Any) -> None:
        if item.email == "poison@example.org":
            raise RuntimeError("cannot apply this one")
        real(item, issue_id, effects)

    monkeypatch.setattr(events, "_collect", collect)
    ingest_events(
        web.sessions,
        [
            event("open", "a@example.org", n=1),
            event("bounce", "poison@example.org", n=2, type="bounce"),
            event("spamreport", "ana@example.org", n=3),
        ],
    )
    result = process_pending_events(web.sessions)
    assert (result.processed, result.failed) == (2, 1)
    assert _status(web, "ana@example.org") == MembershipStatus.UNSUBSCRIBED
    # Set aside for good: the next run does not trip over it again.
    assert process_pending_events(web.sessions).processed == 0
    answer = web.post_events([event("spamreport", "ben@example.org", n=4)])
    assert answer.status_code == 200 and answer.json()["processed"] == 1

    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", web.settings.database_url)
    shown = CliRunner().invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    failed = json.loads(shown.stdout)["failed_events"]
    assert failed["total"] == 1
    assert failed["recent"][0]["error"] == "RuntimeError: cannot apply this one"
    assert failed["recent"][0]["sg_event_id"] == "evt-2"
    text = CliRunner().invoke(app, ["status"]).output
    assert "Webhook events set aside (1 in all" in text
    assert "RuntimeError: cannot apply this one" in text


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"x": value}
    return value


@pytest.mark.parametrize("depth", [17, 1000])
def test_deeply_nested_payloads_are_refused_with_400(web: Web, depth: int) -> None:
    # Written out by hand: orjson itself will not encode past 254 levels.
    plain = orjson.dumps([event("open", "a@example.org", n=1)])
    deep = b'{"x":' * depth + b'"leaf"' + b"}" * depth
    body = plain[:-2] + b',"extra":' + deep + b"}]"
    answer = web.client.post(
        "/webhooks/sendgrid", content=body, headers=signed_headers(web.private_key, body)
    )
    assert answer.status_code == 400
    assert "nested more than 16 levels" in answer.json()["detail"]
    with transaction(web.sessions) as session:
        assert events_repo.count_pending(session) == 0


def test_ordinary_lists_and_objects_are_fine(web: Web) -> None:
    item = event("click", "a@example.org", n=1) | {
        "category": ["newsletter", "back-care"],
        "extra": _nested(14),
    }
    assert web.post_events([item]).status_code == 200
