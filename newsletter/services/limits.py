"""Rate limits that hold across every web worker and node: the counts live in the database.

A limit is a set of sliding windows ("at most 1 in 6 hours and 3 in a week"). ``take``
records a hit only when every window allows it, so a refused attempt never uses up the
budget. Subjects (client addresses, e-mail addresses, account names) are stored only as
a SHA-256, and old hits are pruned as they fall out of the longest window.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from newsletter.storage.models import utcnow
from newsletter.storage.repositories import limits as repo


@dataclass(frozen=True)
class Window:
    """At most ``limit`` hits in any ``seconds``-long stretch."""

    seconds: float
    limit: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.seconds <= 0:
            raise ValueError("a rate-limit window needs limit >= 1 and seconds > 0")


def subject_key(scope: str, subject: str) -> str:
    return hashlib.sha256(f"{scope}\x00{subject}".encode()).hexdigest()


def take(
    session: Session,
    scope: str,
    subject: str,
    windows: Sequence[Window],
    *,
    now: dt.datetime | None = None,
) -> float | None:
    """Record one hit if every window allows it.

    Returns ``None`` when allowed, else the seconds until a hit would be. The caller's
    transaction commits the hit; keep it short, since on PostgreSQL it holds a lock on
    this subject until then.
    """
    if not windows:
        raise ValueError("a rate limit needs at least one window")
    now = now or utcnow()
    key = subject_key(scope, subject)
    longest = max(w.seconds for w in windows)
    repo.lock_subject(session, scope, key)
    # Insert first: on SQLite that takes the write lock, so two workers cannot both count
    # the same free slot.
    mine = repo.add_hit(session, scope, key, now)
    repo.forget_subject_before(session, scope, key, now - dt.timedelta(seconds=longest))
    earlier = repo.hits_since(
        session, scope, key, now - dt.timedelta(seconds=longest), exclude=mine
    )
    wait = 0.0
    for window in windows:
        start = now - dt.timedelta(seconds=window.seconds)
        inside = [at for at in earlier if at > start]
        if len(inside) >= window.limit:
            # The hit that must age out before one more fits in this window.
            frees = inside[len(inside) - window.limit]
            wait = max(wait, (frees - start).total_seconds())
    if wait > 0:
        repo.remove_hit(session, mine)
        return max(wait, 0.001)
    return None


def clear(session: Session, scope: str, subject: str) -> None:
    """Forget a subject's hits (e.g. a successful login ends the failed-login count)."""
    repo.clear(session, scope, subject_key(scope, subject))


def prune(session: Session, older_than: dt.timedelta, *, now: dt.datetime | None = None) -> int:
    """Delete hits older than any window in use looks back; returns how many went."""
    return repo.prune(session, (now or utcnow()) - older_than)
