"""Console users: add, list, disable, change role, set a password, sign in.

Passwords are hashed with argon2 and never logged. A new user without a password gets
a one-time link: a signed token bound to the user's session epoch, so setting the
password (which bumps the epoch) spends it. Failed sign-ins are throttled per account
and per client address through the shared database limiter, and every refusal says
the same thing whether or not the account exists.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.addresses import normalize_email
from newsletter.errors import (
    AccessError,
    ConflictError,
    LoginError,
    LoginThrottledError,
    TokenError,
    TokenExpiredError,
)
from newsletter.services import limits
from newsletter.services.audit import record
from newsletter.settings import Settings
from newsletter.storage.db import transaction
from newsletter.storage.models import User, UserRole, utcnow
from newsletter.storage.repositories import users as repo

MIN_PASSWORD_LENGTH = 12
SETUP_LINK_MAX_AGE = dt.timedelta(hours=48)
# Ten tries per account and fifty per address in a quarter of an hour: enough for a
# person who mistypes, far too few for a guessing script.
ACCOUNT_WINDOWS = (limits.Window(15 * 60, 10),)
ADDRESS_WINDOWS = (limits.Window(15 * 60, 50),)
LOGIN_REFUSED = "That email and password do not match an active account."

# argon2-cffi's defaults (RFC 9106's second recommendation); tests swap in a cheaper one.
HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so both paths take as long.

    Made on first use, not at import: an argon2 hash costs ~0.5 s of CPU and 64 MB,
    which every CLI command paid before it did anything.
    """
    return HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class UserView:
    id: int
    email: str
    display_name: str
    role: UserRole
    disabled: bool
    has_password: bool
    session_epoch: int
    created_at: dt.datetime
    last_login_at: dt.datetime | None

    @property
    def label(self) -> str:
        return self.display_name or self.email

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.display_name,
            "role": str(self.role),
            "disabled": self.disabled,
            "has_password": self.has_password,
            "created_at": self.created_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


