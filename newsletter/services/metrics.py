"""Prometheus metrics: what the database says at scrape time, plus this process's counters.

``build_registry`` gives each face (the web app's ``/metrics``, the scheduler's metrics
port) a registry with:

* a collector that reads the figures from the database when scraped, so every worker
  and both schedulers report the same numbers (``newsletter.storage.repositories.metrics``);
* the process's own counters of sign-ups and confirmations (Prometheus adds them up
  across workers with ``sum``);
* whether this process holds the scheduler's leader lease (only a scheduler knows).

docs/operations.md lists every metric with its meaning.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus, IssueStatus, utcnow
from newsletter.storage.repositories import metrics as repo

SIGNUPS = Counter(
    "newsletter_signups",
    "Sign-up requests handled by this process, by outcome (pending = a link was due).",
    ["outcome"],
    registry=None,
)
CONFIRMATIONS = Counter(
    "newsletter_confirmations",
    "Confirmation links used in this process, by outcome.",
    ["outcome"],
    registry=None,
)


class DatabaseCollector(Collector):
    """Reads the shared figures from the database each time it is collected."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        is_leader: Callable[[], bool] | None = None,
    ) -> None:
        self._sessions = sessions
        self._is_leader = is_leader

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        started = time.perf_counter()
        with transaction(self._sessions) as session:
            yield from self._ledger(session)
            yield from self._events(session)
            yield from self._audience(session)
            yield from self._scheduler(session)
            yield from self._sends(session)
        if self._is_leader is not None:
            held = GaugeMetricFamily(
                "newsletter_scheduler_leader",
                "1 if this scheduler process holds the leader lease, else 0.",
            )
            held.add_metric([], 1.0 if self._is_leader() else 0.0)
            yield held
        took = GaugeMetricFamily(
            "newsletter_metrics_scrape_seconds", "Time spent reading these figures."
        )
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _ledger(self, session: Session) -> Iterator[GaugeMetricFamily]:
        by_status = repo.batches_by_status(session)
        batches = GaugeMetricFamily(
            "newsletter_batches", "Send batches by status, every issue.", labels=["status"]
        )
        recipients = GaugeMetricFamily(
            "newsletter_recipients",
            "Recipients by the status of their batch (accepted = SendGrid took them).",
            labels=["status"],
        )
        for status in BatchStatus:
            count, people = by_status.get(status.value, (0, 0))
            batches.add_metric([status.value], count)
            recipients.add_metric([status.value], people)
        yield batches
        yield recipients
        issues = GaugeMetricFamily("newsletter_issues", "Issues by status.", labels=["status"])
        counts = repo.issues_by_status(session)
        for issue_status in IssueStatus:
            issues.add_metric([issue_status.value], counts.get(issue_status.value, 0))
        yield issues

    def _events(self, session: Session) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        events = CounterMetricFamily(
            "newsletter_webhook_events",
            "SendGrid webhook events counted per type (kept after raw events are pruned).",
            labels=["event"],
        )
        for name, count in sorted(repo.event_counts(session).items()):
            events.add_metric([name], count)
        yield events
        pending = GaugeMetricFamily(
            "newsletter_webhook_events_pending",
            "Events stored and set aside for processing, not yet applied.",
        )
        pending.add_metric([], repo.pending_events(session))
        yield pending

    def _audience(self, session: Session) -> Iterator[GaugeMetricFamily]:
        members = GaugeMetricFamily(
            "newsletter_members",
            "Memberships by list and status (pending = signed up, not yet confirmed).",
            labels=["list", "status"],
        )
        for (slug, status), count in sorted(repo.members_by_status(session).items()):
            members.add_metric([slug, status], count)
        yield members

    def _scheduler(self, session: Session) -> Iterator[CounterMetricFamily]:
        runs = CounterMetricFamily(
            "newsletter_job_runs",
            "Scheduler job runs recorded, by job and outcome.",
            labels=["job", "status"],
        )
        for (job, status), count in sorted(repo.job_runs_by_status(session).items()):
            runs.add_metric([job, status], count)
        yield runs

    def _sends(self, session: Session) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        age = GaugeMetricFamily(
            "newsletter_last_successful_send_age_seconds",
            "Seconds since the list's last issue finished sending (since the list was "
            "created, if it never sent one).",
            labels=["list"],
        )
        duration = GaugeMetricFamily(
            "newsletter_last_send_duration_seconds",
            "How long the list's last successful send took, start to finish.",
            labels=["list"],
        )
        for slug, created, sent_at, took in repo.last_sends(session):
            age.add_metric([slug], (now - (sent_at or created)).total_seconds())
            if took is not None:
                duration.add_metric([slug], took)
        yield age
        yield duration


def build_registry(
    sessions: sessionmaker[Session], *, is_leader: Callable[[], bool] | None = None
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(sessions, is_leader=is_leader))
    registry.register(SIGNUPS)
    registry.register(CONFIRMATIONS)
    return registry
