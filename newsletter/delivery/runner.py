"""The send runner: worker threads claim, send and record batches of one ledger.

Each worker claims its batch (commit) before the request, commits the moment each try's
request starts (and clears it when SendGrid refuses that try), and records the outcome
(commit) after it, each through its own short session. Doing the database work on the
workers rather than on one coordinating thread lets SQLite, which releases the GIL,
run while other workers build bodies. The main thread only hands out batch numbers,
keeps the lease alive and reports progress. A ``should_stop`` callable (set by signal
handlers) stops new claims and lets requests already in flight finish and be recorded.
Retries of a batch go on until its ``RetryWindow`` closes (``delivery.retry``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from newsletter.delivery.ledger import ClaimedBatch, Ledger, Outcome
from newsletter.delivery.pacing import Pacer
from newsletter.delivery.payload import MessageTemplate, Recipient, encode_batch
from newsletter.delivery.retry import RetryPolicy, RetryWindow, call_with_retry
from newsletter.delivery.senders.base import Sender, SendResult
from newsletter.errors import (
    NewsletterError,
    SendAuthError,
    SendGaveUpError,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendRetryableError,
    StorageError,
)
from newsletter.render.model import substitutions
from newsletter.storage.models import BatchStatus, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

HEARTBEAT_SECONDS = 5.0
RUNNER_POLICY = RetryPolicy(max_attempts=None)
"""No count limit: the batch's ``RetryWindow`` decides when to give up."""
DEFAULT_WINDOW = dt.timedelta(hours=1)
"""The retry window of a runner made without one (``send_issue`` always gives one)."""

UnsubscribeUrl = Callable[[int], str]
"""subscriber id -> that person's one-click unsubscribe URL for this list."""


@dataclass(frozen=True)
class Staging:
    """How a staged send stages each batch: a fresh SendGrid batch id per request, and
    a ``send_at`` moved to at least ``min_lead`` from the moment the batch is claimed."""

    min_lead: dt.timedelta
    personal_send_at: bool = False
    clock: Callable[[], dt.datetime] = utcnow


@dataclass(frozen=True)
class BatchEvent:
    """One batch settled; what progress displays consume."""

    batch_no: int
    status: BatchStatus
    recipients: int
    skipped: int
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    stopped: bool
    """True when ``should_stop`` ended the run before every batch was tried."""
    auth_error: str | None
    """Set when the provider refused the key: the whole send stopped."""
    lease_lost: bool = False


class _BatchLost(Exception):
    """The batch stopped being ours (another process took the issue over) before a try."""


@dataclass(frozen=True)
class _Done:
    outcome: Outcome
    sent: int
    event: BatchEvent
    auth_error: str | None = None
    fatal: BaseException | None = None


