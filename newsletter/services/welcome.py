"""The welcome email: sent once per membership, right after a confirmation.

"Once" is kept by the database, not by the caller: ``claim_welcome`` sets the
membership's ``welcomed_at`` by compare-and-set and commits before anything is sent.
Two confirmations racing get one welcome between them, and a crash after the claim
means that person gets none: a missing welcome is better than a repeated one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.tokens import TokenSigner
from newsletter.delivery.senders import Sender
from newsletter.errors import NewsletterError
from newsletter.logs import log_event
from newsletter.render import substitutions
from newsletter.render.renderer import RenderContext, render_email
from newsletter.services.archive import latest_issue_url
from newsletter.services.signup import OneMessage, send_to_member
from newsletter.settings import Settings
from newsletter.storage.db import transaction
from newsletter.storage.repositories import lists, memberships, subscribers

log = logging.getLogger(__name__)

WELCOME_TEMPLATE = "welcome"


@dataclass(frozen=True)
class _Welcome:
    email: str
    name: str | None
    first_name: str | None
    list_name: str
    list_slug: str
    latest_url: str | None


def send_welcome(
    settings: Settings,
    sessions: sessionmaker[Session],
    signer: TokenSigner,
    sender: Sender,
    *,
    subscriber_id: int,
    list_id: int,
) -> bool:
    """Welcome the member unless they were welcomed before; True when this call sent it."""
    with transaction(sessions) as session:
        if not memberships.claim_welcome(session, list_id, subscriber_id):
            return False
        welcome = _facts(settings, session, subscriber_id, list_id)
    try:
        _send(settings, signer, sender, welcome, subscriber_id, list_id)
    except NewsletterError as exc:
        # Claimed and not sent: logged for ops, never retried (see the module docstring).
        log_event(
            log, "welcome.failed", f"welcome not sent: {exc}", level=logging.ERROR, list_id=list_id
        )
        return False
    log_event(log, "welcome.sent", list_id=list_id, sender=sender.name)
    return True


def _facts(settings: Settings, session: Session, subscriber_id: int, list_id: int) -> _Welcome:
    person = subscribers.get(session, subscriber_id)
    mailing_list = lists.get(session, list_id)
    return _Welcome(
        email=person.email,
        name=person.name,
        first_name=person.first_name,
        list_name=mailing_list.name,
        list_slug=mailing_list.slug,
        latest_url=latest_issue_url(settings, session, mailing_list.slug),
    )


def _send(  # noqa: PLR0917 - private helper of send_welcome
    settings: Settings,
    signer: TokenSigner,
    sender: Sender,
    welcome: _Welcome,
    subscriber_id: int,
    list_id: int,
) -> None:
    subject = f"Welcome to {welcome.list_name}"
    html, text = render_email(
        WELCOME_TEMPLATE,
        {"latest_url": welcome.latest_url},
        context=RenderContext.from_settings(settings, welcome.list_name),
        subject=subject,
        require_unsubscribe=True,
    )
    send_to_member(
        settings,
        signer,
        sender,
        OneMessage("welcome", subject, html, text, f"welcome-{subscriber_id}-{list_id}"),
        subscriber_id=subscriber_id,
        list_id=list_id,
        email=welcome.email,
        name=welcome.name,
        values=substitutions(welcome.first_name, ""),
    )
