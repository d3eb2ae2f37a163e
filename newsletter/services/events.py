"""SendGrid event webhook use cases: parse, store, process; and what marketing sees of an issue.

Store-then-process: ``ingest_events`` commits the raw events (deduplicated by
``sg_event_id`` and by (``sg_message_id``, event, timestamp)) before any effect is
applied; ``process_pending_events`` then applies effects to whatever is still
unprocessed, including events a crash left behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import NotFoundError, WebhookError
from newsletter.logs import log_event
from newsletter.render.model import RenderedIssue
from newsletter.services.batch_settle import settle_from_events
from newsletter.storage.db import transaction
from newsletter.storage.models import SuppressionReason
from newsletter.storage.models.events import LINK_URL_LIMIT
from newsletter.storage.repositories import events as repo
from newsletter.storage.repositories import suppressions
from newsletter.storage.repositories.events import OutcomeDelta, PendingEvent

log = logging.getLogger(__name__)

MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31, the last second a datetime can hold
MAX_ISSUE_ID = 2**31 - 1  # an INTEGER column on both databases
# SendGrid's events are flat objects with a few short lists; anything deeper is not one,
# and very deep JSON would exhaust the stack when the payload is stored.
MAX_NESTING = 16
ERROR_LIMIT = 1000
_ISSUE_ID = re.compile(r"[0-9]{1,10}")
FIELD_LIMITS = {"event": 40, "sg_event_id": 100, "sg_message_id": 200, "email": 320}

# Delivery states, furthest last: an out-of-order "deferred" never hides a "delivered".
STATUS_RANK = {
    "accepted": 0,
    "deferred": 1,
    "delivered": 2,
    "blocked": 3,
    "bounced": 4,
    "dropped": 4,
}
_STATUS_OF_EVENT = {"deferred": "deferred", "delivered": "delivered", "dropped": "dropped"}
_OUTCOME_EVENTS = frozenset(
    {"delivered", "deferred", "bounce", "dropped", "open", "click"}
    | {"spamreport", "unsubscribe", "group_unsubscribe"}
)
# SendGrid's "dropped" reasons that mean the address itself must not be mailed again.
_DROPPED_REASONS = {
    "invalid": SuppressionReason.INVALID,
    "invalid address": SuppressionReason.INVALID,
    "bounced address": SuppressionReason.BOUNCE,
    "spam reporting address": SuppressionReason.SPAMREPORT,
    "unsubscribed address": SuppressionReason.UNSUBSCRIBE,
}


@dataclass(frozen=True)
class IngestResult:
    received: int
    stored: int

    @property
    def duplicates(self) -> int:
        return self.received - self.stored


@dataclass
class ProcessResult:
    processed: int = 0
    matched: int = 0
    suppressed: int = 0
    unsubscribed: int = 0
    failed: int = 0  # set aside with their error, no longer pending

    def add(self, other: ProcessResult) -> None:
        self.processed += other.processed
        self.matched += other.matched
        self.suppressed += other.suppressed
        self.unsubscribed += other.unsubscribed
        self.failed += other.failed


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """The webhook body as a list of event objects; ``WebhookError`` says what is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise WebhookError(f"the body must be a JSON array of events, got {type(data).__name__}")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise WebhookError(f"event {index} is not an object: {type(item).__name__}")
        if nesting_depth(item) > MAX_NESTING:
            raise WebhookError(f"event {index} is nested more than {MAX_NESTING} levels deep")
    return data


def nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value``; iterative, so no depth breaks it."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                return depth  # deep enough to refuse: no need to walk the rest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_issue_id(raw: Any) -> int | None:
    """The ``issue_id`` custom arg as a possible issue id, or None.

    Only ASCII digits count (``str.isdigit`` also accepts ``"²"``, which ``int`` refuses),
    and only values a database INTEGER can hold.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _ISSUE_ID.fullmatch(raw):
        value = int(raw)
    else:
        return None
    return value if 1 <= value <= MAX_ISSUE_ID else None


def event_row(index: int, item: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The columns stored for one raw event; ``WebhookError`` names the bad field."""
    name = item.get("event")
    if not isinstance(name, str) or not name:
        raise WebhookError(f"event {index}: 'event' must be a non-empty string")
    stamp = item.get("timestamp")
    if isinstance(stamp, float) and stamp.is_integer():
        stamp = int(stamp)
    if isinstance(stamp, bool) or not isinstance(stamp, int) or not 0 <= stamp <= MAX_TIMESTAMP:
        raise WebhookError(f"event {index}: 'timestamp' must be Unix seconds, got {stamp!r}")
    row: dict[str, Any] = {"event": name, "timestamp": stamp}
    for key in ("sg_event_id", "sg_message_id", "email"):
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise WebhookError(f"event {index}: {key!r} must be a string, got {value!r}")
        row[key] = value
    for key, limit in FIELD_LIMITS.items():
        if row[key] is not None and len(row[key]) > limit:
            raise WebhookError(f"event {index}: {key!r} is longer than {limit} characters")
        if row[key] is not None and "\x00" in row[key]:
            # PostgreSQL text cannot hold NUL; no genuine SendGrid value contains one.
            raise WebhookError(f"event {index}: {key!r} contains a NUL character")
    row.update(payload=dict(item), received_at=now, processed=False, processed_at=None)
    return row


