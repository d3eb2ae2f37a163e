"""Batch ids and scheduled-send states for the senders that do not talk to SendGrid.

The outbox and memory senders keep SendGrid's rules so that a default run and the tests
behave like production: a batch id must have been made here, and at most
``MAX_PAUSED_OR_CANCELLED`` batches may be paused or cancelled at once. A cancel stops
counting once the batch's latest ``send_at`` has passed (its messages were discarded); a
pause counts until it is removed. With a ``path`` the state is kept in one JSON file, so
``newsletter issue cancel`` in a later process sees what the send made.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from newsletter.delivery.senders.base import MAX_PAUSED_OR_CANCELLED, BatchState
from newsletter.errors import DeliveryError, SendRejectedError


class LocalBatches:
    """Thread-safe; every method reads and, when it changes something, writes the file."""

    def __init__(
        self, prefix: str, *, path: Path | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.prefix = prefix
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._memory: dict[str, Any] = {"batches": {}, "states": {}}

    # -- storage --------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        if self.path is None:
            return self._memory
        try:
            data: dict[str, Any] = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {"batches": {}, "states": {}}
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"{self.prefix}: cannot read {self.path}: {exc}") from exc
        return data

    def _save(self, data: dict[str, Any]) -> None:
        if self.path is None:
            self._memory = data
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".batches.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise DeliveryError(f"{self.prefix}: cannot write {self.path}: {exc}") from exc

    # -- the batch API --------------------------------------------------------------------

    def create(self) -> str:
        batch_id = f"{self.prefix}-{uuid.uuid4().hex}"
        with self._lock:
            data = self._load()
            data["batches"][batch_id] = None
            self._save(data)
        return batch_id

    def note_send(self, batch_id: str | None, send_at: int | None) -> None:
        """Remember the latest ``send_at`` a sent body gave ``batch_id``; refuse unknown ids."""
        if batch_id is None:
            return
        with self._lock:
            data = self._load()
            if batch_id not in data["batches"]:
                raise SendRejectedError(f"{self.prefix}: invalid batch id {batch_id}", 400)
            latest = data["batches"][batch_id]
            if send_at is not None and (latest is None or send_at > latest):
                data["batches"][batch_id] = send_at
                self._save(data)

    def set_state(self, batch_id: str, state: BatchState) -> None:
        with self._lock:
            data = self._load()
            self._require(data, batch_id)
            states: dict[str, str] = data["states"]
            if batch_id not in states and self._active(data) >= MAX_PAUSED_OR_CANCELLED:
                raise SendRejectedError(
                    f"{self.prefix}: at most {MAX_PAUSED_OR_CANCELLED} batches may be paused "
                    "or cancelled at once",
                    400,
                    "batch_id",
                )
            states[batch_id] = state
            self._save(data)

    def clear_state(self, batch_id: str) -> None:
        with self._lock:
            data = self._load()
            self._require(data, batch_id)
            if data["states"].pop(batch_id, None) is not None:
                self._save(data)

    def state(self, batch_id: str) -> BatchState | None:
        with self._lock:
            data = self._load()
            self._require(data, batch_id)
            value: BatchState | None = data["states"].get(batch_id)
            return value

    def states(self) -> dict[str, BatchState]:
        with self._lock:
            data = self._load()
            return {b: s for b, s in data["states"].items() if self._counts(data, b, s)}

    def _require(self, data: dict[str, Any], batch_id: str) -> None:
        if batch_id not in data["batches"]:
            raise SendRejectedError(f"{self.prefix}: invalid batch id {batch_id}", 400, "batch_id")

    def _active(self, data: dict[str, Any]) -> int:
        return sum(1 for b, s in data["states"].items() if self._counts(data, b, s))

    def _counts(self, data: dict[str, Any], batch_id: str, state: str) -> bool:
        send_at = data["batches"].get(batch_id)
        return state == "pause" or send_at is None or send_at > self.clock()


class LocalBatchApi:
    """The batch half of the ``Sender`` protocol for senders that keep ``self.batches``."""

    batches: LocalBatches

    def create_batch(self) -> str:
        return self.batches.create()

    def set_batch_state(self, batch_id: str, state: BatchState) -> None:
        self.batches.set_state(batch_id, state)

    def clear_batch_state(self, batch_id: str) -> None:
        self.batches.clear_state(batch_id)

    def batch_state(self, batch_id: str) -> BatchState | None:
        return self.batches.state(batch_id)

    def batch_states(self) -> dict[str, BatchState]:
        return self.batches.states()
