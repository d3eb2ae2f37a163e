"""Console users."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.errors import ConflictError, NotFoundError
from newsletter.storage.models import User, UserRole


def create(
    session: Session, *, email: str, role: UserRole, display_name: str, password_hash: str
) -> User:
    """Insert a user; ``ConflictError`` when the email is taken."""
    user = User(
        email=email,
        role=role,
        display_name=display_name,
        password_hash=password_hash,
        disabled=False,
        session_epoch=0,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"a user with email {email!r} already exists") from exc
    return user


def find_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email)).first()


def get_by_email(session: Session, email: str) -> User:
    found = find_by_email(session, email)
    if found is None:
        raise NotFoundError(f"no console user with email {email!r} (see `newsletter users list`)")
    return found


def get(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def all_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def count_admins(session: Session) -> int:
    rows = session.scalars(
        select(User.id).where(User.role == UserRole.ADMIN, User.disabled.is_(False))
    )
    return len(list(rows))