def ingest_events(
    sessions: sessionmaker[Session], events: Sequence[Mapping[str, Any]]
) -> IngestResult:
    """Validate every event, then store the new ones in one transaction."""
    now = dt.datetime.now(dt.UTC)
    rows = [event_row(i, item, now) for i, item in enumerate(events)]
    with transaction(sessions) as session:
        stored = repo.store_events(session, rows)
    return IngestResult(received=len(rows), stored=stored)


def process_pending_events(
    sessions: sessionmaker[Session], *, chunk: int = 2000, max_events: int | None = None
) -> ProcessResult:
    """Apply the effects of every unprocessed event, ``chunk`` events per transaction.

    When a chunk fails, its events are retried one per transaction, and one that still
    fails is set aside with its error (``newsletter status`` lists it): a bad event must
    never hold back the events after it.
    """
    total = ProcessResult()
    while max_events is None or total.processed + total.failed < max_events:
        done = total.processed + total.failed
        limit = chunk if max_events is None else min(chunk, max_events - done)
        try:
            with transaction(sessions) as session:
                pending = repo.claim_pending(session, limit)
                if not pending:
                    break
                part = _apply(session, pending)
        except Exception as exc:
            log_event(
                log,
                "webhook.chunk_failed",
                f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT],
                level=logging.WARNING,
                retry="one event at a time",
            )
            part = _one_at_a_time(sessions, limit)
        total.add(part)
    if total.processed or total.failed:
        log_event(
            log,
            "webhook.processed",
            processed=total.processed,
            matched=total.matched,
            suppressed=total.suppressed,
            unsubscribed=total.unsubscribed,
            set_aside=total.failed,
        )
    return total


def _one_at_a_time(sessions: sessionmaker[Session], count: int) -> ProcessResult:
    total = ProcessResult()
    for _ in range(count):
        event_id: int | None = None
        try:
            with transaction(sessions) as session:
                pending = repo.claim_pending(session, 1)
                if not pending:
                    break
                event_id = pending[0].id
                total.add(_apply(session, pending))
            continue
        except Exception as exc:
            if event_id is None:
                raise  # not this event's fault: the database could not even be read
            error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
        # Its own transaction: if the database itself is down, this raises and the
        # event stays pending for the next try instead of being set aside.
        with transaction(sessions) as session:
            repo.mark_failed(session, event_id, error, dt.datetime.now(dt.UTC))
        log_event(log, "webhook.event_set_aside", error, level=logging.ERROR, event_id=event_id)
        total.failed += 1
    return total


@dataclass
class _Effects:
    suppress: dict[str, tuple[str, SuppressionReason, str]] = field(default_factory=dict)
    outcomes: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    counts: Counter[tuple[int, str]] = field(default_factory=Counter)
    hours: Counter[tuple[int, int, str]] = field(default_factory=Counter)
    links: Counter[tuple[int, str]] = field(default_factory=Counter)


def _apply(session: Session, pending: Sequence[PendingEvent]) -> ProcessResult:
    total = ProcessResult()
    issue_of = _resolve_issues(session, pending)
    effects = _Effects()
    for item in pending:
        _collect(item, issue_of.get(item.id), effects)
    now = dt.datetime.now(dt.UTC)
    if effects.suppress:
        entries = [(e, k, r, s) for k, (e, r, s) in sorted(effects.suppress.items())]
        # The driver's row count for a multi-row insert may be -1: it is only a figure.
        total.suppressed += max(suppressions.add_many(session, entries), 0)
        by_source: dict[str, list[str]] = {}
        for _email, key, _reason, source in entries:
            by_source.setdefault(source, []).append(key)
        for source, keys in by_source.items():
            total.unsubscribed += repo.unsubscribe_everywhere(session, keys, now, source=source)
    deltas = [OutcomeDelta(**values) for values in effects.outcomes.values()]
    repo.add_outcome_totals(session, repo.upsert_outcomes(session, deltas, now))
    repo.add_event_counts(session, dict(effects.counts))
    repo.add_event_hours(session, dict(effects.hours))
    repo.add_link_clicks(session, dict(effects.links))
    settle_from_events(session, pending, issue_of)  # unknown batches these events prove
    repo.mark_processed(session, [item.id for item in pending], now)
    total.processed += len(pending)
    total.matched += sum(1 for item in pending if item.id in issue_of)
    return total


