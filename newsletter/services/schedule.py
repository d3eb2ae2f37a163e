"""The scheduler's use cases: assemble the next issues, send today's, sync (resume: ``resume``).

Each function is idempotent: running it twice for the same moment changes nothing
the second time, which is what lets ``--once``, a restart's catch-up and APScheduler's
own firing overlap safely. The scheduler face decides *when*; this module decides
*what*.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.addresses import normalize_email
from newsletter.content.loader import check_library
from newsletter.delivery.suppressions_api import (
    SUPPRESSION_KINDS,
    SuppressedAddress,
    SuppressionKind,
    SuppressionsClient,
)
from newsletter.errors import AddressError, ConflictError, NewsletterError
from newsletter.logs import log_event
from newsletter.render import RenderedIssue
from newsletter.schedule_rules.triggers import next_fire_time
from newsletter.services import feeds, issues_send
from newsletter.services import issues as issues_service
from newsletter.services.issues_send import SendReport
from newsletter.services.notices import (
    Blocked,
    FreshArticle,
    IssueSummary,
    notify_blocked,
    notify_failed_sends,
    notify_review,
)
from newsletter.services.send_retry import FailedSend, RetryBackoff, failure_of
from newsletter.services.timing import due_time, send_trigger
from newsletter.settings import Settings
from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus, Issue, IssueStatus, SuppressionReason
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import lists as lists_repo
from newsletter.storage.repositories import queue as queue_repo
from newsletter.storage.repositories import scheduling as sched_repo
from newsletter.storage.repositories import suppressions as suppressions_repo

log = logging.getLogger("newsletter.scheduler.jobs")

AUTOPILOT = "autopilot"
"""Who approved an issue that NEWSLETTER_REQUIRE_APPROVAL=false let through."""
SYNC_CHUNK = 500
SUPPRESSION_REASONS: dict[SuppressionKind, SuppressionReason] = {
    "bounces": SuppressionReason.BOUNCE,
    # A block is a receiving server refusing us; mailing again only hurts our reputation.
    "blocks": SuppressionReason.BOUNCE,
    "spam_reports": SuppressionReason.SPAMREPORT,
    "invalid_emails": SuppressionReason.INVALID,
    "global_unsubscribes": SuppressionReason.UNSUBSCRIBE,
}


@dataclass(frozen=True)
class JobEnv:
    """What every job needs: settings, the database, the time, and whether to stop."""

    settings: Settings
    sessions: sessionmaker[Session]
    now: Callable[[], dt.datetime]
    should_stop: Callable[[], bool] = field(default=lambda: False)
    backoff: RetryBackoff = field(default_factory=RetryBackoff)
    """When each failed issue may be retried next (the scheduler keeps one per process)."""

    @property
    def engine(self) -> Engine:
        bind = self.sessions.kw["bind"]
        assert isinstance(bind, Engine)
        return bind

    def local_date(self, instant: dt.datetime | None = None) -> dt.date:
        return (instant or self.now()).astimezone(self.settings.zone).date()


def is_stale(env: JobEnv, issue_date: dt.date) -> bool:
    """Past its send time by more than the grace: never sent, whatever asks."""
    late = env.now() - due_time(env.settings, issue_date)
    return late > dt.timedelta(seconds=env.settings.misfire_grace_time)


# -- assemble ---------------------------------------------------------------------------


def assemble_upcoming(env: JobEnv, fire: dt.datetime | None) -> dict[str, Any]:
    """Build each list's draft for the next send date, then email the review notice."""
    now = env.now()
    next_send = next_fire_time(send_trigger(env.settings), now)
    if next_send is None:
        return {"status": "skipped", "detail": "the send schedule never fires again"}
    day = env.local_date(next_send)
    counts: dict[str, Any] = {"built": 0, "existing": 0, "failed": 0, "date": day.isoformat()}
    problems: list[str] = []
    fresh = _import_feeds(env, problems)
    counts["imported"] = len(fresh)
    with transaction(env.sessions) as session:
        slugs = [m.slug for m in lists_repo.all_lists(session)]
    for slug in slugs:
        if env.should_stop():
            break
        try:
            issues_service.build_issue(env.settings, env.engine, slug, day)
            counts["built"] += 1
        except ConflictError:
            counts["existing"] += 1  # queued by marketing, or built by an earlier run
        except NewsletterError as exc:
            counts["failed"] += 1
            problems.append(f"{slug}: {exc}")
            log_event(log, "assemble.failed", f"{slug}: {exc}", level=logging.ERROR, list=slug)
    # Broken files the issues were built without: fixed now, they are used next time.
    left_out = check_library(env.settings.content_dir).problems
    problems.extend(f"content problem (file left out): {p}" for p in left_out)
    with transaction(env.sessions) as session:
        rows = queue_repo.issues_on(session, day)
        summaries = [_summary(issue, slug) for issue, slug in rows]
    counts["notified"] = notify_review(env.settings, day, summaries, problems, fresh=fresh)
    if counts["failed"]:
        counts["status"] = "failed"
        counts["detail"] = "; ".join(problems)
    return counts


