"""Issues, their send batches and the per-recipient deliveries (the send ledger).

``deliveries`` is the one table that grows with the audience (a row per recipient per
issue), so it stays lean: a composite primary key instead of a surrogate id, no
foreign key to ``subscribers`` (the row is a snapshot that carries the address, and a
foreign key there would make every subscriber delete scan the whole table), and no
timestamps (the batch row has them).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.storage.models.base import Base, UTCDateTime, string_enum, utcnow
from newsletter.storage.types import BatchStatus, IssueStatus


class DeliveryStatus(enum.StrEnum):
    """Whether a person was still queued or was skipped; the outcome is the batch's."""

    QUEUED = "queued"
    SKIPPED = "skipped"


class Issue(Base):
    __tablename__ = "issues"
    __table_args__ = (
        # At most one live issue per list and date; cancelled ones stay as history.
        Index(
            "uq_issues_list_date_live",
            "list_id",
            "issue_date",
            unique=True,
            sqlite_where=text("status <> 'cancelled'"),
            postgresql_where=text("status <> 'cancelled'"),
        ),
        Index("ix_issues_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="RESTRICT"))
    issue_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[IssueStatus] = mapped_column(string_enum(IssueStatus, "issue_status"))
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(String(300), default="")
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    article_slugs: Mapped[list[str]] = mapped_column(JSON, default=list)
    tip_slugs: Mapped[list[str]] = mapped_column(JSON, default=list)
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20), default="auto")
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The intro note's Markdown, so a rebuild or reschedule keeps it.
    intro: Mapped[str] = mapped_column(Text, default="")
    # Whether a person chose the subject / preheader (queue, compose): a rebuild keeps a
    # chosen one and derives the others afresh from the lead article, which may have changed.
    subject_chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    preheader_chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_hash: Mapped[str | None] = mapped_column(String(64))
    send_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The audience snapshot: complete once every delivery row and batch row is written.
    snapshot_done: Mapped[bool] = mapped_column(Boolean, default=False)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    batch_count: Mapped[int] = mapped_column(Integer, default=0)
    # Who is sending right now: "host:pid:nonce", held until lease_until.
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Staged sends: the send_at groups fixed when staging began, each
    # {"send_at": ISO, "wanted": ISO, "zones": [..] | null}, earliest first.
    stage_plan: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    # An operator's stop of a staged issue: "cancel" or "pause" (None: none).
    stage_hold: Mapped[str | None] = mapped_column(String(20))


class SendBatch(Base):
    __tablename__ = "send_batches"
    __table_args__ = (UniqueConstraint("issue_id", "batch_no", name="uq_send_batches_issue_batch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    batch_no: Mapped[int] = mapped_column(Integer)
    status: Mapped[BatchStatus] = mapped_column(string_enum(BatchStatus, "batch_status"))
    recipients: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    error_field: Mapped[str | None] = mapped_column(String(200))
    status_code: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The SendGrid batch id of the latest request (stored before it goes out) and when
    # SendGrid is to deliver it.
    sg_batch_id: Mapped[str | None] = mapped_column(String(100))
    send_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Settling an unknown outcome: "cancelling" (asked SendGrid, not yet confirmed),
    # "queued" (10 batches already held), "fallback" (left to the webhook), or a held
    # issue's "cancel"/"pause"; the note says what happened, and which rule settled it.
    settle_step: Mapped[str | None] = mapped_column(String(20))
    settle_note: Mapped[str | None] = mapped_column(Text)
    # Which rule settled an unknown outcome: "cancelled" (cancelled at SendGrid and
    # resent), "webhook" (processed/delivered events for it), "grace" (no event while
    # later batches had some: resent), "operator" (mark-accepted or --resend-unknown).
    settle_rule: Mapped[str | None] = mapped_column(String(20))
    # processed/delivered webhook events carrying this batch's number (and batch id).
    events_seen: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Committed just before a request's bytes are written; cleared once SendGrid definitely
    # did not accept it (429/5xx answered). A batch found ``sending`` with none never left.
    request_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_issue_batch", "issue_id", "batch_no"),)

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    subscriber_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    batch_no: Mapped[int] = mapped_column(Integer)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    first_name: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[DeliveryStatus] = mapped_column(string_enum(DeliveryStatus, "delivery_status"))
    skip_reason: Mapped[str | None] = mapped_column(String(40))
