"""The resume job: finish interrupted sends, retry failed ones, settle and stage.

Every few minutes (and at a one-off time it asks for) the scheduler calls
:func:`resume_sends`. It picks up

- sends left in ``sending`` by a stop or a crash (the ledger skips the done);
- sent issues whose staged batches have an unknown outcome (they are settled);
- approved issues nearly due, so that staging starts ahead of the delivery time;
- issues that ended ``failed``: tried again with backoff until the send window closes
  (``services.send_retry``), then given up on, loudly.

When an issue is busy because another process's send lease is still valid (a leader
that died mid-send on another host), it asks to run again just after that lease
expires instead of waiting for the next tick (``resume_at`` in its counts).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from newsletter.delivery.senders import make_sender
from newsletter.errors import ConflictError, NewsletterError
from newsletter.services import hold, issues_send, staging
from newsletter.services.batch_settle import settle_silent
from newsletter.services.notices import notify_failed_sends
from newsletter.services.schedule import JobEnv, is_stale, send_failure
from newsletter.services.send_retry import LEASE_MARGIN, FailedSend
from newsletter.services.timing import window_closes
from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus, IssueStatus, utcnow
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as ledger_repo
from newsletter.storage.repositories import lists as lists_repo
from newsletter.storage.repositories import queue as queue_repo

STAGE_WINDOW = dt.timedelta(minutes=10)
"""Stage an approved issue once its delivery time, less the lead, is this close."""


def stage_ahead(env: JobEnv) -> list[tuple[int, str, dt.date]]:
    """Approved issues whose delivery time, less the stage lead, has come (or nearly).

    The resume job runs every few minutes, so staging starts at the delivery time minus
    ``NEWSLETTER_STAGE_LEAD_MINUTES`` and SendGrid delivers on time; the send job at the
    delivery time then finds them under way and leaves them alone.
    """
    cfg = env.settings
    if not cfg.stage_sends:
        return []
    now = env.now()
    ready: list[tuple[int, str, dt.date]] = []
    with transaction(env.sessions) as session:
        for issue, slug in queue_repo.in_status(session, [IssueStatus.APPROVED]):
            mailing_list = lists_repo.get(session, issue.list_id)
            start = staging.delivery_time(cfg, session, issue, mailing_list) - staging.lead(cfg)
            if start - STAGE_WINDOW <= now and not is_stale(env, issue.issue_date):
                ready.append((issue.id, slug, issue.issue_date))
    return ready


def _failed_targets(
    env: JobEnv, wake: list[dt.datetime], gave_up: list[FailedSend]
) -> list[tuple[int, str, dt.date]]:
    """Failed issues whose backoff is over and whose window is open.

    One whose window closed while this process was retrying it goes into ``gave_up``;
    one still waiting adds its next try to ``wake``.
    """
    now = env.now()
    due: list[tuple[int, str, dt.date]] = []
    with transaction(env.sessions) as session:
        rows = queue_repo.in_status(session, [IssueStatus.FAILED])
        failed = [(i.id, slug, i.issue_date) for i, slug in rows]
    for issue_id, slug, day in failed:
        if now >= window_closes(env.settings, day):
            if env.backoff.forget(issue_id):
                with transaction(env.sessions) as session:
                    counts = ledger_repo.ledger_counts(session, issue_id)
                gave_up.append(
                    FailedSend(
                        issue_id=issue_id,
                        list_slug=slug,
                        issue_date=day,
                        recipients=counts.recipients_in(BatchStatus.FAILED),
                        batches=counts.batches_in(BatchStatus.FAILED),
                        window_closes=window_closes(env.settings, day),
                    )
                )
            continue
        if env.backoff.due(issue_id, now):
            due.append((issue_id, slug, day))
        else:
            waiting = env.backoff.next_at(issue_id)
            if waiting is not None:
                wake.append(waiting)
    return due


def _lease_expiry(env: JobEnv, issue_id: int) -> dt.datetime | None:
    """When the issue's current send lease runs out, on this job's clock."""
    with transaction(env.sessions) as session:
        until = issue_repo.get_issue(session, issue_id).lease_until
    if until is None:
        return None
    # Leases are kept in real time; the job's clock may be simulated (``--now``).
    return env.now() + max(until - utcnow(), dt.timedelta(0)) + LEASE_MARGIN


def _unfinished(env: JobEnv) -> list[tuple[int, str, dt.date]]:
    """Sends left ``sending``, sent issues with staged unknowns, and what to stage now."""
    # Staged unknown batches the webhook shows were never received: sent again by the run.
    settle_silent(env.settings, env.engine, now=env.now())
    # Issues an operator cancelled or paused are not sent; their holds go on as places free.
    held = hold.held_issue_ids(env.engine)
    if held:
        hold.continue_holds(
            env.engine, make_sender=lambda: make_sender(env.settings), clock=env.now
        )
    with transaction(env.sessions) as session:
        sending = queue_repo.in_status(session, [IssueStatus.SENDING])
        targets = [(i.id, slug, i.issue_date) for i, slug in sending]
        targets += queue_repo.settleable_issues(session)
    return [t for t in targets + stage_ahead(env) if t[0] not in held]


def resume_sends(env: JobEnv) -> dict[str, Any]:
    """Resume, retry, settle and stage; see the module docstring."""
    counts: dict[str, Any] = {"resumed": 0, "accepted": 0, "busy": 0, "stale": 0, "retried": 0}
    targets = _unfinished(env)
    wake: list[dt.datetime] = []
    gave_up: list[FailedSend] = []
    retrying = _failed_targets(env, wake, gave_up)
    problems: list[str] = []
    failures: list[FailedSend] = []
    for issue_id, slug, day in targets + retrying:
        if env.should_stop():
            break
        is_retry = (issue_id, slug, day) in retrying
        if not is_retry and is_stale(env, day):
            counts["stale"] += 1
            continue
        try:
            report = issues_send.send_issue(
                env.settings, env.engine, issue_id, should_stop=env.should_stop, now=env.now()
            )
        except ConflictError:
            counts["busy"] += 1  # another process holds the issue's lease
            expiry = _lease_expiry(env, issue_id)
            if expiry is not None:
                wake.append(expiry)
            continue
        except NewsletterError as exc:
            problems.append(f"{slug}: {exc}")
            continue
        counts["retried" if is_retry else "resumed"] += 1
        counts["accepted"] += report.counts.recipients_in(BatchStatus.ACCEPTED)
        failure = send_failure(env, report, day)
        if failure is None:
            continue
        if failure.next_try is None:
            gave_up.append(failure)
        else:
            failures.append(failure)
            wake.append(failure.next_try)
            if not is_retry:
                notify_failed_sends(env.settings, [failure])  # a resumed send newly failed
    notify_failed_sends(env.settings, gave_up)
    problems += [f.describe(env.settings.zone) for f in failures + gave_up]
    counts["failed_issues"] = len(failures) + len(gave_up)
    if problems:
        counts["status"] = "failed"
        counts["detail"] = "; ".join(problems)
    if wake:
        counts["resume_at"] = min(wake)
    return counts
