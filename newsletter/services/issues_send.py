"""Sending an approved issue (or resuming a partial send), and test sends.

``send_issue`` is the one entry point for every face: take the issue under a lease,
snapshot the audience once, settle what an earlier run left behind, run the batches,
and report. It never re-renders: the bodies come from the approved snapshot.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine

from newsletter.audience.addresses import normalize_email
from newsletter.audience.tokens import TokenSigner
from newsletter.delivery.journal import OutcomeJournal
from newsletter.delivery.ledger import Ledger, Recovery, StageGroup
from newsletter.delivery.pacing import Pacer
from newsletter.delivery.payload import MessageTemplate, Recipient, encode_batch
from newsletter.delivery.retry import RetryPolicy, send_with_retry
from newsletter.delivery.runner import BatchEvent, RunResult, SendRunner, Staging
from newsletter.delivery.senders import Sender, make_sender
from newsletter.delivery.settle import Settler, SettleReport
from newsletter.errors import DeliveryError, IssueStateError, StorageError
from newsletter.render.model import html_part, substitutions
from newsletter.services import send_window, staging
from newsletter.services.batch_settle import settle_silent
from newsletter.services.hold import refuse_if_held
from newsletter.services.issues import (
    batch_dict,
    counts_dict,
)
from newsletter.services.send_check import refuse_early
from newsletter.services.unknown import choose_unknown
from newsletter.settings import Settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import BatchStatus, Issue, IssueStatus, MailingList, utcnow
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import lists
from newsletter.storage.repositories.ledger import BatchInfo, LedgerCounts

log = logging.getLogger(__name__)

TEST_SUBJECT_PREFIX = "[TEST] "
TEST_UNSUBSCRIBE_PATH = "/u/test-send-preview"
"""Not a token: the web app answers it with "invalid link" and unsubscribes nobody."""


@dataclass(frozen=True)
class SendStart:
    """What a run is about to do, for progress displays."""

    issue_id: int
    list_slug: str
    recipients: int
    """Everyone in the snapshot."""
    to_send: int
    """Recipients in the batches this run will try."""
    batches: int
    recovery: Recovery


@dataclass(frozen=True)
class SendReport:
    issue_id: int
    list_slug: str
    status: IssueStatus
    counts: LedgerCounts
    run: RunResult
    recovery: Recovery
    unknown: tuple[BatchInfo, ...]
    failed: tuple[BatchInfo, ...]
    elapsed: float
    sender: str = ""
    groups: tuple[StageGroup, ...] = ()
    """The send_at groups of a staged send (empty: sent at once)."""
    settled: SettleReport = field(default_factory=SettleReport)
    queued: tuple[BatchInfo, ...] = ()
    """Unknown batches waiting for a free place among SendGrid's 10 holds."""

    @property
    def ok(self) -> bool:
        """Everything accepted: nothing failed, unknown, or left pending."""
        return (
            self.status == IssueStatus.SENT
            and not self.unknown
            and not self.failed
            and self.run.auth_error is None
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.issue_id,
            "list": self.list_slug,
            "status": str(self.status),
            "ok": self.ok,
            "accepted": self.counts.recipients_in(BatchStatus.ACCEPTED),
            "failed": self.counts.recipients_in(BatchStatus.FAILED),
            "unknown": self.counts.recipients_in(BatchStatus.UNKNOWN),
            "pending": self.counts.recipients_in(BatchStatus.PENDING),
            "skipped": self.counts.skipped,
            "stopped": self.run.stopped,
            "auth_error": self.run.auth_error,
            "elapsed_seconds": round(self.elapsed, 3),
            "sender": self.sender,
            "ledger": counts_dict(self.counts),
            "unknown_batches": [batch_dict(b) for b in self.unknown],
            "failed_batches": [batch_dict(b) for b in self.failed],
            "recovered": {
                "became_unknown": self.recovery.became_unknown,
                "failed_retried": self.recovery.failed_retried,
                "unknown_resent": self.recovery.unknown_resent,
                "back_to_pending": self.recovery.back_to_pending,
            },
            "staged": bool(self.groups),
            "send_at": [g.send_at.isoformat() for g in self.groups],
            "late_groups": [g.as_json() for g in self.groups if g.send_at > g.wanted],
            "settled": {
                "resent": self.settled.resent,
                "queued": self.settled.queued,
                "fallback": self.settled.fallback,
            },
        }


def message_template(
    cfg: Settings, issue: Issue, mailing_list: MailingList, *, test: bool = False
) -> MessageTemplate:
    """What every request of this issue shares; from and reply-to: the list, else settings."""
    categories = ("newsletter", mailing_list.slug, *(("test",) if test else ()))
    return MessageTemplate(
        subject=(TEST_SUBJECT_PREFIX if test else "") + issue.subject,
        html=html_part(issue.html),
        text=issue.text,
        from_email=mailing_list.from_email or cfg.from_email,
        from_name=mailing_list.from_name or cfg.from_name,
        reply_to=mailing_list.reply_to or cfg.reply_to,
        categories=categories,
        custom_args={"issue_id": str(issue.id), **({"test": "1"} if test else {})},
    )


