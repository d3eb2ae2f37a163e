"""The fake SendGrid's scheduled sends: batch ids, cancel/pause, and a virtual clock.

It models what ``tsg_scheduled_sends_v3.yaml`` and the batch routes of ``tsg_mail_v3.yaml``
promise, plus the rules their prose states:

* a ``batch_id`` is valid only if ``POST /v3/mail/batch`` issued it;
* ``send_at`` may be at most 72 hours ahead;
* a cancel or pause set less than 10 minutes before a message's ``send_at`` is "not
  guaranteed": the fake takes the worst case and ignores it for that message;
* at most 10 batches may be paused or cancelled at once; a cancelled batch stops counting
  once every message in it has reached its ``send_at`` (and was discarded), a paused one
  when the pause is removed or its messages expired 72 hours after ``send_at``.

Accepted messages wait until the virtual clock passes their ``send_at``; then each is
*delivered*, *cancelled* (discarded) or, while paused, kept until resumed or expired.
The clock is the real clock plus an offset tests move with ``advance``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

MAX_SEND_AT_AHEAD = 72 * 3600
"""SendGrid refuses a ``send_at`` more than 72 hours in the future."""
CANCEL_DEADLINE = 600
"""A cancel or pause is honoured only when set at least this long before ``send_at``."""
MAX_ACTIVE_STATUSES = 10
"""At most this many batches may be paused or cancelled at the same time."""
PAUSE_EXPIRY = 72 * 3600
"""Paused messages older than this past their ``send_at`` are discarded as expired."""

STATUSES = ("pause", "cancel")


class ScheduleError(Exception):
    """A scheduled-send request the fake refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, field: str | None = "null") -> None:
        self.status = status
        self.message = message
        self.field = field
        super().__init__(message)


