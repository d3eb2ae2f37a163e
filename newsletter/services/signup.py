"""The web's audience use cases: sign up, confirm by link, unsubscribe by link.

They wrap ``services.audience`` with what only the web needs: tokens, the
confirmation email, and views for the pages. A token that fails verification is a
``TokenError``; the web turns it into a friendly page.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.addresses import normalize_email
from newsletter.audience.names import clean_name
from newsletter.audience.timezones import normalize_timezone
from newsletter.audience.tokens import TokenSigner
from newsletter.delivery.payload import MessageTemplate, Recipient, encode_batch
from newsletter.delivery.senders import Sender
from newsletter.errors import NotFoundError, TimezoneError, TokenError
from newsletter.logs import log_event
from newsletter.render import UNSUBSCRIBE_URL_TAG
from newsletter.render.renderer import RenderContext, render_email
from newsletter.services import audience, limits, metrics
from newsletter.settings import Settings
from newsletter.storage.db import transaction
from newsletter.storage.models import MembershipStatus
from newsletter.storage.repositories import lists, memberships, subscribers

log = logging.getLogger(__name__)

Sessions = sessionmaker[Session]
SIGNUP_SOURCE = "web-form"
CONFIRM_TEMPLATE = "confirm"
MAX_USER_AGENT = 500
MAX_IP = 64
# Sign-ups per client address, counted in the database so every worker and node share it.
SIGNUP_SCOPE = "signup-ip"
SIGNUP_WINDOWS: tuple[limits.Window, ...] = (limits.Window(60.0, 5),)
CONFIRM_SCOPE = "signup-confirmation"
# At most one confirmation per address and list in 6 hours, and 3 in a week.
CONFIRM_WINDOWS = (limits.Window(6 * 3600, 1), limits.Window(7 * 24 * 3600, 3))


@dataclass(frozen=True)
class SignupRequest:
    email: str
    name: str | None
    list_slug: str
    ip: str | None
    user_agent: str | None
    timezone: str | None = None
    """What the browser reported; an unknown name is dropped, never an error for the reader."""


@dataclass(frozen=True)
class PendingConfirmation:
    """A sign-up that needs its confirmation email."""

    subscriber_id: int
    list_id: int
    email: str
    name: str | None
    list_name: str


@dataclass(frozen=True)
class Confirmed:
    outcome: audience.ConfirmOutcome
    subscriber_id: int
    list_id: int
    list_name: str

    @property
    def newly(self) -> bool:
        """This request subscribed the person (not: already was, or left since)."""
        return self.outcome == audience.ConfirmOutcome.CONFIRMED


@dataclass(frozen=True)
class ConfirmView:
    """What the confirm page shows before the button is pressed; nothing has changed."""

    email_hint: str
    list_name: str
    subscribed: bool  # already confirmed: there is nothing to press
    withdrawn: bool = False  # left or suppressed since the link was made: pressing cannot help


@dataclass(frozen=True)
class UnsubscribeView:
    subscriber_id: int | None  # None: the person's record is gone
    list_id: int
    email_hint: str
    list_name: str | None
    other_lists: int  # live memberships besides this list
    subscribed: bool  # still on this list (pending or subscribed)


def mask_email(email: str) -> str:
    """``j•••@example.org``: enough to recognize one's address on a forwarded link."""
    local, at, domain = email.rpartition("@")
    if not at:
        return "•••"
    return f"{local[:1]}•••@{domain}"


def token_ref(token: str) -> str:
    """What logs may show of a token: a short prefix."""
    return token[:6] + "…"


def known_timezone(value: str | None) -> str | None:
    """The canonical zone name, or None for an empty or unknown one (old browsers)."""
    if not value:
        return None
    try:
        return normalize_timezone(value)
    except TimezoneError:
        return None


def default_list_slug(sessions: Sessions) -> str | None:
    """The only list's slug, so a form without a ``list`` field works on a one-list site."""
    with transaction(sessions) as session:
        found = lists.all_lists(session)
    return found[0].slug if len(found) == 1 else None


def check_signup(sessions: Sessions, request: SignupRequest) -> None:
    """What the form can be told at once: ``AddressError``, ``PersonNameError``, ``NotFoundError``.

    Only the request itself and the list are looked at, never the address's state, so
    this takes the same steps for a new, known or suppressed address.
    """
    normalize_email(request.email)
    clean_name(request.name)
    with transaction(sessions) as session:
        lists.get_by_slug(session, request.list_slug)


