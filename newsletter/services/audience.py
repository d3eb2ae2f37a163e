"""Audience use cases shared by the CLI, the web app and the scheduler.

Every function takes a ``sessionmaker`` and runs its own unit of work. Results are
frozen dataclasses, safe to use after the session is gone.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.addresses import normalize_email
from newsletter.audience.import_report import ImportSummary
from newsletter.audience.names import clean_name
from newsletter.audience.timezones import normalize_timezone, parse_local_time
from newsletter.errors import AudienceError, NotFoundError
from newsletter.services import lifecycle
from newsletter.services.audience_csv import IMPORT_CHUNK, export_csv, import_csv
from newsletter.storage.db import transaction
from newsletter.storage.models import (
    MailingList,
    Membership,
    MembershipStatus,
    Suppression,
    SuppressionReason,
)
from newsletter.storage.repositories import audience as audience_repo
from newsletter.storage.repositories import lists, memberships, subscribers, suppressions

__all__ = [
    "IMPORT_CHUNK",
    "ConfirmOutcome",
    "ConfirmResult",
    "ImportSummary",
    "ListCounts",
    "ListInfo",
    "MembershipView",
    "SubscribeOutcome",
    "SubscribeResult",
    "SubscriberView",
    "SuppressionInfo",
    "UnsubscribeResult",
    "add_subscriber",
    "add_suppression",
    "confirm",
    "create_list",
    "export_csv",
    "get_list",
    "import_csv",
    "list_suppressions",
    "lists_with_counts",
    "remove_suppression",
    "show_subscriber",
    "subscribe_pending",
    "unsubscribe",
    "unsubscribe_email",
    "update_list_delivery",
]

Sessions = sessionmaker[Session]
SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,118}[a-z0-9])?")


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class ListInfo:
    id: int
    slug: str
    name: str
    description: str
    from_name: str | None
    from_email: str | None
    reply_to: str | None
    created_at: dt.datetime
    local_time: str | None = None
    """``HH:MM``: each member gets the issue at this time in their own zone; None: off."""
    timezone: str | None = None
    """The zone for members without one (None: NEWSLETTER_TIMEZONE)."""

    @classmethod
    def of(cls, row: MailingList) -> ListInfo:
        return cls(
            row.id,
            row.slug,
            row.name,
            row.description,
            row.from_name,
            row.from_email,
            row.reply_to,
            row.created_at,
            row.local_time,
            row.timezone,
        )


@dataclass(frozen=True)
class ListCounts:
    list: ListInfo
    pending: int
    subscribed: int
    unsubscribed: int
    sendable: int


class SubscribeOutcome(enum.StrEnum):
    CREATED = "created"
    ALREADY_PENDING = "already_pending"
    ALREADY_SUBSCRIBED = "already_subscribed"
    SUPPRESSED = "suppressed"
    # Unsubscribed from this list before: stays unsubscribed until they confirm again.
    UNSUBSCRIBED_BEFORE = "unsubscribed_before"


@dataclass(frozen=True)
class SubscribeResult:
    outcome: SubscribeOutcome
    email: str
    list_id: int
    subscriber_id: int | None

    @property
    def needs_confirmation(self) -> bool:
        """Whether a confirmation email should go out for this request."""
        return self.outcome in (
            SubscribeOutcome.CREATED,
            SubscribeOutcome.ALREADY_PENDING,
            SubscribeOutcome.UNSUBSCRIBED_BEFORE,
        )


class ConfirmOutcome(enum.StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_SUBSCRIBED = "already_subscribed"
    # The person left (or the address was suppressed) after the link was made: the
    # old link must not undo that; signing up again sends a fresh one.
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class ConfirmResult:
    outcome: ConfirmOutcome
    subscriber_id: int
    list_id: int
    email: str

    @property
    def confirmed(self) -> bool:
        """Whether this call subscribed the person."""
        return self.outcome == ConfirmOutcome.CONFIRMED


@dataclass(frozen=True)
class UnsubscribeResult:
    subscriber_id: int
    email: str
    changed: int  # memberships that went to unsubscribed (0: already were)


@dataclass(frozen=True)
class SuppressionInfo:
    email: str
    reason: SuppressionReason
    source: str
    created_at: dt.datetime

    @classmethod
    def of(cls, row: Suppression) -> SuppressionInfo:
        return cls(row.email, SuppressionReason(row.reason), row.source, row.created_at)


@dataclass(frozen=True)
class MembershipView:
    list_slug: str
    status: MembershipStatus
    created_at: dt.datetime
    consent_source: str | None
    consent_ip: str | None
    consent_user_agent: str | None
    confirmed_at: dt.datetime | None
    unsubscribed_at: dt.datetime | None
    unsubscribe_source: str | None

    @classmethod
    def of(cls, row: Membership, slug: str) -> MembershipView:
        return cls(
            slug,
            MembershipStatus(row.status),
            row.created_at,
            row.consent_source,
            row.consent_ip,
            row.consent_user_agent,
            row.confirmed_at,
            row.unsubscribed_at,
            row.unsubscribe_source,
        )


@dataclass(frozen=True)
class SubscriberView:
    email: str
    subscriber_id: int | None  # None: only a suppression is known for this address
    name: str | None
    first_name: str | None
    attributes: dict[str, Any]
    created_at: dt.datetime | None
    memberships: tuple[MembershipView, ...]
    suppression: SuppressionInfo | None
    timezone: str | None = None


# ---------------------------------------------------------------- lists


def create_list(
    sessions: Sessions,
    slug: str,
    name: str,
    *,
    description: str = "",
    from_name: str | None = None,
    from_email: str | None = None,
    reply_to: str | None = None,
    local_time: str | None = None,
    timezone: str | None = None,
) -> ListInfo:
    """Create a list; ``ConflictError`` if the slug exists."""
    if not SLUG_PATTERN.fullmatch(slug):
        raise AudienceError(
            f"list slug {slug!r} is not valid: use lower-case letters, digits and hyphens"
        )
    if not name.strip():
        raise AudienceError(f"list {slug!r} needs a name")
    senders = {"from email": from_email, "reply-to": reply_to}
    checked = {k: normalize_email(v).email if v else None for k, v in senders.items()}
    delivery = _delivery_values(local_time, timezone)
    with transaction(sessions) as session:
        row = lists.create(
            session,
            slug=slug,
            name=name.strip(),
            description=description,
            from_name=from_name,
            from_email=checked["from email"],
            reply_to=checked["reply-to"],
        )
        row.local_time, row.timezone = delivery
        return ListInfo.of(row)


def _delivery_values(local_time: str | None, timezone: str | None) -> tuple[str | None, str | None]:
    """``local_time`` as ``HH:MM`` (``off``/None: none) and ``timezone`` as an IANA name."""
    at = None
    if local_time is not None and local_time.strip().lower() != "off":
        at = f"{parse_local_time(local_time):%H:%M}"
    return at, normalize_timezone(timezone) if timezone else None


_UNCHANGED = "unchanged"


def update_list_delivery(
    sessions: Sessions,
    slug: str,
    *,
    local_time: str | None = _UNCHANGED,
    timezone: str | None = _UNCHANGED,
) -> ListInfo:
    """Turn local-time delivery on (``HH:MM``) or off (``off``), or set the list's zone."""
    with transaction(sessions) as session:
        row = lists.get_by_slug(session, slug)
        if local_time != _UNCHANGED:
            row.local_time = _delivery_values(local_time, None)[0]
        if timezone != _UNCHANGED:
            row.timezone = _delivery_values(None, timezone)[1]
        return ListInfo.of(row)


