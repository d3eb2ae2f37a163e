"""All tables. Importing this package registers every model on ``Base.metadata``.

One module per family of tables, so the audience, issues, events and scheduling
work can evolve without touching each other.
"""

from __future__ import annotations

from newsletter.storage.models.audience import (
    ListMemberCount,
    MailingList,
    Membership,
    MembershipStatus,
    PreferenceChange,
    Subscriber,
    Suppression,
    SuppressionReason,
)
from newsletter.storage.models.base import Base, UTCDateTime, utcnow
from newsletter.storage.models.console import AuditEntry, User, UserRole
from newsletter.storage.models.events import (
    DeliveryOutcome,
    IssueEventCount,
    IssueEventHour,
    IssueLinkClick,
    IssueOutcomeTotals,
    WebhookEvent,
)
from newsletter.storage.models.issues import Delivery, DeliveryStatus, Issue, SendBatch
from newsletter.storage.models.limits import RateLimitHit
from newsletter.storage.models.scheduling import JobRun, SchedulerLease, SyncCursor
from newsletter.storage.types import BatchStatus, IssueStatus, JobRunStatus

__all__ = [
    "AuditEntry",
    "Base",
    "BatchStatus",
    "Delivery",
    "DeliveryOutcome",
    "DeliveryStatus",
    "Issue",
    "IssueEventCount",
    "IssueEventHour",
    "IssueLinkClick",
    "IssueOutcomeTotals",
    "IssueStatus",
    "JobRun",
    "JobRunStatus",
    "ListMemberCount",
    "MailingList",
    "Membership",
    "MembershipStatus",
    "PreferenceChange",
    "RateLimitHit",
    "SchedulerLease",
    "SendBatch",
    "Subscriber",
    "Suppression",
    "SuppressionReason",
    "SyncCursor",
    "UTCDateTime",
    "User",
    "UserRole",
    "WebhookEvent",
    "utcnow",
]