def unsubscribe_urls(cfg: Settings, list_id: int) -> Callable[[int], str]:
    signer = TokenSigner.from_settings(cfg)
    prefix = f"{cfg.public_url}/u/"
    token = signer.unsubscribe_token

    def url(subscriber_id: int) -> str:
        return prefix + token(subscriber_id, list_id)

    return url


def send_issue(
    cfg: Settings,
    engine: Engine,
    issue_id: int,
    *,
    resend_unknown: bool = False,
    resend_batches: Sequence[int] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_start: Callable[[SendStart], None] | None = None,
    on_batch: Callable[[BatchEvent], None] | None = None,
    sender: Sender | None = None,
    policy: RetryPolicy | None = None,
    send_now: bool = False,
    now: dt.datetime | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
    sleep: Callable[[float], object] = time.sleep,
) -> SendReport:
    """Stage (send), or resume, an approved issue; see ``docs/delivery.md``.

    Every batch gets its own SendGrid batch id and the ``send_at`` of its group (see
    ``services.staging``): an issue not yet due is handed to SendGrid now and delivered
    at its time; ``send_now`` asks for the earliest time instead. Unknown outcomes are
    settled by cancelling and resending. With ``NEWSLETTER_STAGE_SENDS=false`` it sends
    at once, so an issue not yet due is refused (``NotDueError``) unless ``send_now``.

    ``resend_unknown`` sends unknown batches again (a person checked SendGrid first);
    ``resend_batches`` limits that to those numbers, refusing any that is not unknown.
    Staged unknown batches the webhook shows were never received are resent here too
    (``batch_settle.settle_silent``).
    Refusals (429, 5xx) are retried until the issue's send window closes
    (``services.send_window``); ``clock`` and ``sleep`` drive those waits.
    """
    cfg.signing_key()  # before anything changes: the links must not be forgeable
    # ``now`` (the moment the person asked) decides the plan; the clock runs on for the rest.
    asked = now or clock()
    if not cfg.stage_sends:
        refuse_early(cfg, engine, issue_id, now=asked, send_now=send_now)
    chosen_batches = _before_resume(cfg, engine, issue_id, resend_batches, clock())
    resend_unknown = resend_unknown or chosen_batches is not None
    started = time.monotonic()
    chosen = sender or make_sender(cfg)
    factory = session_factory(engine)
    ledger = Ledger(
        factory,
        issue_id,
        lease_seconds=cfg.lease_seconds,
        host=cfg.host_name,
        journal=OutcomeJournal(cfg.send_journal_dir, issue_id),
        reconnect_seconds=cfg.db_reconnect_seconds,
    )
    issue = ledger.begin(resend_unknown=resend_unknown, settle_staged=cfg.stage_sends)
    finished = False
    groups: list[StageGroup] = []
    settled = SettleReport()
    try:
        with transaction(factory) as session:
            mailing_list = lists.get(session, issue.list_id)

        def plan() -> list[StageGroup]:
            with transaction(factory) as session:
                return staging.plan_groups(
                    cfg, session, issue, mailing_list, now=asked, deliver_now=send_now
                )

        if cfg.stage_sends:
            groups = ledger.fix_plan(plan)
        total = ledger.snapshot(batch_size=cfg.batch_size, groups=groups or None)
        if total == 0:
            finished = True  # the snapshot gave the issue back (approved, no lease)
            raise DeliveryError(
                f"list {mailing_list.slug!r} has no sendable members (subscribed, confirmed "
                f"and not suppressed); nothing was sent and issue {issue_id} stays approved"
            )
        recovery = _recover(ledger, resend_unknown, chosen_batches)
        settler = Settler(ledger, chosen, clock=clock, should_stop=should_stop)
        if groups:
            _merge(settled, settler.settle())
        pending = ledger.pending_batches()
        counts = ledger.counts()
        if on_start is not None:
            on_start(
                SendStart(
                    issue_id=issue_id,
                    list_slug=mailing_list.slug,
                    recipients=total,
                    to_send=counts.recipients_in(BatchStatus.PENDING),
                    batches=len(pending),
                    recovery=recovery,
                )
            )
        runner = SendRunner(
            ledger,
            chosen,
            message_template(cfg, issue, mailing_list),
            unsubscribe_url=unsubscribe_urls(cfg, issue.list_id),
            concurrency=cfg.send_concurrency,
            policy=policy,
            pacer=Pacer(cfg.max_requests_per_second, sleep=sleep),
            should_stop=should_stop,
            on_batch=on_batch,
            sleep=sleep,
            window=send_window.run_window(cfg, issue.issue_date, started=clock(), clock=clock),
            staging=_staging(groups, mailing_list, clock),
        )
        result = runner.run(pending)
        # Outcomes lost in this run are settled at once while their send_at is far off.
        for _round in range(3):
            if not groups or result.auth_error or result.stopped or result.lease_lost:
                break
            again = settler.settle()
            _merge(settled, again)
            if not again.changed:
                break
            result = runner.run(ledger.pending_batches())
        status = ledger.finish()
        finished = True
    finally:
        if not finished:
            # Let a rerun in this same process start at once instead of waiting out the lease.
            _release(ledger)
    unknown = tuple(ledger.unknown_batches())
    return SendReport(
        issue_id=issue_id,
        list_slug=mailing_list.slug,
        status=status,
        counts=ledger.counts(),
        run=result,
        recovery=recovery,
        unknown=unknown,
        failed=tuple(ledger.batches_in(BatchStatus.FAILED)),
        elapsed=time.monotonic() - started,
        sender=chosen.name,
        groups=tuple(groups),
        settled=settled,
        queued=tuple(b for b in unknown if b.settle_step == "queued"),
    )