def get_list(sessions: Sessions, slug: str) -> ListInfo:
    with transaction(sessions) as session:
        return ListInfo.of(lists.get_by_slug(session, slug))


def lists_with_counts(sessions: Sessions) -> list[ListCounts]:
    """Every list with its member counts by status and how many are sendable."""
    with transaction(sessions) as session:
        counts = memberships.counts_by_status(session)
        result = []
        for row in lists.all_lists(session):
            by_status = counts.get(row.id, dict.fromkeys(MembershipStatus, 0))
            result.append(
                ListCounts(
                    ListInfo.of(row),
                    pending=by_status[MembershipStatus.PENDING],
                    subscribed=by_status[MembershipStatus.SUBSCRIBED],
                    unsubscribed=by_status[MembershipStatus.UNSUBSCRIBED],
                    sendable=audience_repo.count_sendable(session, row.id),
                )
            )
        return result


# ---------------------------------------------------------------- people


def subscribe_pending(
    sessions: Sessions,
    list_slug: str,
    email: str,
    name: str | None,
    *,
    source: str,
    ip: str | None,
    user_agent: str | None,
    first_name: str | None = None,
    timezone: str | None = None,
) -> SubscribeResult:
    """A sign-up awaiting double opt-in. ``AddressError`` for a bad address.

    ``timezone`` (an IANA name, e.g. the browser's) is stored when given; the latest
    one given wins, since people move.

    Nothing here re-subscribes anyone: a former member stays unsubscribed and a
    suppressed address stays out until ``confirm`` records fresh consent.
    ``PersonNameError`` for a name that ``audience.names`` refuses.
    """
    address = normalize_email(email)
    name = clean_name(name, "name")
    first_name = clean_name(first_name, "first name")
    zone = normalize_timezone(timezone) if timezone else None
    with transaction(sessions) as session:
        mailing_list = lists.get_by_slug(session, list_slug)
        suppressed = suppressions.get(session, address.key) is not None
        if suppressed or lifecycle.is_erased(session, address.key):
            existing = subscribers.get_by_key(session, address.key)
            return SubscribeResult(
                SubscribeOutcome.SUPPRESSED,
                address.email,
                mailing_list.id,
                existing.id if existing else None,
            )
        person, _ = subscribers.ensure(
            session,
            email=address.email,
            email_key=address.key,
            name=name or None,
            first_name=first_name or None,
        )
        if zone is not None and person.timezone != zone:
            person.timezone = zone
        member, created = memberships.ensure(
            session,
            list_id=mailing_list.id,
            subscriber_id=person.id,
            status=MembershipStatus.PENDING,
            consent_source=source,
            consent_ip=ip,
            consent_user_agent=user_agent,
        )
        outcome = {
            MembershipStatus.PENDING: SubscribeOutcome.ALREADY_PENDING,
            MembershipStatus.SUBSCRIBED: SubscribeOutcome.ALREADY_SUBSCRIBED,
            MembershipStatus.UNSUBSCRIBED: SubscribeOutcome.UNSUBSCRIBED_BEFORE,
        }[MembershipStatus(member.status)]
        if created:
            outcome = SubscribeOutcome.CREATED
        return SubscribeResult(outcome, person.email, mailing_list.id, person.id)