class VirtualClock:
    """The real clock plus an offset that only grows; thread-safe."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the fake's clock only moves forward")
        with self._lock:
            self._offset += seconds
            return time.time() + self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


@dataclass
class _Status:
    status: str
    set_at: float


@dataclass
class _Message:
    """The recipients of one accepted request that share one ``send_at``."""

    batch_id: str | None
    send_at: float
    recipients: tuple[str, ...]
    state: str = "scheduled"  # scheduled | delivered | cancelled | expired


@dataclass
class ScheduleBook:
    """Every batch id, status and scheduled message of one fake; all methods lock."""

    clock: VirtualClock = field(default_factory=VirtualClock)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _batches: set[str] = field(default_factory=set)
    _statuses: dict[str, _Status] = field(default_factory=dict)
    _waiting: list[_Message] = field(default_factory=list)
    _resolved: set[str] = field(default_factory=set)
    _outcomes: dict[str, Counter[str]] = field(
        default_factory=lambda: {k: Counter() for k in ("delivered", "cancelled", "expired")}
    )

    # -- batch ids ------------------------------------------------------------------------

    def create_batch(self) -> str:
        batch_id = secrets.token_urlsafe(24).replace("-", "a").replace("_", "b")
        with self._lock:
            self._batches.add(batch_id)
        return batch_id

    def is_batch(self, batch_id: str) -> bool:
        with self._lock:
            return batch_id in self._batches

    # -- mail send ----------------------------------------------------------------------

    def check_send_at(self, send_at: object, field_name: str) -> str | None:
        """Why ``send_at`` is unacceptable, or None."""
        if type(send_at) is not int or send_at < 0:
            return f"{field_name} must be a unix timestamp (a non-negative integer)"
        if send_at > self.clock.now() + MAX_SEND_AT_AHEAD:
            return "A send cannot be scheduled more than 72 hours in advance."
        return None

    def schedule(self, batch_id: str | None, groups: dict[float, list[str]]) -> None:
        """Queue accepted recipients, grouped by their ``send_at``."""
        with self._lock:
            for send_at, emails in groups.items():
                self._waiting.append(_Message(batch_id, send_at, tuple(emails)))
        self.settle()

    def settle(self) -> None:
        """Deliver, discard or expire every waiting message whose ``send_at`` has come."""
        now = self.clock.now()
        with self._lock:
            still: list[_Message] = []
            for message in self._waiting:
                if message.send_at > now:
                    still.append(message)
                    continue
                state = self._fate(message, now)
                if state == "scheduled":
                    still.append(message)
                    continue
                message.state = state
                self._outcomes[state].update(message.recipients)
                if message.batch_id is not None:
                    self._resolved.add(message.batch_id)
            self._waiting = still

    def _fate(self, message: _Message, now: float) -> str:
        entry = self._statuses.get(message.batch_id or "")
        if entry is None or entry.set_at > message.send_at - CANCEL_DEADLINE:
            return "delivered"
        if entry.status == "cancel":
            return "cancelled"
        return "expired" if now > message.send_at + PAUSE_EXPIRY else "scheduled"

    # -- scheduled sends -----------------------------------------------------------------

    def _require_batch(self, batch_id: object) -> str:
        if type(batch_id) is not str or not batch_id:
            raise ScheduleError(400, "batch_id is required", "batch_id")
        if batch_id not in self._batches:
            raise ScheduleError(400, "invalid batch id", "batch_id")
        return batch_id

    def _active(self, now: float) -> int:
        return sum(1 for b, s in self._statuses.items() if self._counts(b, s, now))

    def _counts(self, batch_id: str, entry: _Status, now: float) -> bool:
        """Whether this status still takes one of the 10 places."""
        if entry.status == "pause" or any(m.batch_id == batch_id for m in self._waiting):
            return True
        # A cancel is spent once its messages were discarded; one on a batch that never
        # held a message keeps its place as long as a message could still join it.
        return batch_id not in self._resolved and now < entry.set_at + MAX_SEND_AT_AHEAD

    def set_status(self, batch_id: object, status: object) -> dict[str, str]:
        """``POST /v3/user/scheduled_sends``."""
        self.settle()
        with self._lock:
            bid = self._require_batch(batch_id)
            if status not in STATUSES:
                raise ScheduleError(400, "status must be one of pause, cancel", "status")
            if bid in self._statuses:
                raise ScheduleError(
                    400, "a pause or cancel status already exists for this batch id", "batch_id"
                )
            now = self.clock.now()
            if self._active(now) >= MAX_ACTIVE_STATUSES:
                raise ScheduleError(
                    400,
                    f"you can have at most {MAX_ACTIVE_STATUSES} batches paused or cancelled",
                    "batch_id",
                )
            self._statuses[bid] = _Status(str(status), now)
            return {"batch_id": bid, "status": str(status)}

    def update_status(self, batch_id: str, status: object) -> None:
        """``PATCH /v3/user/scheduled_sends/{batch_id}``."""
        self.settle()
        with self._lock:
            bid = self._require_batch(batch_id)
            if status not in STATUSES:
                raise ScheduleError(400, "status must be one of pause, cancel", "status")
            entry = self._statuses.get(bid)
            if entry is None:
                raise ScheduleError(404, "batch id not found")
            self._statuses[bid] = _Status(str(status), self.clock.now())

    def delete_status(self, batch_id: str) -> None:
        """``DELETE /v3/user/scheduled_sends/{batch_id}``: a paused batch sends again."""
        with self._lock:
            bid = self._require_batch(batch_id)
            if self._statuses.pop(bid, None) is None:
                raise ScheduleError(404, "batch id not found")
        self.settle()

    def get_status(self, batch_id: str) -> list[dict[str, str]]:
        """``GET /v3/user/scheduled_sends/{batch_id}``: empty when none is set."""
        self.settle()
        with self._lock:
            bid = self._require_batch(batch_id)
            entry = self._statuses.get(bid)
            return [] if entry is None else [{"batch_id": bid, "status": entry.status}]

    def list_statuses(self) -> list[dict[str, str]]:
        """``GET /v3/user/scheduled_sends``: every batch with a status still in force."""
        self.settle()
        with self._lock:
            now = self.clock.now()
            return [
                {"batch_id": b, "status": s.status}
                for b, s in self._statuses.items()
                if self._counts(b, s, now)
            ]

    # -- what happened -------------------------------------------------------------------

    def outcome(self, state: str) -> Counter[str]:
        """Recipients by how often they were ``delivered``, ``cancelled`` or ``expired``."""
        self.settle()
        with self._lock:
            return Counter(self._outcomes[state])

    def scheduled(self) -> Counter[str]:
        """Recipients of accepted messages still waiting for their ``send_at``."""
        self.settle()
        with self._lock:
            counts: Counter[str] = Counter()
            for message in self._waiting:
                counts.update(message.recipients)
            return counts

    def reset(self) -> None:
        with self._lock:
            self._batches.clear()
            self._statuses.clear()
            self._waiting.clear()
            self._resolved.clear()
            for counter in self._outcomes.values():
                counter.clear()
        self.clock.reset()
