"""Rate-limit hits, kept in the database so every web worker and node counts the same."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.storage.models.base import Base, UTCDateTime


class RateLimitHit(Base):
    """One allowed hit of one subject (hashed) in one scope, e.g. a signup from an address."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_scope_subject_at", "scope", "subject", "at"),)

    id: Mapped[int] = mapped_column(
        # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
    )
    scope: Mapped[str] = mapped_column(String(40))
    # A SHA-256 of the subject: limits on e-mail addresses must not keep the address itself.
    subject: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
