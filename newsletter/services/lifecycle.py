"""Data over the years: event retention, erasing a person, and the checks erasure needs.

* Raw webhook events are an archive once processed: the counts the results pages show
  are maintained as each event is processed. ``prune_events`` deletes processed events
  older than ``NEWSLETTER_EVENT_RETENTION_DAYS`` in bounded chunks, one short
  transaction each, so the scheduler job never holds a long lock.
* ``forget`` removes a person's address, names, attributes, consent records, delivery
  details and events, and leaves a keyed hash of the address in the suppression list
  (``newsletter.audience.erasure``), so a later import or sign-up is refused as suppressed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.addresses import normalize_email
from newsletter.audience.erasure import ERASED_EMAIL, ErasureKeys
from newsletter.services import audit
from newsletter.services.limits import subject_key
from newsletter.settings import load_settings
from newsletter.storage.db import transaction
from newsletter.storage.models import utcnow
from newsletter.storage.repositories import lifecycle as repo
from newsletter.storage.repositories import suppressions

Sessions = sessionmaker[Session]
PRUNE_CHUNK = 5000
PRUNE_MAX_CHUNKS = 200
"""One run deletes at most 1M events; a backlog drains over the following runs."""


@dataclass(frozen=True)
class PruneResult:
    cutoff: dt.datetime
    deleted: int
    chunks: int
    more: bool  # the run stopped at its bound (or was asked to stop) with work left

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cutoff": self.cutoff.isoformat()}


def prune_events(
    sessions: Sessions,
    *,
    retention_days: int,
    now: dt.datetime | None = None,
    chunk: int = PRUNE_CHUNK,
    max_chunks: int = PRUNE_MAX_CHUNKS,
    should_stop: Callable[[], bool] = lambda: False,
) -> PruneResult:
    """Delete processed raw events received more than ``retention_days`` ago."""
    cutoff = (now or utcnow()) - dt.timedelta(days=retention_days)
    deleted = chunks = 0
    more = False
    while True:
        if chunks >= max_chunks or should_stop():
            more = True
            break
        with transaction(sessions) as session:
            gone = repo.delete_processed_events_before(session, cutoff, chunk)
        chunks += 1
        deleted += gone
        if gone < chunk:
            break
    return PruneResult(cutoff, deleted, chunks, more)


@dataclass(frozen=True)
class ForgetResult:
    email: str
    subscriber: bool  # a subscriber record existed and was removed
    memberships: int
    deliveries: int
    outcomes: int
    events: int
    suppressions: int
    limit_hits: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def forget(
    sessions: Sessions, email: str, keys: ErasureKeys | None = None, *, actor: str = "cli"
) -> ForgetResult:
    """Erase a person; idempotent (forgetting twice changes nothing the second time).

    The audit log records that an erasure happened and who ran it, never whom it erased.
    """
    address = normalize_email(email)
    keys = keys or ErasureKeys.from_settings(load_settings())
    with transaction(sessions) as session:
        forms = {address.email, address.key}
        subjects = [subject_key(scope, s) for scope in repo.limit_scopes(session) for s in forms]
        erased = repo.erase(
            session,
            email_key=address.key,
            stored_key=keys.current(address.key),
            stored_email=ERASED_EMAIL,
            limit_subjects=subjects,
        )
        audit.record(session, actor, "subscriber.forget", "subscriber:erased")
    return ForgetResult(
        address.email,
        erased.subscriber,
        erased.memberships,
        erased.deliveries,
        erased.outcomes,
        erased.events,
        erased.suppressions,
        erased.limit_hits,
    )


def erasure_keys_if_needed(session: Session, keys: ErasureKeys | None) -> ErasureKeys | None:
    """The keys to check erased addresses with, or None when nobody was ever erased.

    The common case costs one index probe and no hashing at all.
    """
    if not repo.any_erasures(session):
        return None
    return keys or ErasureKeys.from_settings(load_settings())


def erased_among(session: Session, keys: ErasureKeys, email_keys: Sequence[str]) -> set[str]:
    """Which of these addresses were erased (and so are suppressed)."""
    forms = {form: key for key in email_keys for form in keys.candidates(key)}
    return {forms[form] for form in suppressions.suppressed_keys(session, list(forms))}


def is_erased(session: Session, email_key: str, keys: ErasureKeys | None = None) -> bool:
    checked = erasure_keys_if_needed(session, keys)
    return checked is not None and bool(erased_among(session, checked, [email_key]))