def _view(user: User) -> UserView:
    return UserView(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=UserRole(user.role),
        disabled=user.disabled,
        has_password=bool(user.password_hash),
        session_epoch=user.session_epoch,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def normalized(email: str) -> str:
    """The stored form of a console email (validated, lower-cased)."""
    return normalize_email(email).key


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")


def add_user(
    sessions: sessionmaker[Session],
    email: str,
    role: UserRole,
    *,
    name: str = "",
    password: str | None = None,
    actor: str = "cli",
) -> UserView:
    """Create a user, with a password or (``None``) waiting for its one-time link."""
    address = normalized(email)
    if password is not None:
        check_password(password)
    with transaction(sessions) as session:
        user = repo.create(
            session,
            email=address,
            role=role,
            display_name=name.strip(),
            password_hash=HASHER.hash(password) if password is not None else "",
        )
        record(session, actor, "user.add", f"user:{address}", f"role {role}")
        return _view(user)


def list_users(sessions: sessionmaker[Session]) -> list[UserView]:
    with transaction(sessions) as session:
        return [_view(u) for u in repo.all_users(session)]


def get_user(sessions: sessionmaker[Session], email: str) -> UserView:
    with transaction(sessions) as session:
        return _view(repo.get_by_email(session, normalized(email)))


def _keep_an_admin(session: Session, user: User) -> None:
    if user.role == UserRole.ADMIN and not user.disabled and repo.count_admins(session) <= 1:
        raise ConflictError(f"{user.email} is the last active admin; make another admin first")


def disable_user(sessions: sessionmaker[Session], email: str, *, actor: str = "cli") -> UserView:
    """Disable an account and end its sessions; the record stays for the audit log."""
    with transaction(sessions) as session:
        user = repo.get_by_email(session, normalized(email))
        _keep_an_admin(session, user)
        user.disabled = True
        user.session_epoch += 1
        record(session, actor, "user.disable", f"user:{user.email}")
        return _view(user)


def set_role(
    sessions: sessionmaker[Session], email: str, role: UserRole, *, actor: str = "cli"
) -> UserView:
    with transaction(sessions) as session:
        user = repo.get_by_email(session, normalized(email))
        if role != UserRole.ADMIN:
            _keep_an_admin(session, user)
        before = user.role
        user.role = role
        user.session_epoch += 1
        record(session, actor, "user.set_role", f"user:{user.email}", f"{before} -> {role}")
        return _view(user)


def session_user(sessions: sessionmaker[Session], user_id: int, epoch: int) -> UserView | None:
    """The signed-in user of a session, or None when it was ended or the user disabled."""
    with transaction(sessions) as session:
        user = repo.get(session, user_id)
        if user is None or user.disabled or user.session_epoch != epoch:
            return None
        return _view(user)


def end_sessions(sessions: sessionmaker[Session], user_id: int) -> None:
    """Logging out ends every session of that user (a copied cookie stops working too)."""
    with transaction(sessions) as session:
        user = repo.get(session, user_id)
        if user is not None:
            user.session_epoch += 1


def authenticate(
    sessions: sessionmaker[Session],
    email: str,
    password: str,
    *,
    client: str,
    now: dt.datetime | None = None,
) -> UserView:
    """The user when ``email`` and ``password`` match an active account.

    ``LoginThrottledError`` when this account or this address has tried too often;
    ``LoginError`` (one message for every reason) otherwise.
    """
    address = email.strip().lower()
    with transaction(sessions) as session:
        wait = limits.take(session, "login-address", client, ADDRESS_WINDOWS, now=now)
        if wait is None:
            wait = limits.take(session, "login-account", address, ACCOUNT_WINDOWS, now=now)
    if wait is not None:
        minutes = max(1, round(wait / 60))
        raise LoginThrottledError(
            f"Too many sign-in attempts. Please wait about {minutes} minute(s) and try again.",
            retry_after=wait,
        )
    with transaction(sessions) as session:
        user = repo.find_by_email(session, address)
        if not _verify(user.password_hash if user and user.password_hash else None, password):
            raise LoginError(LOGIN_REFUSED)
        assert user is not None
        if user.disabled:
            raise LoginError(LOGIN_REFUSED)
        if HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = HASHER.hash(password)
        user.last_login_at = now or utcnow()
        limits.clear(session, "login-account", address)
        return _view(user)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


# -- one-time set-password links -----------------------------------------------------------


def _serializer(cfg: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(cfg.signing_key(), salt="console-set-password")


def setup_token(cfg: Settings, user: UserView) -> str:
    return _serializer(cfg).dumps({"u": user.id, "e": user.session_epoch})


def setup_url(cfg: Settings, user: UserView) -> str:
    return f"{cfg.public_url}/admin/set-password/{setup_token(cfg, user)}"


def user_for_setup(cfg: Settings, sessions: sessionmaker[Session], token: str) -> UserView:
    """The user a set-password link is for; ``TokenError`` when forged, used or expired."""
    try:
        data = _serializer(cfg).loads(token, max_age=int(SETUP_LINK_MAX_AGE.total_seconds()))
    except SignatureExpired as exc:
        raise TokenExpiredError(
            "this set-password link has expired; ask an admin for a new one"
        ) from exc
    except BadSignature as exc:
        raise TokenError("this set-password link is not valid") from exc
    if not isinstance(data, dict):
        raise TokenError("this set-password link is not valid")
    user = session_user(sessions, int(data.get("u", 0)), int(data.get("e", -1)))
    if user is None:
        raise TokenError("this set-password link was already used or the account is disabled")
    return user


def set_password(
    cfg: Settings, sessions: sessionmaker[Session], token: str, password: str
) -> UserView:
    """Set the password through a one-time link; the link is spent afterwards."""
    check_password(password)
    target = user_for_setup(cfg, sessions, token)
    with transaction(sessions) as session:
        user = repo.get(session, target.id)
        if user is None or user.session_epoch != target.session_epoch:
            raise TokenError("this set-password link was already used")
        user.password_hash = HASHER.hash(password)
        user.session_epoch += 1
        record(session, user.email, "user.set_password", f"user:{user.email}")
        return _view(user)


def random_password() -> str:
    return secrets.token_urlsafe(15)
