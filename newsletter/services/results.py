"""What happened to a sent issue, for `newsletter issue show` and the console's results page.

One service, so the terminal and the browser always show the same numbers in the same
words. Bounces, drops, complaints and unsubscribes are counted each on its own (a
bounce also ends the person's membership, but it is not an unsubscribe). Without a
signed event webhook no event can arrive, and the results say so instead of zeros.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import NotFoundError
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.repositories import events as events_repo
from newsletter.storage.repositories import results as repo

GMAIL_COMPLAINT_LINE = 0.003
"""Gmail asks bulk senders to keep spam complaints under 0.3 % of delivered mail."""
COMPLAINT_NEAR_RATE = 0.002
"""From here on the rate is "near" the line: time to look before Gmail does."""
CHART_HOURS = 72
TOP_LINKS = 50
NO_WEBHOOK = (
    "No signed event webhook is configured (NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY is "
    "not set), so no delivery, open, click, bounce or complaint event can arrive: these "
    "results are unknown, not zero."
)

ComplaintLevel = Literal["under", "near", "over"]

# Chart series: a label and the webhook event names it adds up.
CHART_SERIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Delivered", ("delivered",)),
    ("Opens", ("open",)),
    ("Clicks", ("click",)),
    ("Bounces and drops", ("bounce", "dropped")),
    ("Complaints", ("spamreport",)),
    ("Unsubscribes", ("unsubscribe", "group_unsubscribe")),
)


@dataclass(frozen=True)
class HourlyChart:
    """Events per hour since the send started: ``series[label][h]`` for hour ``h``."""

    start: dt.datetime
    hours: int
    series: dict[str, list[int]]


@dataclass(frozen=True)
class IssueResults:
    issue_id: int
    recipients: int
    webhook_configured: bool
    delivered: int
    bounced: int
    dropped: int
    complaints: int
    unsubscribed: int
    opened: int
    clicked: int
    events: dict[str, int]
    pending_events: int
    links: list[tuple[str, int]] = field(default_factory=list)
    chart: HourlyChart | None = None

    @property
    def has_events(self) -> bool:
        return bool(self.events)

    @property
    def known(self) -> bool:
        """False when no event could have arrived: the counts mean nothing then."""
        return self.webhook_configured or self.has_events

    @property
    def notice(self) -> str | None:
        return None if self.webhook_configured else NO_WEBHOOK

    def rows(self) -> list[tuple[str, int]]:
        """The outcomes after "Delivered", each counted on its own, in the order shown."""
        return [
            ("Opened", self.opened),
            ("Clicked", self.clicked),
            ("Bounced", self.bounced),
            ("Dropped", self.dropped),
            ("Spam complaints", self.complaints),
            ("Unsubscribed", self.unsubscribed),
        ]

    def rate(self, count: int) -> float:
        """``count`` over the delivered people (0 when nothing was delivered)."""
        return count / self.delivered if self.delivered else 0.0

    @property
    def open_rate(self) -> float:
        return self.rate(self.opened)

    @property
    def click_rate(self) -> float:
        return self.rate(self.clicked)

    @property
    def complaint_rate(self) -> float:
        return self.rate(self.complaints)

    @property
    def complaint_level(self) -> ComplaintLevel:
        if self.complaint_rate >= GMAIL_COMPLAINT_LINE:
            return "over"
        if self.complaint_rate >= COMPLAINT_NEAR_RATE:
            return "near"
        return "under"

    @property
    def complaint_sentence(self) -> str:
        rate, line = f"{self.complaint_rate:.2%}", f"{GMAIL_COMPLAINT_LINE:.1%}"
        if self.complaint_level == "over":
            return (
                f"The complaint rate {rate} is over Gmail's {line} line: review who is on "
                "this list and how they joined before the next send."
            )
        if self.complaint_level == "near":
            return (
                f"The complaint rate {rate} is near Gmail's {line} line (still under it): "
                "review who is on this list and how they joined."
            )
        return f"The complaint rate {rate} is under Gmail's {line} line."

    def as_dict(self) -> dict[str, Any]:
        """For ``--json``: unknown counts are ``null``, never a misleading 0."""
        known = self.known

        def value(count: int) -> int | None:
            return count if known else None

        return {
            "issue_id": self.issue_id,
            "recipients": self.recipients,
            "webhook_configured": self.webhook_configured,
            "notice": self.notice,
            "delivered": value(self.delivered),
            "bounced": value(self.bounced),
            "dropped": value(self.dropped),
            "complaints": value(self.complaints),
            "unsubscribed": self.unsubscribed,
            "opened": value(self.opened),
            "clicked": value(self.clicked),
            "open_rate": self.open_rate if known else None,
            "click_rate": self.click_rate if known else None,
            "complaint_rate": self.complaint_rate if known else None,
            "complaint_level": self.complaint_level if known else None,
            "complaint_warning": known and self.complaint_level != "under",
            "events": self.events,
            "pending_events": self.pending_events,
            "links": [{"url": url, "clicks": clicks} for url, clicks in self.links],
            "chart": None if self.chart is None else asdict(self.chart),
        }


def issue_results(
    sessions: sessionmaker[Session], issue_id: int, *, webhook_configured: bool = True
) -> IssueResults:
    """The results of one issue from maintained aggregates (a handful of key lookups)."""
    with transaction(sessions) as session:
        issue = events_repo.get_issue(session, issue_id)
        if issue is None:
            raise NotFoundError(f"issue {issue_id} does not exist")
        totals = repo.outcome_totals(session, issue_id)
        counts = repo.event_counts(session, issue_id)
        unsubscribed = totals["unsubscribed"]
        chart = None
        if issue.send_started_at is not None:
            until = repo.next_send_start(session, issue)
            left = repo.unsubscribed_between(session, issue, issue.send_started_at, until)
            # SendGrid's unsubscribe events end memberships too: the larger figure holds both.
            unsubscribed = max(unsubscribed, left)
            chart = _chart(session, issue_id, issue.send_started_at)
        links = repo.link_clicks(session, issue_id, TOP_LINKS)
        pending = events_repo.count_pending(session)
        recipients = issue.recipients
    return IssueResults(
        issue_id=issue_id,
        recipients=recipients,
        webhook_configured=webhook_configured,
        delivered=totals["delivered"],
        bounced=totals["bounced"],
        dropped=totals["dropped"],
        complaints=totals["complained"],
        unsubscribed=unsubscribed,
        opened=totals["opened"],
        clicked=totals["clicked"],
        events=counts,
        pending_events=pending,
        links=links,
        chart=chart,
    )


def results_of(engine: Engine, issue_id: int, *, webhook_configured: bool) -> IssueResults:
    """``issue_results`` for a face that holds an engine (the CLI)."""
    return issue_results(session_factory(engine), issue_id, webhook_configured=webhook_configured)


def _chart(session: Session, issue_id: int, started: dt.datetime) -> HourlyChart:
    first_hour = int(started.timestamp()) // 3600
    series = {label: [0] * CHART_HOURS for label, _ in CHART_SERIES}
    label_of = {name: label for label, names in CHART_SERIES for name in names}
    for hour, event, count in repo.event_hours(session, issue_id, first_hour, CHART_HOURS):
        label = label_of.get(event)
        if label is not None:
            series[label][hour - first_hour] += count
    start = dt.datetime.fromtimestamp(first_hour * 3600, dt.UTC)
    return HourlyChart(start=start, hours=CHART_HOURS, series=series)