def _resolve_issues(session: Session, pending: Sequence[PendingEvent]) -> dict[int, int]:
    """Event id -> issue id, from custom_args first, else from the message id prefix."""
    claimed: dict[int, int] = {}
    prefixes: dict[int, str] = {}
    for item in pending:
        issue_id = parse_issue_id(item.payload.get("issue_id"))
        if issue_id is not None:
            claimed[item.id] = issue_id
        elif item.sg_message_id:
            prefixes[item.id] = item.sg_message_id.split(".", 1)[0]
    by_message = repo.issues_for_message_ids(session, prefixes.values())
    for event_id, prefix in prefixes.items():
        if prefix in by_message:
            claimed[event_id] = by_message[prefix]
    # custom_args come from the sender's side of the wire; only real issues count.
    known = repo.existing_issue_ids(session, claimed.values())
    return {event_id: issue for event_id, issue in claimed.items() if issue in known}


def suppression_for(item: PendingEvent) -> SuppressionReason | None:
    """The suppression an event demands, if any."""
    name = item.event
    if name == "bounce":
        # "blocked" is a receiving server's temporary refusal, not a dead address.
        return None if item.payload.get("type") == "blocked" else SuppressionReason.BOUNCE
    if name == "dropped":
        reason = str(item.payload.get("reason", "")).strip().lower()
        return _DROPPED_REASONS.get(reason)
    if name == "spamreport":
        return SuppressionReason.SPAMREPORT
    if name in ("unsubscribe", "group_unsubscribe"):
        return SuppressionReason.UNSUBSCRIBE
    return None


def _collect(item: PendingEvent, issue_id: int | None, effects: _Effects) -> None:
    email = (item.email or "").strip()
    key = email.lower()
    reason = suppression_for(item)
    if reason is not None and key:
        effects.suppress.setdefault(key, (email, reason, f"sendgrid:{item.event}"))
    if issue_id is None:
        return
    effects.counts[(issue_id, item.event)] += 1
    effects.hours[(issue_id, item.timestamp // 3600, item.event)] += 1
    url = item.payload.get("url")
    if item.event == "click" and isinstance(url, str) and url:
        effects.links[(issue_id, url[:LINK_URL_LIMIT])] += 1
    if not key or item.event not in _OUTCOME_EVENTS:
        return
    when = dt.datetime.fromtimestamp(item.timestamp, dt.UTC)
    values = effects.outcomes.setdefault(
        (issue_id, key),
        {"issue_id": issue_id, "email": email, "email_key": key}
        | {"status": "accepted", "status_rank": 0},
    )
    status = _status_of(item)
    if status is not None and STATUS_RANK[status] >= values["status_rank"]:
        values["status"], values["status_rank"] = status, STATUS_RANK[status]
    column = {
        "delivered": "delivered_at",
        "open": "first_opened_at",
        "click": "first_clicked_at",
        "bounce": "bounced_at",
        "spamreport": "complained_at",
        "unsubscribe": "unsubscribed_at",
        "group_unsubscribe": "unsubscribed_at",
        "dropped": "dropped_at",
    }.get(item.event)
    if column is not None and (values.get(column) is None or when < values[column]):
        values[column] = when
    if item.event == "open":
        values["opens"] = values.get("opens", 0) + 1
    elif item.event == "click":
        values["clicks"] = values.get("clicks", 0) + 1


def _status_of(item: PendingEvent) -> str | None:
    if item.event == "bounce":
        return "blocked" if item.payload.get("type") == "blocked" else "bounced"
    return _STATUS_OF_EVENT.get(item.event)


def preview_issue(
    sessions: sessionmaker[Session], issue_id: int, *, sample: Mapping[str, str]
) -> RenderedIssue:
    """The stored issue with its substitution tags filled by ``sample`` values."""
    with transaction(sessions) as session:
        issue = repo.get_issue(session, issue_id)
        if issue is None:
            raise NotFoundError(f"issue {issue_id} does not exist")
        stored = RenderedIssue(
            subject=issue.subject, preheader=issue.preheader, html=issue.html, text=issue.text
        )
    return stored.filled(dict(sample))