def request_signup(
    sessions: Sessions, request: SignupRequest, *, now: dt.datetime | None = None
) -> PendingConfirmation | None:
    """Record a pending sign-up; the confirmation that is due, if any.

    ``AddressError`` for an unusable address, ``NotFoundError`` for an unknown list.
    No confirmation is due for an address already subscribed or suppressed, nor within
    the cooldown (``CONFIRM_WINDOWS`` per address and list, whoever asks), so the form
    cannot be used to flood someone's inbox. The web runs this after its answer, which
    is the same for every address, so neither content nor timing tells them apart.
    """
    name = clean_name(request.name)
    result = audience.subscribe_pending(
        sessions,
        request.list_slug,
        request.email,
        name,
        source=SIGNUP_SOURCE,
        ip=(request.ip or "")[:MAX_IP] or None,
        user_agent=(request.user_agent or "")[:MAX_USER_AGENT] or None,
        first_name=name.split()[0] if name else None,
        timezone=known_timezone(request.timezone),
    )
    log_event(log, "signup.requested", outcome=str(result.outcome), list_id=result.list_id)
    metrics.SIGNUPS.labels(outcome=str(result.outcome)).inc()
    if not result.needs_confirmation or result.subscriber_id is None:
        return None
    subject = f"{result.list_id}:{normalize_email(result.email).key}"
    with transaction(sessions) as session:
        wait = limits.take(session, CONFIRM_SCOPE, subject, CONFIRM_WINDOWS, now=now)
        list_name = lists.get(session, result.list_id).name
    if wait is not None:
        log_event(
            log,
            "signup.confirmation_cooldown",
            "a confirmation went to this address recently: none sent this time",
            list_id=result.list_id,
            retry_in_s=round(wait),
        )
        return None
    return PendingConfirmation(result.subscriber_id, result.list_id, result.email, name, list_name)


def send_confirmation(
    settings: Settings, signer: TokenSigner, sender: Sender, pending: PendingConfirmation
) -> str:
    """Render and send the double opt-in email; returns the sender's message id or ''."""
    token = signer.confirm_token(pending.subscriber_id, pending.list_id)
    confirm_url = f"{settings.public_url}/confirm/{token}"
    context = RenderContext.from_settings(settings, pending.list_name)
    subject = f"Please confirm your subscription to {pending.list_name}"
    html, text = render_email(
        CONFIRM_TEMPLATE,
        {
            "person_name": pending.name or "",
            "confirm_url": confirm_url,
            "valid_hours": settings.confirm_token_max_age_hours,
        },
        context=context,
        subject=subject,
    )
    key = f"confirm-{pending.subscriber_id}-{pending.list_id}-{time.time_ns()}"
    message_id = send_to_member(
        settings,
        signer,
        sender,
        OneMessage("confirmation", subject, html, text, key),
        subscriber_id=pending.subscriber_id,
        list_id=pending.list_id,
        email=pending.email,
        name=pending.name,
    )
    log_event(log, "signup.confirmation_sent", list_id=pending.list_id, sender=sender.name, ref=key)
    return message_id


@dataclass(frozen=True)
class OneMessage:
    """A rendered email for one person: its kind (category), parts and batch key."""

    kind: str
    subject: str
    html: str
    text: str
    key: str


def send_to_member(
    settings: Settings,
    signer: TokenSigner,
    sender: Sender,
    message: OneMessage,
    *,
    subscriber_id: int,
    list_id: int,
    email: str,
    name: str | None,
    values: dict[str, str] | None = None,
) -> str:
    """Send ``message`` to one member with the list's unsubscribe headers; the message id.

    ``values`` maps substitution tags to this person's values; the unsubscribe URL is
    passed to it, so a template's footer link and the headers agree.
    """
    template = MessageTemplate(
        subject=message.subject,
        html=message.html,
        text=message.text,
        from_email=settings.from_email,
        from_name=settings.from_name,
        reply_to=settings.reply_to,
        categories=(message.kind,),
        custom_args={"kind": message.kind},
    )
    unsubscribe_url = f"{settings.public_url}/u/{signer.unsubscribe_token(subscriber_id, list_id)}"
    recipient = Recipient(
        email=email,
        name=name,
        substitutions=(values or {}) | ({UNSUBSCRIBE_URL_TAG: unsubscribe_url} if values else {}),
        unsubscribe_url=unsubscribe_url,
    )
    body = encode_batch(template, [recipient], batch=0)
    return sender.send(body, batch_key=message.key).message_id or ""


