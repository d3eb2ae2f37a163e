"""All tables. Importing this package registers every model on ``Base.metadata``.

One module per family of tables, so the audience, issues, events and scheduling
work can evolve without touching each other.
"""

from __future__ import annotations

from newsletter.storage.models.audience import (
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    Suppression,
    SuppressionReason,
)
from newsletter.storage.models.base import Base, UTCDateTime, utcnow

__all__ = [
    "Base",
    "MailingList",
    "Membership",
    "MembershipStatus",
    "Subscriber",
    "Suppression",
    "SuppressionReason",
    "UTCDateTime",
    "utcnow",
]
