"""Lists, subscribers, memberships (with the consent record) and global suppressions."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.storage.models.base import Base, UTCDateTime, string_enum, utcnow


def _only_with(column: str) -> dict[str, Any]:
    """A partial index's options: only the rows where ``column`` has a value."""
    where = text(f"{column} IS NOT NULL")
    return {"postgresql_where": where, "sqlite_where": where}


class MembershipStatus(enum.StrEnum):
    PENDING = "pending"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"


class SuppressionReason(enum.StrEnum):
    BOUNCE = "bounce"
    SPAMREPORT = "spamreport"
    UNSUBSCRIBE = "unsubscribe"
    MANUAL = "manual"
    INVALID = "invalid"


class MailingList(Base):
    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    from_name: Mapped[str | None] = mapped_column(String(200))
    from_email: Mapped[str | None] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Local-time delivery: "09:00" sends each member at 09:00 in their own zone, members
    # without one in ``timezone`` (or NEWSLETTER_TIMEZONE when that is empty too).
    local_time: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str | None] = mapped_column(String(64))


class Subscriber(Base):
    __tablename__ = "subscribers"
    # Few people are paused at once: the sendable count finds them through this index,
    # which holds only them (an import adds no entry to it; v0018).
    __table_args__ = (
        Index("ix_subscribers_paused_until", "paused_until", **_only_with("paused_until")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # As given, with the domain normalized (lower-case, IDNA); what we send to.
    email: Mapped[str] = mapped_column(String(320))
    # Lower-cased copy that makes the address unique case-insensitively on both backends.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    first_name: Mapped[str | None] = mapped_column(String(100))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # IANA name as the tz database spells it; None: the list's zone applies.
    timezone: Mapped[str | None] = mapped_column(String(64))
    # The preference centre's pause: nothing is sent before this instant (None: not paused).
    # The audience query compares it with the database's clock, so a pause ends by itself.
    paused_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("list_id", "subscriber_id", name="uq_memberships_list_subscriber"),
        # Serves the audience query: a range scan in subscriber order per list and status,
        # covering confirmed_at so the scan never visits the table.
        Index("ix_memberships_list_status", "list_id", "status", "subscriber_id", "confirmed_at"),
        # "Which lists is this person on?" (show, unsubscribe from all lists).
        Index("ix_memberships_subscriber", "subscriber_id"),
        # "Who left this list since an issue went out?" (an issue's unsubscribe count).
        # Only those who left are in it (v0018).
        Index(
            "ix_memberships_list_unsubscribed",
            "list_id",
            "unsubscribed_at",
            **_only_with("unsubscribed_at"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    status: Mapped[MembershipStatus] = mapped_column(
        string_enum(MembershipStatus, "membership_status")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # The consent record: where, from which address and browser, and when it was confirmed.
    consent_source: Mapped[str | None] = mapped_column(String(200))
    consent_ip: Mapped[str | None] = mapped_column(String(64))
    consent_user_agent: Mapped[str | None] = mapped_column(String(500))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Where the unsubscribe came from (link, one-click header, CLI, webhook): proof too.
    unsubscribe_source: Mapped[str | None] = mapped_column(String(200))
    # Set (compare-and-set) before the welcome email goes out: at most one per membership.
    welcomed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ListMemberCount(Base):
    """Members per list, status and confirmation, kept by database triggers (v0017).

    Written only by the triggers on ``memberships`` (see the migration), so no write
    path can forget them. On PostgreSQL each transaction adds to rows of its own
    (``slot`` = its transaction id), so writers never wait on each other; on SQLite
    everything is in slot 0. A count is the sum over the slots of its key;
    ``member_counts.fold`` merges the other slots into slot 0 now and then.
    """

    __tablename__ = "list_member_counts"
    __table_args__ = (
        UniqueConstraint(
            "list_id", "status", "confirmed", "slot", name="uq_list_member_counts_key"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key: a deleted list's rows sum to zero and are folded away.
    list_id: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(20))
    confirmed: Mapped[bool] = mapped_column()
    slot: Mapped[int] = mapped_column(BigInteger)
    members: Mapped[int] = mapped_column(BigInteger)


class PreferenceChange(Base):
    """One change made on the preference centre, recorded like consent: what, when, whence."""

    __tablename__ = "preference_changes"
    __table_args__ = (Index("ix_preference_changes_subscriber", "subscriber_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    # None for a change to every list (a pause).
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    # subscribe | unsubscribe | pause | resume
    action: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Suppression(Base):
    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(
        string_enum(SuppressionReason, "suppression_reason")
    )
    source: Mapped[str] = mapped_column(String(200), default="manual")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