def add_subscriber(
    sessions: Sessions,
    list_slug: str,
    email: str,
    *,
    name: str | None = None,
    first_name: str | None = None,
    confirmed: bool = False,
    source: str = "cli:add",
    timezone: str | None = None,
) -> SubscribeResult:
    """Add one person by hand; with ``confirmed`` consent was given elsewhere."""
    result = subscribe_pending(
        sessions,
        list_slug,
        email,
        name,
        source=source,
        ip=None,
        user_agent=None,
        first_name=first_name,
        timezone=timezone,
    )
    if confirmed and result.outcome in (
        SubscribeOutcome.CREATED,
        SubscribeOutcome.ALREADY_PENDING,
    ):
        assert result.subscriber_id is not None
        confirm(
            sessions,
            result.subscriber_id,
            result.list_id,
            ip=None,
            user_agent=None,
            source=f"{source} (consent given elsewhere)",
        )
    return result


def confirm(
    sessions: Sessions,
    subscriber_id: int,
    list_id: int,
    *,
    ip: str | None,
    user_agent: str | None,
    source: str,
    issued_at: dt.datetime | None = None,
) -> ConfirmResult:
    """Double opt-in done: subscribed, with this act as the consent record.

    With ``issued_at`` (a confirm link's issue time) only a pending membership, or
    one whose unsubscribe predates the link (a later sign-up), is subscribed; an
    unsubscribe or suppression recorded since the link was made wins (``WITHDRAWN``).
    """
    with transaction(sessions) as session:
        person = subscribers.get(session, subscriber_id)
        member = memberships.get(session, list_id, subscriber_id)
        if member is None:
            raise NotFoundError(f"{person.email} never asked to join list {list_id}")

        def result(outcome: ConfirmOutcome) -> ConfirmResult:
            return ConfirmResult(outcome, subscriber_id, list_id, person.email)

        if member.status == MembershipStatus.SUBSCRIBED and member.confirmed_at is not None:
            return result(ConfirmOutcome.ALREADY_SUBSCRIBED)
        if issued_at is not None and withdrawn_since(session, person.email_key, member, issued_at):
            return result(ConfirmOutcome.WITHDRAWN)
        memberships.confirm(session, member, source=source, ip=ip, user_agent=user_agent)
        return result(ConfirmOutcome.CONFIRMED)


