"""Settling batches whose outcome is unknown, by cancelling them at SendGrid and resending.

A staged request carries its own SendGrid ``batch_id`` and a ``send_at`` in the future,
so when we do not know whether SendGrid got it, we can make sure it will *not* be
delivered, and then send it again under a new id:

1. write ``cancelling`` to the ledger (commit);
2. ``POST /v3/user/scheduled_sends {batch_id, status: "cancel"}`` (retried);
3. confirm with ``GET /v3/user/scheduled_sends/{batch_id}``;
4. write ``pending`` (commit): the runner claims it with a fresh batch id.

A crash anywhere in between leaves ``cancelling`` in the ledger, and the next run does
the same steps again (asking for a cancel that is already in force changes nothing).

Settling is impossible when ``send_at`` is less than ``CANCEL_DEADLINE_SECONDS`` away
(SendGrid no longer guarantees the cancel), when the batch API keeps failing, or when
SendGrid already holds ``MAX_PAUSED_OR_CANCELLED`` batches: the first two leave the batch
``unknown`` with the reason (``fallback``: the signed webhook settles it, see
services/batch_settle, else a person: docs/operations.md),
the last queues it (``queued``) until a place frees up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from newsletter.delivery.ledger import Ledger
from newsletter.delivery.retry import RetryPolicy, call_with_retry
from newsletter.delivery.senders.base import (
    CANCEL_DEADLINE_SECONDS,
    MAX_PAUSED_OR_CANCELLED,
    BatchState,
    Sender,
)
from newsletter.errors import (
    DeliveryError,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendRetryableError,
)
from newsletter.storage.models import BatchStatus, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

CANCELLING = "cancelling"
QUEUED = "queued"
FALLBACK = "fallback"


@dataclass
class SettleReport:
    """What one settling pass did, batch numbers by result."""

    resent: list[int] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)
    fallback: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.resent)


class Settler:
    """Settles the unknown batches of one ledger through one sender."""

    def __init__(
        self,
        ledger: Ledger,
        sender: Sender,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        sleep: Callable[[float], object] = time.sleep,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.ledger = ledger
        self.sender = sender
        self.policy = policy or RetryPolicy(max_attempts=4)
        self.clock = clock
        self.sleep = sleep
        self.should_stop = should_stop

    def _call(self, attempt: Callable[[], T]) -> T:
        return call_with_retry(
            attempt, policy=self.policy, sleep=self.sleep, should_stop=self.should_stop
        )

    def settle(self) -> SettleReport:
        report = SettleReport()
        unknown = self.ledger.unknown_batches()
        if not unknown:
            return report
        try:
            held = len(self._call(self.sender.batch_states))
        except DeliveryError as exc:
            for info in unknown:
                self._fallback(info.batch_no, f"the batch API failed: {exc}", report)
            return report
        for info in unknown:
            if self.should_stop():
                break
            batch_no = info.batch_no
            if info.sg_batch_id is None:
                # No id was stored, so no request with one went out: it was never sent.
                self.ledger.settle_step(
                    batch_no,
                    expected=BatchStatus.UNKNOWN,
                    step=None,
                    note="settled: no SendGrid batch id was stored, so nothing was sent",
                    to_status=BatchStatus.PENDING,
                )
                report.resent.append(batch_no)
                continue
            left = (info.send_at - self.clock()).total_seconds() if info.send_at else 0.0
            if left < CANCEL_DEADLINE_SECONDS:
                minutes = max(left, 0) / 60
                self._fallback(
                    batch_no,
                    f"{minutes:.0f} min to send_at, under SendGrid's 10-minute limit for "
                    "cancelling; the webhook's events settle it (docs/delivery.md)",
                    report,
                )
                continue
            if info.settle_step != CANCELLING and held >= MAX_PAUSED_OR_CANCELLED:
                self.ledger.settle_step(
                    batch_no,
                    expected=BatchStatus.UNKNOWN,
                    step=QUEUED,
                    note=f"queued: SendGrid already holds {MAX_PAUSED_OR_CANCELLED} paused or "
                    "cancelled batches; retried when a place frees up",
                )
                report.queued.append(batch_no)
                continue
            if self._cancel_and_requeue(batch_no, info.sg_batch_id, report):
                held += 1
        return report

    def _cancel_and_requeue(self, batch_no: int, batch_id: str, report: SettleReport) -> bool:
        self.ledger.settle_step(
            batch_no,
            expected=BatchStatus.UNKNOWN,
            step=CANCELLING,
            note=f"cancelling SendGrid batch {batch_id}",
        )
        state: BatchState | None = None
        try:
            # A lost answer is fine: the GET below says whether the cancel took.
            with contextlib.suppress(SendOutcomeUnknownError):
                self._call(lambda: self.sender.set_batch_state(batch_id, "cancel"))
            state = self._call(lambda: self._confirm(batch_id))
        except SendRejectedError as exc:
            # Most likely the 10-batch limit, reached by someone else's holds.
            self.ledger.settle_step(
                batch_no,
                expected=BatchStatus.UNKNOWN,
                step=QUEUED,
                note=f"queued: SendGrid refused to cancel batch {batch_id}: {exc}",
            )
            report.queued.append(batch_no)
            return False
        except DeliveryError as exc:
            self._fallback(batch_no, f"cancelling batch {batch_id} failed: {exc}", report)
            return False
        if state != "cancel":
            self._fallback(
                batch_no,
                f"SendGrid shows batch {batch_id} as {state or 'not cancelled'} after the cancel",
                report,
            )
            return False
        self.ledger.settle_step(
            batch_no,
            expected=BatchStatus.UNKNOWN,
            step=None,
            note=f"settled by cancelling: SendGrid batch {batch_id} cancelled (confirmed); "
            "resent under a new batch id",
            to_status=BatchStatus.PENDING,
        )
        log.info("batch %s: cancelled %s at SendGrid, resending", batch_no, batch_id)
        report.resent.append(batch_no)
        return True

    def _confirm(self, batch_id: str) -> BatchState | None:
        try:
            return self.sender.batch_state(batch_id)
        except SendOutcomeUnknownError as exc:
            raise SendRetryableError(str(exc)) from exc  # a read is safe to repeat

    def _fallback(self, batch_no: int, reason: str, report: SettleReport) -> None:
        self.ledger.settle_step(
            batch_no, expected=BatchStatus.UNKNOWN, step=FALLBACK, note=f"unknown: {reason}"
        )
        report.fallback.append(batch_no)
