"""A sender that keeps every accepted body in memory, with scripted faults for tests.

Faults are consumed in order: the next ``send`` (or the next send of a given batch key)
raises the scripted error. A fault marked ``accepted`` records the body first, which is
what a ``SendOutcomeUnknownError`` means in real life: the provider got it, we did not
hear back.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from newsletter.delivery.payload import body_recipients
from newsletter.delivery.senders.base import SendResult
from newsletter.delivery.senders.local_batches import LocalBatchApi, LocalBatches
from newsletter.errors import DeliveryError


@dataclass(frozen=True)
class SentRequest:
    """One body the memory sender accepted."""

    batch_key: str
    body: bytes
    message_id: str
    batch_id: str | None = None
    send_at: int | None = None
    """The message-level ``send_at`` (personalizations may carry their own)."""

    def decoded(self) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(self.body)
        return data

    def recipients(self) -> list[str]:
        return body_recipients(self.decoded())


@dataclass(frozen=True)
class MemoryFault:
    """A scripted failure; ``accepted`` records the body before raising."""

    error: DeliveryError
    accepted: bool = False


class MemorySender(LocalBatchApi):
    """Thread-safe in-memory sender."""

    name: str = "memory"

    def __init__(self, *, latency: float = 0.0, clock: Callable[[], float] = time.time) -> None:
        self.latency = latency
        self.batches = LocalBatches("memory", clock=clock)
        self._lock = threading.Lock()
        self._sent: list[SentRequest] = []
        self._faults: deque[MemoryFault] = deque()
        self._batch_faults: dict[str, deque[MemoryFault]] = {}
        self._ids = itertools.count(1)
        self.attempts = 0

    def fail_next(self, error: DeliveryError, *, accepted: bool = False, times: int = 1) -> None:
        """The next ``times`` sends (of any batch) raise ``error``."""
        with self._lock:
            self._faults.extend(MemoryFault(error, accepted) for _ in range(times))

    def fail_batch(
        self, batch_key: str, error: DeliveryError, *, accepted: bool = False, times: int = 1
    ) -> None:
        """The next ``times`` sends of ``batch_key`` raise ``error``."""
        with self._lock:
            queue = self._batch_faults.setdefault(batch_key, deque())
            queue.extend(MemoryFault(error, accepted) for _ in range(times))

    def send(self, body: bytes, *, batch_key: str) -> SendResult:
        if self.latency:
            time.sleep(self.latency)
        head = orjson.loads(body)
        batch_id, send_at = head.get("batch_id"), head.get("send_at")
        with self._lock:
            self.attempts += 1
            fault = self._next_fault(batch_key)
            if fault is None or fault.accepted:
                self.batches.note_send(batch_id, send_at)
                message_id = f"memory-{next(self._ids)}"
                sent = SentRequest(batch_key, bytes(body), message_id, batch_id, send_at)
                self._sent.append(sent)
        if fault is not None:
            raise fault.error
        return SendResult(status=202, message_id=message_id)

    def live_recipients(self) -> Counter[str]:
        """Recipients of accepted requests whose batch is not cancelled: who would get it."""
        counts: Counter[str] = Counter()
        for request in self.sent:
            if request.batch_id is None or self.batches.state(request.batch_id) != "cancel":
                counts.update(request.recipients())
        return counts

    def _next_fault(self, batch_key: str) -> MemoryFault | None:
        queue = self._batch_faults.get(batch_key)
        if queue:
            return queue.popleft()
        if self._faults:
            return self._faults.popleft()
        return None

    @property
    def sent(self) -> list[SentRequest]:
        """A snapshot of the accepted requests, in acceptance order."""
        with self._lock:
            return list(self._sent)

    def accepted_recipients(self) -> Counter[str]:
        """How many accepted requests addressed each email."""
        counts: Counter[str] = Counter()
        for request in self.sent:
            counts.update(request.recipients())
        return counts

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()
            self._faults.clear()
            self._batch_faults.clear()
            self.attempts = 0
