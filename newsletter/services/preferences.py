"""The preference centre behind ``/u/TOKEN``: which lists, a pause, or leaving.

The unsubscribe token is the key, as for one-click unsubscribe: whoever holds it got
one of our emails at that address. Every change is recorded in ``preference_changes``
with the time, source, IP address and browser, the way consent is; a list chosen
here is subscribed with this request as its consent record.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.tokens import TokenSigner
from newsletter.errors import NotFoundError, PreferenceError, TokenError
from newsletter.logs import log_event
from newsletter.services.signup import MAX_IP, MAX_USER_AGENT, mask_email, token_ref
from newsletter.settings import Settings
from newsletter.storage.db import transaction
from newsletter.storage.models import MembershipStatus, utcnow
from newsletter.storage.repositories import lists, memberships, preferences, subscribers

log = logging.getLogger(__name__)

SOURCE = "web:preferences"
PAUSE_DAYS = 28
MAX_PAUSE_DAYS = 366


class Pause(enum.StrEnum):
    KEEP = "keep"  # leave the pause as it is (none, or the one running)
    FOUR_WEEKS = "4-weeks"
    UNTIL = "until"
    RESUME = "resume"


@dataclass(frozen=True)
class ListChoice:
    slug: str
    name: str
    description: str
    subscribed: bool


@dataclass(frozen=True)
class PreferencesView:
    email_hint: str
    list_slug: str | None
    lists: tuple[ListChoice, ...]
    paused_until: dt.date | None
    """The first day mail comes again, in the clinic's time zone; None: not paused."""


@dataclass(frozen=True)
class Saved:
    changes: tuple[str, ...]
    view: PreferencesView


def describe_preferences(
    cfg: Settings, sessions: sessionmaker[Session], signer: TokenSigner, token: str
) -> PreferencesView:
    """What the page shows for a token; changes nothing (scanners GET every link)."""
    subscriber_id, list_id = signer.verify_unsubscribe(token)
    with transaction(sessions) as session:
        return _view(cfg, session, subscriber_id, list_id)


def _view(cfg: Settings, session: Session, subscriber_id: int, list_id: int) -> PreferencesView:
    try:
        person = subscribers.get(session, subscriber_id)
    except NotFoundError as exc:
        raise TokenError("the link's subscriber no longer exists") from exc
    live = {
        m.list_id
        for m, _ in memberships.for_subscriber(session, subscriber_id)
        if m.status == MembershipStatus.SUBSCRIBED
    }
    choices = tuple(
        ListChoice(ml.slug, ml.name, ml.description, ml.id in live)
        for ml in lists.all_lists(session)
    )
    own = next((ml.slug for ml in lists.all_lists(session) if ml.id == list_id), None)
    now = utcnow()
    paused = person.paused_until
    resume_day = paused.astimezone(cfg.zone).date() if paused and paused > now else None
    return PreferencesView(mask_email(person.email), own, choices, resume_day)


def resume_instant(cfg: Settings, pause: Pause, until: dt.date | None) -> dt.datetime | None:
    """When mail starts again for this choice: midnight, clinic time, of the resume day."""
    today = cfg.today()
    if pause == Pause.FOUR_WEEKS:
        day = today + dt.timedelta(days=PAUSE_DAYS)
    elif pause == Pause.UNTIL:
        if until is None:
            raise PreferenceError("choose the date when our emails should start again")
        if until <= today:
            raise PreferenceError(f"{until:%B} {until.day} is not in the future: pick a later date")
        if until > today + dt.timedelta(days=MAX_PAUSE_DAYS):
            raise PreferenceError("a pause can last up to a year: pick an earlier date")
        day = until
    else:
        return None
    return dt.datetime.combine(day, dt.time(0), tzinfo=cfg.zone).astimezone(dt.UTC)


def save_preferences(
    cfg: Settings,
    sessions: sessionmaker[Session],
    signer: TokenSigner,
    token: str,
    *,
    chosen: Collection[str],
    pause: Pause,
    until: dt.date | None,
    ip: str | None,
    user_agent: str | None,
) -> Saved:
    """Apply the form: subscribe the chosen lists, leave the others, set the pause."""
    subscriber_id, list_id = signer.verify_unsubscribe(token)
    resume = resume_instant(cfg, pause, until)
    ip = (ip or "")[:MAX_IP] or None
    user_agent = (user_agent or "")[:MAX_USER_AGENT] or None
    done: list[str] = []
    with transaction(sessions) as session:
        _view(cfg, session, subscriber_id, list_id)  # the person still exists
        current = {m.list_id: m for m, _ in memberships.for_subscriber(session, subscriber_id)}
        for ml in lists.all_lists(session):
            member = current.get(ml.id)
            on = member is not None and member.status == MembershipStatus.SUBSCRIBED
            if ml.slug in chosen and not on:
                if member is None:
                    member, _ = memberships.ensure(
                        session,
                        list_id=ml.id,
                        subscriber_id=subscriber_id,
                        status=MembershipStatus.PENDING,
                    )
                memberships.confirm(session, member, source=SOURCE, ip=ip, user_agent=user_agent)
                action = "subscribe"
            elif (
                ml.slug not in chosen
                and member is not None
                and (member.status != MembershipStatus.UNSUBSCRIBED)
            ):
                memberships.unsubscribe(session, subscriber_id, ml.id, source=SOURCE)
                action = "unsubscribe"
            else:
                continue
            preferences.record(
                session,
                subscriber_id=subscriber_id,
                list_id=ml.id,
                action=action,
                detail=ml.slug,
                source=SOURCE,
                ip=ip,
                user_agent=user_agent,
            )
            done.append(f"{action} {ml.slug}")
        if pause != Pause.KEEP:
            preferences.set_pause(session, subscriber_id, resume)
            action = "resume" if resume is None else "pause"
            detail = "" if resume is None else f"until {resume.isoformat()}"
            preferences.record(
                session,
                subscriber_id=subscriber_id,
                list_id=None,
                action=action,
                detail=detail,
                source=SOURCE,
                ip=ip,
                user_agent=user_agent,
            )
            done.append(f"{action} {detail}".strip())
        view = _view(cfg, session, subscriber_id, list_id)
    log_event(log, "preferences.saved", changes=len(done), ref=token_ref(token))
    return Saved(tuple(done), view)
