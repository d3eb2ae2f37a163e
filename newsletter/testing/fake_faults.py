"""Faults the fake SendGrid can inject: a FIFO queue, a storm, and seeded random faults.

A queued fault applies to the next mail-send request that passed authentication. A
storm answers every request with one fault until a clock passes its end (``storm``:
"429s for 25 seconds", on the caller's clock, so a test with a fast clock need not
wait). Random faults apply when neither does, chosen with their own
``random.Random(seed)`` so a run can be replayed.

Kinds (``seconds`` means something different for each):
    429     answer 429 with ``X-RateLimit-Reset`` ``seconds`` ahead      (not accepted)
    500/502/503  answer that status with SendGrid's error body           (not accepted)
    reset   read the whole request, then reset the connection, no answer (not accepted)
    hang    accept and record the request, then hold the connection open
            ``seconds`` without answering, then close it                  (accepted)
    slow    wait ``seconds``, then handle the request normally
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

FaultKind = Literal["429", "500", "502", "503", "reset", "hang", "slow"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

DEFAULT_SECONDS: dict[FaultKind, float] = {
    "429": 1.0,
    "500": 0.0,
    "502": 0.0,
    "503": 0.0,
    "reset": 0.0,
    "hang": 5.0,
    "slow": 0.2,
}


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}")

    @property
    def duration(self) -> float:
        return DEFAULT_SECONDS[self.kind] if self.seconds is None else self.seconds

    @classmethod
    def parse(cls, data: Mapping[str, Any] | str) -> Fault:
        """From ``"502"`` or ``{"kind": "429", "seconds": 2}`` (the control endpoint's JSON)."""
        if isinstance(data, str):
            return cls(data)  # type: ignore[arg-type]
        seconds = data.get("seconds")
        return cls(str(data["kind"]), None if seconds is None else float(seconds))  # type: ignore[arg-type]


class FaultPlan:
    """Thread-safe source of the next fault, if any."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()
        self._random: list[tuple[Fault, float]] = []
        self._rng = random.Random(0)
        self._storm: tuple[Fault, float, Callable[[], float]] | None = None

    def storm(
        self,
        fault: Fault | FaultKind,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Answer every request with ``fault`` for ``seconds`` of ``clock`` from now."""
        chosen = fault if isinstance(fault, Fault) else Fault(fault)
        with self._lock:
            self._storm = (chosen, clock() + seconds, clock)

    def enqueue(self, faults: Iterable[Fault | FaultKind]) -> None:
        with self._lock:
            self._queue.extend(f if isinstance(f, Fault) else Fault(f) for f in faults)

    def set_random(
        self,
        probabilities: Mapping[FaultKind, float],
        *,
        seed: int | None = None,
        seconds: Mapping[FaultKind, float] | None = None,
    ) -> None:
        """Each request draws once; ``kind`` happens with its probability (sum <= 1)."""
        total = sum(probabilities.values())
        if total > 1.0 or any(p < 0 for p in probabilities.values()):
            raise ValueError(f"fault probabilities must be >= 0 and sum to <= 1, got {total}")
        durations = seconds or {}
        with self._lock:
            self._random = [(Fault(k, durations.get(k)), p) for k, p in probabilities.items()]
            self._rng = random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._random = []
            self._storm = None

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def next(self) -> Fault | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if self._storm is not None:
                fault, until, clock = self._storm
                if clock() < until:
                    return fault
                self._storm = None
            if not self._random:
                return None
            draw = self._rng.random()
            for fault, probability in self._random:
                if draw < probability:
                    return fault
                draw -= probability
            return None