def withdrawn_since(
    session: Session, email_key: str, member: Membership, issued_at: dt.datetime
) -> bool:
    # A suppression (bounce, complaint, manual) is never lifted by a link, whenever it came:
    # sign-ups for suppressed addresses send no link, so any link predates it.
    if suppressions.get(session, email_key) is not None:
        return True
    if member.status != MembershipStatus.UNSUBSCRIBED:
        return False
    # Unsubscribed: the link may only come from a sign-up made after leaving. Tokens
    # carry whole seconds, so an unsubscribe within the link's second counts as later.
    left = member.unsubscribed_at
    return left is None or left >= issued_at


def unsubscribe(
    sessions: Sessions, subscriber_id: int, list_id: int | None, *, source: str
) -> UnsubscribeResult:
    """Unsubscribe from one list, or from all (``None``). Idempotent.

    Only memberships change; no global suppression is added, so the person can
    sign up again through the form (with a fresh confirmation).
    """
    with transaction(sessions) as session:
        person = subscribers.get(session, subscriber_id)
        changed = memberships.unsubscribe(session, subscriber_id, list_id, source=source)
        return UnsubscribeResult(subscriber_id, person.email, changed)


def unsubscribe_email(
    sessions: Sessions, email: str, list_slug: str | None, *, source: str
) -> UnsubscribeResult:
    """``unsubscribe`` by address (and list slug); the record is kept."""
    address = normalize_email(email)
    with transaction(sessions) as session:
        person = subscribers.get_by_key(session, address.key)
        if person is None:
            raise NotFoundError(f"no subscriber {address.email}")
        list_id = lists.get_by_slug(session, list_slug).id if list_slug else None
        subscriber_id = person.id
    return unsubscribe(sessions, subscriber_id, list_id, source=source)


def show_subscriber(sessions: Sessions, email: str) -> SubscriberView:
    """Everything known about an address: profile, memberships, consent, suppression."""
    address = normalize_email(email)
    with transaction(sessions) as session:
        person = subscribers.get_by_key(session, address.key)
        suppression = suppressions.get(session, address.key)
        if person is None and suppression is None:
            raise NotFoundError(f"no subscriber or suppression for {address.email}")
        shown = (
            ()
            if person is None
            else tuple(
                MembershipView.of(m, ml.slug)
                for m, ml in memberships.for_subscriber(session, person.id)
            )
        )
        return SubscriberView(
            email=person.email if person else suppression.email if suppression else address.email,
            subscriber_id=person.id if person else None,
            name=person.name if person else None,
            first_name=person.first_name if person else None,
            attributes=dict(person.attributes) if person else {},
            created_at=person.created_at if person else None,
            memberships=shown,
            suppression=SuppressionInfo.of(suppression) if suppression else None,
            timezone=person.timezone if person else None,
        )


# ---------------------------------------------------------------- suppressions


def add_suppression(
    sessions: Sessions, email: str, reason: SuppressionReason, *, source: str
) -> tuple[SuppressionInfo, bool]:
    """Suppress an address everywhere; (suppression, created). An existing one is kept."""
    address = normalize_email(email)
    with transaction(sessions) as session:
        row, created = suppressions.add(
            session, email=address.email, email_key=address.key, reason=reason, source=source
        )
        return SuppressionInfo.of(row), created


def remove_suppression(sessions: Sessions, email: str) -> SuppressionInfo:
    """Lift a suppression; ``NotFoundError`` when there is none."""
    address = normalize_email(email)
    with transaction(sessions) as session:
        row = suppressions.get(session, address.key)
        if row is None:
            raise NotFoundError(f"{address.email} is not suppressed")
        info = SuppressionInfo.of(row)
        suppressions.remove(session, address.key)
        return info


def list_suppressions(
    sessions: Sessions, *, reason: SuppressionReason | None = None, limit: int | None = None
) -> list[SuppressionInfo]:
    with transaction(sessions) as session:
        return [
            SuppressionInfo.of(r)
            for r in suppressions.list_all(session, reason=reason, limit=limit)
        ]