def _import_feeds(env: JobEnv, problems: list[str]) -> list[FreshArticle]:
    """Import NEWSLETTER_FEEDS; a feed that fails is a problem in the notice, not a stop."""
    fresh: list[FreshArticle] = []
    for url in env.settings.feeds:
        try:
            result = feeds.import_feed(env.settings, url, today=env.local_date())
        except NewsletterError as exc:
            problems.append(f"feed not imported: {exc}")
            log_event(log, "feed.failed", str(exc), level=logging.ERROR)
            continue
        fresh.extend(FreshArticle(w.slug, w.title, result.source) for w in result.written)
        for skipped in result.skipped:
            # Logged, not put in the notice: a post that cannot be an article (an http
            # link) would otherwise be "news" in every week's notice.
            log_event(
                log,
                "feed.skipped",
                f"{skipped.title}: {skipped.reason}",
                level=logging.WARNING,
            )
        log_event(
            log,
            "feed.imported",
            f"{len(result.written)} new from {result.source}",
            imported=len(result.written),
            already=result.already,
        )
    return fresh


# -- send -------------------------------------------------------------------------------


def send_due(env: JobEnv, fire: dt.datetime | None) -> dict[str, Any]:
    """Send each list's approved issue for the fire time's date (the approval gate).

    An issue that ends with failed batches makes the run a failure, names the issue
    in its detail and in a failure notice, and asks for a resume retry (``resume_at``).
    """
    day = env.local_date(fire)
    counts: dict[str, Any] = {"sent": 0, "accepted": 0, "blocked": 0, "failed": 0, "stale": 0}
    blocked: list[Blocked] = []
    problems: list[str] = []
    failures: list[FailedSend] = []
    still_failed: list[int] = []
    with transaction(env.sessions) as session:
        slugs = [m.slug for m in lists_repo.all_lists(session)]
        live = {slug: issue.id for issue, slug in queue_repo.issues_on(session, day)}
    for slug in slugs:
        if env.should_stop():
            break
        try:
            issue_id = _ready_issue(
                env, slug, day, live.get(slug), blocked=blocked, still_failed=still_failed
            )
            if issue_id is None:
                continue
            if is_stale(env, day):
                counts["stale"] += 1
                problems.append(f"{slug}: issue {issue_id} is past its send time; not sent")
                continue
            report = issues_send.send_issue(
                env.settings, env.engine, issue_id, should_stop=env.should_stop, now=env.now()
            )
        except NewsletterError as exc:
            counts["failed"] += 1
            problems.append(f"{slug}: {exc}")
            log_event(log, "send.failed", f"{slug}: {exc}", level=logging.ERROR, list=slug)
            continue
        counts["sent"] += 1
        counts["accepted"] += report.counts.recipients_in(BatchStatus.ACCEPTED)
        failure = send_failure(env, report, day)
        if failure is not None:
            failures.append(failure)
            problems.append(failure.describe(env.settings.zone))
        elif not report.ok:
            problems.append(f"{slug}: issue {issue_id} ended {report.status}")
    counts["blocked"] = len(blocked)
    if blocked:
        notify_blocked(env.settings, day, blocked)
    notify_failed_sends(env.settings, failures)
    problems += [
        f"issue {i} still has failed batches; the resume job retries it (`newsletter issue "
        f"send {i}` resumes it now)"
        for i in still_failed
    ]
    counts["failed_issues"] = len(failures)
    if counts["failed"] or counts["stale"] or failures:
        counts["status"] = "failed"
    elif (blocked or still_failed) and not counts["sent"]:
        # An issue that failed in an earlier run of this fire time: that run is the
        # failure on record, and the resume job owns the retries.
        counts["status"] = "skipped"
    retries = [f.next_try for f in failures if f.next_try is not None]
    if retries:
        counts["resume_at"] = min(retries)
    counts["detail"] = "; ".join([str(b) for b in blocked] + problems)
    return counts


def send_failure(env: JobEnv, report: SendReport, day: dt.date) -> FailedSend | None:
    """The failure a send left (failed batches), counted in the backoff; None if none."""
    return failure_of(
        env.settings,
        env.backoff,
        issue_id=report.issue_id,
        list_slug=report.list_slug,
        issue_date=day,
        status=report.status,
        counts=report.counts,
        now=env.now(),
    )