def _before_resume(
    cfg: Settings,
    engine: Engine,
    issue_id: int,
    batch_nos: Sequence[int] | None,
    now: dt.datetime,
) -> list[int] | None:
    """Before the issue is taken: check the unknown batches ``--resend-unknown --batch N``
    names (None: no choice made), then make resendable the staged unknown batches the
    webhook shows were never received. An issue an operator cancelled or paused at
    SendGrid is refused: nothing of it is sent."""
    refuse_if_held(engine, issue_id)
    chosen = None
    if batch_nos:
        chosen = [b.batch_no for b in choose_unknown(engine, issue_id, batch_nos, action="resent")]
    settle_silent(cfg, engine, issue_id=issue_id, now=now)
    return chosen


def _recover(ledger: Ledger, resend_unknown: bool, chosen: list[int] | None) -> Recovery:
    """``Ledger.recover``; with ``chosen``, only those unknown batches go back to pending."""
    recovery = ledger.recover(resend_unknown=resend_unknown and chosen is None)
    if chosen is None:
        return recovery
    resent = [
        n
        for n in chosen
        if ledger.settle_step(
            n,
            expected=BatchStatus.UNKNOWN,
            step=None,
            note="resent: chosen by an operator (--resend-unknown --batch)",
            to_status=BatchStatus.PENDING,
        )
    ]
    return replace(recovery, unknown_resent=resent)


def _release(ledger: Ledger) -> None:
    try:
        ledger.release()
    except StorageError as exc:  # the database is gone: keep the error that got us here
        log.warning("issue %s: could not release the send lease: %s", ledger.issue_id, exc)


def _staging(
    groups: list[StageGroup], mailing_list: MailingList, clock: Callable[[], dt.datetime]
) -> Staging | None:
    if not groups:
        return None
    return Staging(staging.MIN_STAGE_LEAD, bool(mailing_list.local_time), clock)


def _merge(total: SettleReport, part: SettleReport) -> None:
    total.resent.extend(part.resent)
    total.queued = part.queued
    total.fallback = part.fallback


@dataclass(frozen=True)
class TestSendResult:
    issue_id: int
    to: tuple[str, ...]
    subject: str
    message_id: str | None
    sender: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.issue_id,
            "to": list(self.to),
            "subject": self.subject,
            "message_id": self.message_id,
            "sender": self.sender,
        }


def send_test(
    cfg: Settings,
    engine: Engine,
    issue_id: int,
    to: Sequence[str],
    *,
    sender: Sender | None = None,
    policy: RetryPolicy | None = None,
) -> TestSendResult:
    """Send the stored issue to ``to`` only: "[TEST]" subject, harmless values, no ledger."""
    # Refused like a real send: a test run is how people find out before the real one.
    cfg.signing_key()
    if not to:
        raise DeliveryError("a test send needs at least one --to address")
    addresses = tuple(dict.fromkeys(normalize_email(a).email for a in to))
    factory = session_factory(engine)
    with transaction(factory) as session:
        issue = issue_repo.get_issue(session, issue_id)
        if issue.status == IssueStatus.CANCELLED:
            raise IssueStateError(f"issue {issue_id} is cancelled; build a new one to test")
        mailing_list = lists.get(session, issue.list_id)
    template = message_template(cfg, issue, mailing_list, test=True)
    url = cfg.public_url + TEST_UNSUBSCRIBE_PATH
    recipients = [Recipient(email, None, substitutions(None, url), url) for email in addresses]
    body = encode_batch(template, recipients, batch=0)
    chosen = sender or make_sender(cfg)
    result = send_with_retry(
        chosen,
        body,
        batch_key=f"{issue_id}-test",
        policy=policy or RetryPolicy(max_attempts=3),
    )
    return TestSendResult(issue_id, addresses, template.subject, result.message_id, chosen.name)