def describe_confirm(
    sessions: Sessions, signer: TokenSigner, token: str, *, max_age: dt.timedelta
) -> ConfirmView:
    """Check a confirm link and say whose it is; changes nothing (scanners GET every link)."""
    claim = signer.read_confirm(token, max_age=max_age)
    with transaction(sessions) as session:
        try:
            person = subscribers.get(session, claim.subscriber_id)
            list_name = lists.get(session, claim.list_id).name
        except NotFoundError as exc:
            raise TokenError("the confirmation link no longer matches a sign-up") from exc
        member = memberships.get(session, claim.list_id, claim.subscriber_id)
        if member is None:
            raise TokenError("the confirmation link no longer matches a sign-up")
        subscribed = (
            member.status == MembershipStatus.SUBSCRIBED and member.confirmed_at is not None
        )
        gone = audience.withdrawn_since(session, person.email_key, member, claim.issued_at)
        return ConfirmView(mask_email(person.email), list_name, subscribed, gone and not subscribed)


def confirm_signup(
    sessions: Sessions,
    signer: TokenSigner,
    token: str,
    *,
    max_age: dt.timedelta,
    ip: str | None,
    user_agent: str | None,
) -> Confirmed:
    """Subscribe the person a confirm token names, recording consent from this request.

    Only a sign-up still waiting is confirmed: an unsubscribe or suppression recorded
    after the link was made stands (``ConfirmOutcome.WITHDRAWN``).
    """
    claim = signer.read_confirm(token, max_age=max_age)
    try:
        result = audience.confirm(
            sessions,
            claim.subscriber_id,
            claim.list_id,
            ip=(ip or "")[:MAX_IP] or None,
            user_agent=(user_agent or "")[:MAX_USER_AGENT] or None,
            source=SIGNUP_SOURCE,
            issued_at=claim.issued_at,
        )
        with transaction(sessions) as session:
            list_name = lists.get(session, claim.list_id).name
    except NotFoundError as exc:
        # Genuine token, but the person or list was deleted since: the link is dead.
        raise TokenError("the confirmation link no longer matches a sign-up") from exc
    log_event(
        log,
        "signup.confirmed",
        list_id=claim.list_id,
        outcome=str(result.outcome),
        ref=token_ref(token),
    )
    metrics.CONFIRMATIONS.labels(outcome=str(result.outcome)).inc()
    return Confirmed(result.outcome, claim.subscriber_id, claim.list_id, list_name)


def describe_unsubscribe(sessions: Sessions, signer: TokenSigner, token: str) -> UnsubscribeView:
    """What the unsubscribe page shows for a token; changes nothing."""
    subscriber_id, list_id = signer.verify_unsubscribe(token)
    with transaction(sessions) as session:
        try:
            person = subscribers.get(session, subscriber_id)
        except NotFoundError:
            return UnsubscribeView(None, list_id, "your address", None, 0, False)
        list_name: str | None = None
        subscribed = False
        other = 0
        for membership, mailing_list in memberships.for_subscriber(session, subscriber_id):
            live = membership.status != MembershipStatus.UNSUBSCRIBED
            if mailing_list.id == list_id:
                list_name, subscribed = mailing_list.name, live
            elif live:
                other += 1
        return UnsubscribeView(
            subscriber_id, list_id, mask_email(person.email), list_name, other, subscribed
        )


def unsubscribe_with_token(
    sessions: Sessions, signer: TokenSigner, token: str, *, everywhere: bool, source: str
) -> int:
    """Unsubscribe from the token's list (or every list); how many memberships changed.

    Idempotent, and tokens never expire: a link from a years-old email still works.
    """
    subscriber_id, list_id = signer.verify_unsubscribe(token)
    try:
        result = audience.unsubscribe(
            sessions, subscriber_id, None if everywhere else list_id, source=source
        )
    except NotFoundError:
        # Nobody left to unsubscribe: the wish is already fulfilled.
        return 0
    log_event(
        log,
        "unsubscribe.done",
        list_id=None if everywhere else list_id,
        changed=result.changed,
        source=source,
        ref=token_ref(token),
    )
    return result.changed


def take_signup_slot(
    sessions: Sessions, ip: str, windows: tuple[limits.Window, ...] = SIGNUP_WINDOWS
) -> float | None:
    """Count one sign-up attempt from ``ip``; ``None`` if allowed, else seconds to wait."""
    with transaction(sessions) as session:
        return limits.take(session, SIGNUP_SCOPE, ip, windows)