class SendRunner:
    """Sends the pending batches of one ledger through one sender."""

    def __init__(
        self,
        ledger: Ledger,
        sender: Sender,
        template: MessageTemplate,
        *,
        unsubscribe_url: UnsubscribeUrl,
        concurrency: int = 4,
        policy: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_batch: Callable[[BatchEvent], None] | None = None,
        sleep: Callable[[float], object] = time.sleep,
        staging: Staging | None = None,
        window: RetryWindow | None = None,
    ) -> None:
        self.ledger = ledger
        self.sender = sender
        self.template = template
        self.unsubscribe_url = unsubscribe_url
        self.concurrency = max(1, concurrency)
        self.policy = policy or RUNNER_POLICY
        self.window = window or RetryWindow(utcnow() + DEFAULT_WINDOW)
        self.pacer = pacer or Pacer()
        self.should_stop = should_stop
        self.on_batch = on_batch
        self.sleep = sleep
        self.staging = staging

    def run(self, batch_nos: list[int]) -> RunResult:
        todo = deque(batch_nos)
        inflight: set[Future[_Done | None]] = set()
        stopped = lease_lost = False
        auth_error: str | None = None
        fatal: BaseException | None = None
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="send") as pool:
            while True:
                halted = stopped or lease_lost or auth_error is not None or fatal is not None
                while todo and not halted and len(inflight) < self.concurrency:
                    if self.should_stop():
                        stopped = halted = True
                        break
                    inflight.add(pool.submit(self._work, todo.popleft()))
                if not inflight:
                    break
                done, inflight = wait(
                    inflight, timeout=HEARTBEAT_SECONDS, return_when=FIRST_COMPLETED
                )
                if not done:
                    lease_lost = lease_lost or not self.ledger.heartbeat()
                    continue
                for future in done:
                    result = future.result()
                    if result is None:
                        continue
                    auth_error = auth_error or result.auth_error
                    fatal = fatal or result.fatal
                    self._emit(result.event)
        if fatal is not None:
            raise fatal
        return RunResult(stopped=stopped, auth_error=auth_error, lease_lost=lease_lost)

    def _work(self, batch_no: int) -> _Done | None:
        """On a worker thread: claim (commit), send, record (commit).

        A staged send first makes the request's SendGrid batch id; the claim stores it,
        so it is committed before the request can go out.
        """
        sg_batch_id: str | None = None
        not_before: dt.datetime | None = None
        if self.staging is not None:
            try:
                sg_batch_id = self._new_batch_id()
            except SendAuthError as exc:
                event = BatchEvent(batch_no, BatchStatus.PENDING, 0, 0, str(exc))
                return _Done(Outcome(batch_no, BatchStatus.PENDING), 0, event, str(exc))
            except NewsletterError as exc:
                # Nothing was claimed or sent: the batch stays pending for the next run.
                error = f"no SendGrid batch id: {exc}"
                event = BatchEvent(batch_no, BatchStatus.PENDING, 0, 0, error)
                return _Done(Outcome(batch_no, BatchStatus.PENDING), 0, event)
            not_before = self.staging.clock() + self.staging.min_lead
        claimed = self.ledger.claim(batch_no, sg_batch_id=sg_batch_id, not_before=not_before)
        if claimed is None:
            return None
        if not claimed.recipients:
            event = BatchEvent(batch_no, BatchStatus.ACCEPTED, 0, claimed.newly_skipped)
            return _Done(Outcome(batch_no, BatchStatus.ACCEPTED), 0, event)
        done = self._send(claimed)
        if done is None:
            return None
        if not self.ledger.record(done.outcome):
            log.warning("batch %s was taken over before its outcome was recorded", batch_no)
        return done

    def _new_batch_id(self) -> str:
        def attempt() -> str:
            try:
                return self.sender.create_batch()
            except SendOutcomeUnknownError as exc:
                # An id we never heard of is harmless (nothing carries it): ask again.
                raise SendRetryableError(str(exc)) from exc

        return self._retrying(attempt)

    def _retrying(self, attempt: Callable[[], T]) -> T:
        return call_with_retry(
            attempt,
            policy=self.policy,
            sleep=self.sleep,
            should_stop=self.should_stop,
            window=self.window,
        )

    def _emit(self, event: BatchEvent) -> None:
        if self.on_batch is not None:
            self.on_batch(event)

    def _body(self, claimed: ClaimedBatch) -> bytes:
        url_for = self.unsubscribe_url
        recipients = []
        for subscriber_id, email, name, first_name in claimed.recipients:
            url = url_for(subscriber_id)
            recipients.append(Recipient(email, name, substitutions(first_name, url), url))
        send_at = claimed.send_at
        return encode_batch(
            self.template,
            recipients,
            batch=claimed.batch_no,
            batch_id=claimed.sg_batch_id,
            send_at=int(send_at.timestamp()) if send_at is not None else None,
            personal_send_at=self.staging is not None and self.staging.personal_send_at,
        )

    def _try_once(self, batch_no: int, body: bytes) -> SendResult:
        """One paced try: commit its start, send, and clear the start on a refusal."""
        self.pacer.wait()
        try:
            if not self.ledger.request_starting(batch_no):
                raise _BatchLost(batch_no)
            result = self.sender.send(body, batch_key=f"{self.ledger.issue_id}-{batch_no}")
        except SendRetryableError as exc:
            # Answered with a refusal (or never sent): nothing of this try is out there.
            self.pacer.done(retry_after=exc.retry_after)
            self.ledger.request_refused(batch_no)
            raise
        except BaseException:
            self.pacer.done()
            raise
        self.pacer.done(result)
        return result

    def _send(self, claimed: ClaimedBatch) -> _Done | None:
        batch_no = claimed.batch_no

        def done(
            outcome: Outcome,
            sent: int = 0,
            auth_error: str | None = None,
            fatal: BaseException | None = None,
        ) -> _Done:
            event = BatchEvent(batch_no, outcome.status, sent, claimed.newly_skipped, outcome.error)
            return _Done(outcome, sent, event, auth_error, fatal)

        try:
            body = self._body(claimed)
        except NewsletterError as exc:
            # Nothing left this machine, so the batch failed cleanly and may be retried.
            return done(Outcome(batch_no, BatchStatus.FAILED, error=str(exc)))
        try:
            result = self._retrying(lambda: self._try_once(batch_no, body))
        except _BatchLost:
            log.warning("batch %s was taken over before its request started", batch_no)
            return None
        except SendAuthError as exc:
            # 401 means nothing was accepted: the batch goes back to pending for a rerun.
            outcome = Outcome(batch_no, BatchStatus.PENDING, error=str(exc), status_code=401)
            return done(outcome, auth_error=str(exc))
        except SendRejectedError as exc:
            return done(
                Outcome(
                    batch_no,
                    BatchStatus.FAILED,
                    error=str(exc),
                    error_field=exc.field,
                    status_code=exc.status,
                )
            )
        except SendGaveUpError as exc:
            if exc.stopped:
                return done(Outcome(batch_no, BatchStatus.PENDING, error=str(exc)))
            error = f"{exc}; `newsletter issue send {self.ledger.issue_id}` tries it again"
            return done(Outcome(batch_no, BatchStatus.FAILED, error=error))
        except SendOutcomeUnknownError as exc:
            return done(Outcome(batch_no, BatchStatus.UNKNOWN, error=str(exc)))
        except StorageError:
            # The ledger could not be written around a try (the database stayed away):
            # stop. A start that never committed means that request was not sent, and the
            # next resume sends the batch again; one that did makes it unknown.
            raise
        except Exception as exc:
            # A bug below us after the request may have gone out: never assume it did not.
            error = f"{type(exc).__name__}: {exc}"
            return done(Outcome(batch_no, BatchStatus.UNKNOWN, error=error), fatal=exc)
        outcome = Outcome(
            batch_no, BatchStatus.ACCEPTED, message_id=result.message_id, status_code=result.status
        )
        return done(outcome, len(claimed.recipients))
