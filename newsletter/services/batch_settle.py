"""Settling unknown batches by the signed webhook's evidence (see docs/delivery.md).

When a staged batch's outcome is unknown and cancelling it is no longer possible (under
10 minutes to ``send_at``, or the batch API failing), SendGrid's events decide it:

* **webhook**: a ``processed`` or ``delivered`` event whose ``custom_args`` carry this
  issue, this batch number and the batch id of its current request means SendGrid took
  that request: the batch becomes ``accepted``. This applies to any unknown batch, staged
  or not, and runs while the events are processed, in their transaction.
* **grace**: a staged batch with no such event ``NEWSLETTER_UNKNOWN_GRACE_MINUTES`` after
  its ``send_at``, while later batches of the same issue do have events (so the webhook
  works and SendGrid is past this batch's time), was not received: it goes back to
  ``pending`` and the resume that found it sends it again under a new batch id. Without
  a configured webhook no event can arrive, so this rule never fires.

Each batch keeps the rule (``settle_rule``) and a note that ``issue show`` prints.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from newsletter.logs import log_event
from newsletter.settings import Settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import BatchStatus, IssueStatus, utcnow
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import settling as repo
from newsletter.storage.repositories.events import PendingEvent
from newsletter.storage.repositories.settling import BatchKey

log = logging.getLogger(__name__)

WEBHOOK_RULE = "webhook"
GRACE_RULE = "grace"
SETTLING_EVENTS = frozenset({"processed", "delivered"})
MAX_BATCH_NO = 2**31 - 1
BATCH_ID_LIMIT = 100  # send_batches.sg_batch_id


def number_ranges(numbers: Iterable[int]) -> str:
    """``[1, 2, 3, 5, 7, 8]`` -> ``1-3, 5, 7-8``."""
    parts: list[str] = []
    ordered = sorted(set(numbers))
    start = prev = None
    for n in [*ordered, None]:
        if n is not None and prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}–{prev}")
        start = prev = n
    return ", ".join(parts)


def _batch_key(issue_id: int, payload: Mapping[str, Any]) -> BatchKey | None:
    raw = payload.get("batch")
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    batch_no = int(raw)
    if not 1 <= batch_no <= MAX_BATCH_NO:
        return None
    sg_batch = payload.get("sg_batch")
    if not isinstance(sg_batch, str) or not sg_batch or len(sg_batch) > BATCH_ID_LIMIT:
        sg_batch = None
    return issue_id, batch_no, sg_batch


def settle_from_events(
    session: Session, pending: Sequence[PendingEvent], issue_of: Mapping[int, int]
) -> list[tuple[int, int]]:
    """Count the batches' processed/delivered events and accept unknown batches they prove.

    ``issue_of`` maps event ids to the (existing) issue they belong to. Returns the
    (issue, batch) pairs this settled.
    """
    counts: Counter[BatchKey] = Counter()
    for item in pending:
        issue_id = issue_of.get(item.id)
        if issue_id is None or item.event not in SETTLING_EVENTS:
            continue
        key = _batch_key(issue_id, item.payload)
        if key is not None:
            counts[key] += 1
    if not counts:
        return []
    repo.add_batch_events(session, counts)
    settled: list[tuple[int, int]] = []
    for found in repo.unknown_with_events(session, list(counts)):
        note = (
            f"accepted: processed/delivered webhook events seen for its recipients "
            f"({found.events_seen:,} event(s), {found.recipients:,} recipient(s))"
        )
        if repo.settle_unknown(
            session,
            found.issue_id,
            found.batch_no,
            to_status=BatchStatus.ACCEPTED,
            rule=WEBHOOK_RULE,
            note=note,
        ):
            settled.append((found.issue_id, found.batch_no))
            log_event(
                log,
                "settle.webhook",
                f"issue {found.issue_id} batch {found.batch_no}: {note}",
                issue=found.issue_id,
                batch=found.batch_no,
            )
    return settled


def settle_silent(
    cfg: Settings,
    engine: Engine,
    *,
    issue_id: int | None = None,
    now: dt.datetime | None = None,
) -> dict[int, list[int]]:
    """Make staged unknown batches that the webhook shows were not received resendable.

    Returns issue id -> the batches moved back to ``pending``; a sent issue with such a
    batch is ``sending`` again, so the resume that called this (``issue send``, the
    scheduler's resume job) sends them.
    """
    if cfg.sendgrid_webhook_public_key is None:
        return {}
    grace = dt.timedelta(minutes=cfg.unknown_grace_minutes)
    moved: dict[int, list[int]] = {}
    with transaction(session_factory(engine)) as session:
        found = repo.silent_unknown(
            session, sent_before=(now or utcnow()) - grace, issue_id=issue_id
        )
        for batch in found:
            later = repo.batches_with_events(session, batch.issue_id, after=batch.batch_no)
            if not later:
                continue  # no sign yet that SendGrid is past this batch: keep waiting
            note = (
                f"resendable: no event {cfg.unknown_grace_minutes} min after its send_at "
                f"while batch(es) {number_ranges(later)} have events; sent again"
            )
            if repo.settle_unknown(
                session,
                batch.issue_id,
                batch.batch_no,
                to_status=BatchStatus.PENDING,
                rule=GRACE_RULE,
                note=note,
            ):
                moved.setdefault(batch.issue_id, []).append(batch.batch_no)
        for changed in moved:
            issue_repo.transition(
                session, changed, expected=IssueStatus.SENT, to=IssueStatus.SENDING
            )
    for changed, numbers in moved.items():
        log_event(
            log,
            "settle.grace",
            f"issue {changed}: batch(es) {number_ranges(numbers)} not received; resending",
            issue=changed,
        )
    return moved
