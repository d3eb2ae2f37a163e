"""What the send ledger hands around: claimed batches, outcomes, stage groups, leases.

Plain values and small rules with no database access, kept apart from ``Ledger`` (the
transactions) so that each module stays readable. ``newsletter.delivery.ledger``
re-exports them; import from there.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from dataclasses import dataclass, field

from newsletter.errors import IssueStateError
from newsletter.render.model import RenderedIssue
from newsletter.storage.models import BatchStatus, Issue

# (subscriber_id, email, name, first_name): one recipient of a claimed batch.
QueuedRow = tuple[int, str, str | None, str | None]


@dataclass(frozen=True)
class ClaimedBatch:
    """A batch this process now owns (status ``sending``), with who is still in it."""

    batch_no: int
    recipients: list[QueuedRow]
    newly_skipped: int
    sg_batch_id: str | None = None
    send_at: dt.datetime | None = None
    """When SendGrid is to deliver it (None: at once, an unstaged send)."""


@dataclass(frozen=True)
class StageGroup:
    """Members who share one ``send_at``; ``zones`` None means everyone on the list."""

    send_at: dt.datetime
    wanted: dt.datetime
    zones: tuple[str, ...] | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "send_at": self.send_at.isoformat(),
            "wanted": self.wanted.isoformat(),
            "zones": None if self.zones is None else list(self.zones),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> StageGroup:
        zones = data.get("zones")
        return cls(
            dt.datetime.fromisoformat(str(data["send_at"])),
            dt.datetime.fromisoformat(str(data["wanted"])),
            None if zones is None else tuple(str(z) for z in zones),  # type: ignore[attr-defined]
        )


@dataclass(frozen=True)
class Recovery:
    """What ``recover`` found from earlier runs."""

    became_unknown: list[int]
    failed_retried: list[int]
    unknown_resent: list[int]
    back_to_pending: list[int] = field(default_factory=list)
    """Left ``sending`` by a dead process before their request started: sent again."""


@dataclass(frozen=True)
class Outcome:
    """How one claimed batch ended, as the runner reports it to the ledger."""

    batch_no: int
    status: BatchStatus
    message_id: str | None = None
    error: str | None = None
    error_field: str | None = None
    status_code: int | None = None


def new_lease_owner(host: str | None = None) -> str:
    """``host:pid:random``; ``host`` is ``NEWSLETTER_HOST_NAME`` (default: the host name)."""
    return f"{host or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_is_live(
    owner: str | None, until: dt.datetime | None, now: dt.datetime, *, host: str | None = None
) -> bool:
    """Whether another sender may still be working under this lease.

    On this host (``host``, default the host name) a dead holder's process is seen at
    once; a holder on another host is trusted until its lease expires.
    """
    if owner is None or until is None or until <= now:
        return False
    holder_host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if holder_host != (host or socket.gethostname()) or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def verify_approval(issue: Issue) -> None:
    """The stored snapshot must be exactly what was approved."""
    current = RenderedIssue(issue.subject, issue.preheader, issue.html, issue.text).content_hash
    if issue.approved_hash is None:
        raise IssueStateError(
            f"issue {issue.id} is not approved: run `newsletter issue approve {issue.id}`"
        )
    if issue.approved_hash != current or issue.content_hash != current:
        raise IssueStateError(
            f"issue {issue.id}: the stored content no longer matches what was approved "
            f"(approved {issue.approved_hash[:12]}, now {current[:12]}); approve it again"
        )