def _ready_issue(
    env: JobEnv,
    slug: str,
    /,
    day: dt.date,
    issue_id: int | None,
    *,
    blocked: list[Blocked],
    still_failed: list[int],
) -> int | None:
    """The id of this list's approved issue for ``day``, approving it on autopilot.

    An issue that already ended ``failed`` goes into ``still_failed``: not sent again
    here (the resume job retries it), but not a success either.
    """
    autopilot = not env.settings.require_approval
    if issue_id is None:
        if not autopilot:
            blocked.append(Blocked(slug, None, f"no issue for {day}"))
            return None
        issue_id = issues_service.build_issue(env.settings, env.engine, slug, day).id
    with transaction(env.sessions) as session:
        issue = issue_repo.get_issue(session, issue_id)
        status, approved = issue.status, issue.approved_hash
        # Recomputed from what is stored, so an edit that forgot to update the hash counts too.
        current = RenderedIssue(issue.subject, issue.preheader, issue.html, issue.text).content_hash
        current_ok = current == issue.content_hash
    if status == IssueStatus.FAILED:
        still_failed.append(issue_id)
        return None
    if status in (IssueStatus.SENDING, IssueStatus.SENT):
        return None  # already under way or done: resume finishes it, nothing is sent twice
    if status == IssueStatus.DRAFT:
        if not autopilot:
            blocked.append(Blocked(slug, issue_id, f"issue {issue_id} is not approved"))
            return None
        issues_service.approve_issue(env.engine, issue_id, by=AUTOPILOT)
        log_event(log, "send.autopilot", f"{slug}: issue {issue_id} approved by autopilot")
    elif approved != current or not current_ok:
        reason = f"issue {issue_id} changed after approval; approve it again"
        blocked.append(Blocked(slug, issue_id, reason))
        return None
    return issue_id


def _summary(issue: Issue, slug: str) -> IssueSummary:
    return IssueSummary(
        id=issue.id,
        list_slug=slug,
        issue_date=issue.issue_date,
        status=str(issue.status),
        subject=issue.subject,
        articles=tuple(issue.article_slugs or ()),
        tips=tuple(issue.tip_slugs or ()),
        approved_by=issue.approved_by,
    )


# -- sync_suppressions ------------------------------------------------------------------


def cursor_name(kind: str) -> str:
    return f"suppressions:{kind}"


def sync_suppressions(
    env: JobEnv,
    client: SuppressionsClient | None = None,
    kinds: Iterable[SuppressionKind] = SUPPRESSION_KINDS,
) -> dict[str, Any]:
    """Copy SendGrid's suppression lists into ours, each from where the last sync stopped.

    The cursor is the newest ``created`` seen per kind. SendGrid's ``start_time`` is
    inclusive, so entries of that same second are read again: harmless, since adding a
    suppression twice keeps the first.
    """
    if client is None:
        if env.settings.sendgrid_api_key is None:
            log_event(log, "sync.skipped", "no SENDGRID_API_KEY: suppression sync skipped")
            return {"status": "skipped"}
        client = SuppressionsClient.from_settings(env.settings)
    counts: dict[str, Any] = {"seen": 0, "added": 0, "kinds": 0}
    for kind in kinds:
        if env.should_stop():
            break
        seen, added = _sync_kind(env, client, kind)
        counts["seen"] += seen
        counts["added"] += added
        counts["kinds"] += 1
    return counts


def _sync_kind(env: JobEnv, client: SuppressionsClient, kind: SuppressionKind) -> tuple[int, int]:
    with transaction(env.sessions) as session:
        start = sched_repo.get_cursor(session, cursor_name(kind))
    newest = start
    seen = added = 0
    chunk: list[SuppressedAddress] = []

    def flush(final: bool) -> None:
        nonlocal added
        with transaction(env.sessions) as session:
            added += _store(session, kind, chunk)
            # The cursor moves only with the final chunk: SendGrid pages are not ordered
            # by time, so an earlier move could skip entries after a crash.
            if final and newest is not None and newest != start:
                sched_repo.set_cursor(session, cursor_name(kind), newest, env.now())
        chunk.clear()

    for entry in client.iter_suppressions(kind, start):
        seen += 1
        stamp = int(entry.created.timestamp())
        newest = stamp if newest is None else max(newest, stamp)
        chunk.append(entry)
        if len(chunk) >= SYNC_CHUNK:
            flush(final=False)
    flush(final=True)
    log_event(
        log, "sync.kind", f"{kind}: {seen} seen, {added} new", kind=kind, seen=seen, added=added
    )
    return seen, added


def _key(email: str) -> tuple[str, str]:
    try:
        normalized = normalize_email(email)
    except AddressError:
        # SendGrid's invalid_emails list holds exactly the addresses we cannot parse.
        cleaned = email.strip()
        return cleaned, cleaned.lower()
    return normalized.email, normalized.key


def _store(session: Session, kind: SuppressionKind, entries: list[SuppressedAddress]) -> int:
    if not entries:
        return 0
    rows: dict[str, tuple[str, str, SuppressionReason, str]] = {}
    for entry in entries:
        email, key = _key(entry.email)
        rows.setdefault(key, (email, key, SUPPRESSION_REASONS[kind], f"sendgrid:{kind}"))
    existing = suppressions_repo.suppressed_keys(session, list(rows))
    fresh = [row for key, row in rows.items() if key not in existing]
    suppressions_repo.add_many(session, fresh)
    return len(fresh)
