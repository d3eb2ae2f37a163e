"""Mailing lists."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.errors import ConflictError, NotFoundError
from newsletter.storage.models import MailingList


def create(
    session: Session,
    *,
    slug: str,
    name: str,
    description: str = "",
    from_name: str | None = None,
    from_email: str | None = None,
    reply_to: str | None = None,
) -> MailingList:
    """Insert a list; ``ConflictError`` when the slug is taken."""
    mailing_list = MailingList(
        slug=slug,
        name=name,
        description=description,
        from_name=from_name,
        from_email=from_email,
        reply_to=reply_to,
    )
    try:
        with session.begin_nested():
            session.add(mailing_list)
            session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"a list with slug {slug!r} already exists") from exc
    return mailing_list


def get(session: Session, list_id: int) -> MailingList:
    found = session.get(MailingList, list_id)
    if found is None:
        raise NotFoundError(f"no list with id {list_id}")
    return found


def get_by_slug(session: Session, slug: str) -> MailingList:
    found = session.scalars(select(MailingList).where(MailingList.slug == slug)).first()
    if found is None:
        known = ", ".join(session.scalars(select(MailingList.slug).order_by(MailingList.slug)))
        hint = f" (known lists: {known})" if known else " (no lists yet: `newsletter lists create`)"
        raise NotFoundError(f"no list with slug {slug!r}{hint}")
    return found


def all_lists(session: Session) -> list[MailingList]:
    return list(session.scalars(select(MailingList).order_by(MailingList.slug)))
