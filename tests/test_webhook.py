"""POST /webhooks/sendgrid: signature, size and shape checks, dedupe, and effects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select
from test_web_support import (
    Web,
    event,
    make_issue,
    new_keypair,
    open_web,
    sign,
    signed_headers,
    subscribed,
)

from newsletter.services import audience
from newsletter.services.events import ingest_events, process_pending_events
from newsletter.services.results import issue_results
from newsletter.storage.db import transaction
from newsletter.storage.models import (
    DeliveryOutcome,
    IssueEventCount,
    MembershipStatus,
    SuppressionReason,
    WebhookEvent,
)
from newsletter.web.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        yield app


def _stored(web: Web) -> int:
    with transaction(web.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(WebhookEvent)) or 0)


def _status(web: Web, email: str) -> MembershipStatus:
    view = audience.show_subscriber(web.sessions, email)
    return view.memberships[0].status


# ------------------------------------------------------------------ signature


def test_a_signed_batch_is_stored_and_processed(web: Web) -> None:
    answer = web.post_events([event("processed", "ana@example.org", n=1)])
    assert answer.status_code == 200
    assert answer.json() == {"received": 1, "stored": 1, "duplicates": 0, "processed": 1}
    assert _stored(web) == 1


def test_unsigned_request_is_refused_and_nothing_stored(web: Web) -> None:
    body = orjson.dumps([event("bounce", "ana@example.org", n=1)])
    answer = web.client.post(
        "/webhooks/sendgrid", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 403
    assert "signature" in answer.json()["detail"]
    assert _stored(web) == 0


def test_tampered_body_is_refused(web: Web) -> None:
    body = orjson.dumps([event("delivered", "ana@example.org", n=1)])
    headers = signed_headers(web.private_key, body)
    tampered = body.replace(b"delivered", b"spamreport")
    answer = web.client.post("/webhooks/sendgrid", content=tampered, headers=headers)
    assert answer.status_code == 403
    assert _stored(web) == 0


def test_signature_by_another_key_is_refused(web: Web) -> None:
    other, _ = new_keypair()
    body = orjson.dumps([event("delivered", "ana@example.org", n=1)])
    answer = web.client.post(
        "/webhooks/sendgrid", content=body, headers=signed_headers(other, body)
    )
    assert answer.status_code == 403


@pytest.mark.parametrize("age", [-900, 900])
def test_timestamp_outside_the_window_is_refused(web: Web, age: int) -> None:
    body = orjson.dumps([event("delivered", "ana@example.org", n=1)])
    headers = signed_headers(web.private_key, body, timestamp=int(time.time()) - age)
    answer = web.client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert answer.status_code == 403
    assert "away from now" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("signature", "timestamp"),
    [("not base64!!", None), ("AAAA", None), (None, "yesterday"), (None, "")],
)
def test_garbage_signature_headers_are_refused(
    web: Web, signature: str | None, timestamp: str | None
) -> None:
    body = b"[]"
    headers = signed_headers(web.private_key, body)
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    if timestamp is not None:
        headers[TIMESTAMP_HEADER] = timestamp
    answer = web.client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert answer.status_code == 403


def test_unconfigured_key_answers_503(db_url: str, tmp_path: Path) -> None:
    with open_web(db_url, tmp_path, with_key=False) as web:
        body = b"[]"
        answer = web.client.post(
            "/webhooks/sendgrid", content=body, headers=signed_headers(web.private_key, body)
        )
    assert answer.status_code == 503
    assert "not configured" in answer.json()["detail"]


def test_invalid_configured_key_answers_503(db_url: str, tmp_path: Path) -> None:
    with open_web(db_url, tmp_path, sendgrid_webhook_public_key="bm90IGEga2V5") as web:
        answer = web.client.post("/webhooks/sendgrid", content=b"[]")
    assert answer.status_code == 503


def test_a_pem_formatted_key_is_accepted(db_url: str, tmp_path: Path) -> None:
    private, public = new_keypair()
    pem = f"-----BEGIN PUBLIC KEY-----\n{public}\n-----END PUBLIC KEY-----\n"
    with open_web(db_url, tmp_path, sendgrid_webhook_public_key=pem) as web:
        body = b"[]"
        answer = web.client.post(
            "/webhooks/sendgrid", content=body, headers=signed_headers(private, body)
        )
    assert answer.status_code == 200


# ------------------------------------------------------------------ size and shape


def test_body_over_one_megabyte_is_413_before_parsing(web: Web) -> None:
    body = b"[" + b" " * 1_100_000 + b"]"
    answer = web.client.post(
        "/webhooks/sendgrid", content=body, headers=signed_headers(web.private_key, body)
    )
    assert answer.status_code == 413


def test_chunked_body_over_the_limit_is_413(web: Web) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 100_000

    answer = web.client.post(
        "/webhooks/sendgrid", content=chunks(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"event": "bounce"}', "JSON array"),
        (b"[1, 2]", "not an object"),
        (b'[{"email": "a@example.org", "timestamp": 1}]', "'event'"),
        (b'[{"event": "open", "timestamp": "soon"}]', "'timestamp'"),
        (b'[{"event": "open", "timestamp": 1, "email": 5}]', "'email'"),
        (b'[{"event": "open", "timestamp": 1, "sg_event_id": "' + b"x" * 101 + b'"}]', "longer"),
    ],
)
def test_malformed_but_signed_body_is_400(web: Web, body: bytes, problem: str) -> None:
    answer = web.client.post(
        "/webhooks/sendgrid", content=body, headers=signed_headers(web.private_key, body)
    )
    assert answer.status_code == 400
    assert problem in answer.json()["detail"]
    assert _stored(web) == 0


# ------------------------------------------------------------------ dedupe


def test_replayed_batch_is_ignored(web: Web) -> None:
    ana = subscribed(web, "ana@example.org")
    issue = make_issue(web.sessions, web.list_id, recipients=[(ana, "ana@example.org")])
    batch = [
        event("delivered", "ana@example.org", n=1, issue_id=issue),
        event("open", "ana@example.org", n=2, issue_id=issue),
    ]
    first = web.post_events(batch)
    again = web.post_events(batch)
    assert first.json()["stored"] == 2
    assert again.json() == {"received": 2, "stored": 0, "duplicates": 2, "processed": 0}
    assert issue_results(web.sessions, issue).events == {"delivered": 1, "open": 1}


def test_retry_with_new_event_id_is_deduped_by_message_event_and_time(web: Web) -> None:
    original = event("open", "ana@example.org", n=1)
    retried = dict(original, sg_event_id="a-brand-new-id")
    assert web.post_events([original]).json()["stored"] == 1
    assert web.post_events([retried]).json()["stored"] == 0
    # Same event id, different content: also a duplicate.
    renamed = dict(original, timestamp=original["timestamp"] + 50)
    assert web.post_events([renamed]).json()["stored"] == 0
    assert _stored(web) == 1


def test_duplicates_inside_one_batch_are_stored_once(web: Web) -> None:
    one = event("click", "ana@example.org", n=1)
    answer = web.post_events([one, one, dict(one, sg_event_id="other")])
    assert answer.json()["stored"] == 1
    assert answer.json()["duplicates"] == 2


# ------------------------------------------------------------------ effects


@pytest.mark.parametrize(
    ("kind", "extra", "reason"),
    [
        ("bounce", {"type": "bounce", "reason": "550 5.1.1 no such user"}, "bounce"),
        ("dropped", {"reason": "Invalid"}, "invalid"),
        ("dropped", {"reason": "Bounced Address"}, "bounce"),
        ("spamreport", {}, "spamreport"),
        ("unsubscribe", {}, "unsubscribe"),
        ("group_unsubscribe", {"asm_group_id": 7}, "unsubscribe"),
    ],
)
def test_suppressing_events_suppress_and_unsubscribe(
    web: Web, kind: str, extra: dict[str, object], reason: str
) -> None:
    subscribed(web, "Ana@Example.org")
    assert web.post_events([event(kind, "ana@example.org", n=1, **extra)]).status_code == 200
    view = audience.show_subscriber(web.sessions, "ana@example.org")
    assert view.suppression is not None
    assert view.suppression.reason == SuppressionReason(reason)
    assert view.suppression.source == f"sendgrid:{kind}"
    assert view.memberships[0].status == MembershipStatus.UNSUBSCRIBED
    assert view.memberships[0].unsubscribe_source == f"sendgrid:{kind}"


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("bounce", {"type": "blocked"}),
        ("dropped", {"reason": "Invalid SMTPAPI header"}),
        ("deferred", {}),
        ("delivered", {}),
    ],
)
def test_other_events_do_not_suppress(web: Web, kind: str, extra: dict[str, object]) -> None:
    subscribed(web, "ana@example.org")
    web.post_events([event(kind, "ana@example.org", n=1, **extra)])
    view = audience.show_subscriber(web.sessions, "ana@example.org")
    assert view.suppression is None
    assert view.memberships[0].status == MembershipStatus.SUBSCRIBED


def test_a_signed_bounce_keeps_the_address_out_of_the_next_send(web: Web) -> None:
    subscribed(web, "ana@example.org")
    subscribed(web, "ben@example.org")
    before = {p.list.slug: p.sendable for p in audience.lists_with_counts(web.sessions)}
    web.post_events([event("bounce", "ben@example.org", n=1, type="bounce")])
    after = {p.list.slug: p.sendable for p in audience.lists_with_counts(web.sessions)}
    assert after["back-care"] == before["back-care"] - 1


def test_engagement_events_update_outcomes_and_counters(web: Web) -> None:
    ana = subscribed(web, "ana@example.org")
    ben = subscribed(web, "ben@example.org")
    issue = make_issue(
        web.sessions,
        web.list_id,
        recipients=[(ana, "ana@example.org"), (ben, "ben@example.org")],
    )
    events = [
        event("deferred", "ana@example.org", n=1, issue_id=issue),
        event("delivered", "ana@example.org", n=2, issue_id=issue),
        event("open", "ana@example.org", n=3, issue_id=issue),
        event("open", "ana@example.org", n=4, issue_id=issue),
        event("click", "ana@example.org", n=5, issue_id=issue, url="https://x.example/a"),
        event("delivered", "ben@example.org", n=6, issue_id=issue),
    ]
    # A late "deferred" must not move ana back from delivered.
    late = event("deferred", "ana@example.org", n=7, issue_id=issue)
    web.post_events(events)
    web.post_events([late])
    with transaction(web.sessions) as session:
        rows = {
            row.email_key: row
            for row in session.scalars(
                select(DeliveryOutcome).where(DeliveryOutcome.issue_id == issue)
            )
        }
        query = select(IssueEventCount.event, IssueEventCount.count).where(
            IssueEventCount.issue_id == issue
        )
        counts = {name: count for name, count in session.execute(query).tuples()}
    assert rows["ana@example.org"].status == "delivered"
    assert rows["ana@example.org"].opens == 2
    assert rows["ana@example.org"].clicks == 1
    assert rows["ana@example.org"].first_opened_at is not None
    assert rows["ben@example.org"].first_opened_at is None
    assert counts == {"deferred": 2, "delivered": 2, "open": 2, "click": 1}


def test_events_match_the_issue_by_message_id_prefix(web: Web) -> None:
    ana = subscribed(web, "ana@example.org")
    issue = make_issue(
        web.sessions, web.list_id, recipients=[(ana, "ana@example.org")], message_id="XMSG42"
    )
    # No issue_id custom arg: only the prefix of sg_message_id links it to the batch.
    web.post_events([event("delivered", "ana@example.org", n=1, message_id="XMSG42")])
    assert issue_results(web.sessions, issue).delivered == 1


def test_unknown_issue_ids_and_addresses_are_processed_harmlessly(web: Web) -> None:
    answer = web.post_events(
        [
            event("delivered", "nobody@example.org", n=1, issue_id=999_999),
            event("open", "nobody@example.org", n=2, issue_id="12abc"),
            event("bounce", "nobody@example.org", n=3, type="bounce"),
            {"event": "processed", "timestamp": 1_741_000_000},
        ]
    )
    assert answer.status_code == 200
    assert answer.json()["processed"] == 4
    view = audience.show_subscriber(web.sessions, "nobody@example.org")
    assert view.subscriber_id is None and view.suppression is not None


def test_events_left_unprocessed_by_a_crash_are_applied_later(web: Web) -> None:
    subscribed(web, "ana@example.org")
    # Stored but never processed: what a crash between the two steps leaves behind.
    ingest_events(web.sessions, [event("spamreport", "ana@example.org", n=1)])
    assert _status(web, "ana@example.org") == MembershipStatus.SUBSCRIBED
    # The next webhook request picks the leftovers up along with its own events.
    answer = web.post_events([event("delivered", "ben@example.org", n=2)])
    assert answer.json()["processed"] == 2
    assert _status(web, "ana@example.org") == MembershipStatus.UNSUBSCRIBED


def test_process_pending_events_is_bounded_and_resumable(web: Web) -> None:
    ingest_events(web.sessions, [event("open", "a@example.org", n=i) for i in range(5)])
    assert process_pending_events(web.sessions, chunk=2, max_events=3).processed == 3
    assert process_pending_events(web.sessions).processed == 2
    assert process_pending_events(web.sessions).processed == 0


# ------------------------------------------------------------------ results


def test_issue_results_count_each_outcome_on_its_own(web: Web) -> None:
    people = [(subscribed(web, f"p{i}@example.org"), f"p{i}@example.org") for i in range(5)]
    issue = make_issue(web.sessions, web.list_id, recipients=people)
    events = [event("delivered", email, n=i, issue_id=issue) for i, (_, email) in enumerate(people)]
    events += [
        event("open", "p0@example.org", n=10, issue_id=issue),
        event("open", "p0@example.org", n=11, issue_id=issue),
        event("click", "p1@example.org", n=12, issue_id=issue),
        event("spamreport", "p2@example.org", n=13, issue_id=issue),
        event("bounce", "p3@example.org", n=14, issue_id=issue, type="bounce"),
        event("dropped", "p4@example.org", n=15, issue_id=issue, reason="Bounced Address"),
    ]
    web.post_events(events)
    audience.unsubscribe(web.sessions, people[1][0], web.list_id, source="web:one-click")
    results = issue_results(web.sessions, issue)
    assert results.delivered == 5
    assert results.opened == 1
    assert results.clicked == 1
    assert results.bounced == 1
    assert results.dropped == 1
    assert results.complaints == 1
    assert results.complaint_rate == pytest.approx(0.2)
    assert results.complaint_level == "over"
    # Only p1 chose to leave; the complaint, bounce and drop end memberships too, but
    # they are counted under their own names, never as unsubscribes.
    assert results.unsubscribed == 1
    assert results.pending_events == 0
    assert results.as_dict()["complaint_warning"] is True


def test_issue_results_without_complaints_are_under_the_line(web: Web) -> None:
    ana = subscribed(web, "ana@example.org")
    issue = make_issue(web.sessions, web.list_id, recipients=[(ana, "ana@example.org")])
    web.post_events([event("delivered", "ana@example.org", n=1, issue_id=issue)])
    results = issue_results(web.sessions, issue)
    assert results.complaint_rate == 0.0
    assert results.complaint_level == "under"
    assert "under Gmail's 0.3% line" in results.complaint_sentence


def test_issue_results_for_a_missing_issue_is_not_found(web: Web) -> None:
    from newsletter.errors import NotFoundError

    with pytest.raises(NotFoundError, match="issue 424242"):
        issue_results(web.sessions, 424242)


def test_signature_helper_matches_the_sendgrid_scheme() -> None:
    # Guards the test helper itself: the library must accept what it signs.
    from sendgrid.helpers.eventwebhook import EventWebhook

    private, public = new_keypair()
    body = b'[{"event":"open"}]'
    assert EventWebhook(public).verify_signature(body.decode(), sign(private, body, "17"), "17")
