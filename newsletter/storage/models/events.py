"""SendGrid webhook events as received, and what they taught us per delivery and per issue.

``webhook_events`` is the store in store-then-process: a raw event is committed before
any effect is applied, so a crash between the two loses nothing (the ``processed`` flag
marks what is left to do). The other two tables are derived from processed events and
are updated with set-based upserts, so a 1000-event batch costs a handful of statements.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.storage.models.base import Base, UTCDateTime, utcnow

# Longer click URLs are cut to this many characters before they are counted.
LINK_URL_LIMIT = 1000


class WebhookEvent(Base):
    """One event exactly as SendGrid posted it, plus the columns it is deduplicated by."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        # Retried deliveries of a batch may carry a new sg_event_id for the same event.
        UniqueConstraint("sg_message_id", "event", "timestamp", name="uq_webhook_events_dedupe"),
        Index("ix_webhook_events_pending", "processed", "id"),
        # Retention deletes the oldest processed events first.
        Index("ix_webhook_events_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sg_event_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    sg_message_id: Mapped[str | None] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(320))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed: Mapped[bool] = mapped_column(Boolean, default=False)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Set when processing this event failed on its own: it was set aside (processed is
    # true) so that the events after it are not held back; ``newsletter status`` lists it.
    error: Mapped[str | None] = mapped_column(String(1000))


class DeliveryOutcome(Base):
    """What happened to one issue at one address, as far as the events tell.

    Keyed by address rather than subscriber id because events carry the address only;
    ``deliveries`` is the ledger and is never written from here.
    """

    __tablename__ = "delivery_outcomes"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    email_key: Mapped[str] = mapped_column(String(320), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # The furthest delivery state seen; events arrive out of order, so the rank decides.
    status: Mapped[str] = mapped_column(String(20))
    status_rank: Mapped[int] = mapped_column(SmallInteger)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    first_opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    first_clicked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    bounced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    complained_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    dropped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    opens: Mapped[int] = mapped_column(Integer, default=0)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Which "first time" columns were already set before the latest upsert (a bit per
    # column, see ``OUTCOME_BITS``): the upsert's RETURNING then says, under the row
    # lock, which people are new to each total, so the totals never double count.
    prev_seen: Mapped[int] = mapped_column(SmallInteger, default=0)


class IssueEventCount(Base):
    """How many events of one kind an issue has received (repeats included)."""

    __tablename__ = "issue_event_counts"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    event: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class IssueOutcomeTotals(Base):
    """Distinct people per outcome of one issue, maintained as events are processed.

    The results page and ``issue show`` read one row instead of counting a
    million ``delivery_outcomes`` rows.
    """

    __tablename__ = "issue_outcome_totals"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    opened: Mapped[int] = mapped_column(Integer, default=0)
    clicked: Mapped[int] = mapped_column(Integer, default=0)
    bounced: Mapped[int] = mapped_column(Integer, default=0)
    complained: Mapped[int] = mapped_column(Integer, default=0)
    unsubscribed: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[int] = mapped_column(Integer, default=0)


class IssueEventHour(Base):
    """Events of one kind per clock hour (Unix seconds // 3600) for one issue."""

    __tablename__ = "issue_event_hours"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class IssueLinkClick(Base):
    """Clicks (repeats included) on one link of one issue."""

    __tablename__ = "issue_link_clicks"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(String(LINK_URL_LIMIT), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
