"""The marketing console's people and its audit log."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.storage.models.base import Base, UTCDateTime, string_enum, utcnow


class UserRole(enum.StrEnum):
    """Each role may do everything the ones before it may (editor < approver < admin)."""

    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(UserRole).index(self)

    def allows(self, needed: UserRole) -> bool:
        return self.rank >= needed.rank


class User(Base):
    """A person who signs in to the console; the email is stored lower-cased."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[UserRole] = mapped_column(string_enum(UserRole, "user_role"))
    # Empty until the person sets one through their one-time link.
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped on logout, disable, role or password change: older session cookies stop working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who did what to which thing, and when; rows are only ever added."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_target_at", "target", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    # "issue:12", "content:articles/foo.md", "user:a@b.org": one string keeps it searchable.
    target: Mapped[str] = mapped_column(String(400))
    detail: Mapped[str] = mapped_column(Text, default="")
