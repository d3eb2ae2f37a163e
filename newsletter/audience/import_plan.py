"""What to do with one chunk of imported rows, decided without touching the database.

The service looks up what exists (subscribers, suppressions, memberships on the
list), this module decides, and the service writes. Keeping the rules here makes
the consent rules easy to read and to test:

* a globally suppressed address is skipped, and nothing about it is written;
* someone who unsubscribed from this list is skipped, and nothing is written;
* a new address becomes a subscriber and a member (pending, or subscribed with
  ``--confirmed``);
* a known address that is not on the list joins it (added);
* a member keeps their status, except pending -> subscribed with ``--confirmed``;
* profile fields are merged: a cell in the file replaces the stored value, an
  empty cell never erases one.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from newsletter.audience.csv_import import CsvRow, SkipReason


class StoredProfile(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str | None: ...
    @property
    def first_name(self) -> str | None: ...
    @property
    def attributes(self) -> dict[str, Any]: ...
    @property
    def timezone(self) -> str | None: ...


# The report's words for the two consent skips; the PostgreSQL bulk path writes the same.
SUPPRESSED_DETAIL = "the address is globally suppressed"
UNSUBSCRIBED_DETAIL = "unsubscribed from this list before; not re-subscribed"


class MemberState(enum.StrEnum):
    PENDING = "pending"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"


class Outcome(enum.StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass
class ChunkPlan:
    new_subscribers: list[CsvRow] = field(default_factory=list)
    # (subscriber id, name, first name, attributes, timezone) for people whose profile changes
    profile_updates: list[tuple[int, str | None, str | None, dict[str, Any], str | None]] = field(
        default_factory=list
    )
    # existing subscribers who join the list
    join_ids: list[int] = field(default_factory=list)
    # pending members confirmed by an import with --confirmed
    confirm_ids: list[int] = field(default_factory=list)
    outcomes: list[tuple[CsvRow, Outcome]] = field(default_factory=list)
    skips: list[tuple[CsvRow, SkipReason, str]] = field(default_factory=list)


def merged_profile(
    stored: StoredProfile, row: CsvRow
) -> tuple[str | None, str | None, dict[str, Any], str | None] | None:
    """The merged profile, or None when the row changes nothing."""
    name = row.name or stored.name
    first_name = row.first_name or stored.first_name
    attributes = {**stored.attributes, **row.attributes}
    timezone = row.timezone or stored.timezone
    merged = (name, first_name, attributes, timezone)
    if merged == (stored.name, stored.first_name, stored.attributes, stored.timezone):
        return None
    return merged


def plan_chunk(
    rows: Sequence[CsvRow],
    *,
    existing: Mapping[str, StoredProfile],
    suppressed: set[str] | frozenset[str],
    states: Mapping[int, str],
    confirmed: bool,
) -> ChunkPlan:
    """Decide every row of a chunk (keys are unique within an import)."""
    plan = ChunkPlan()
    for row in rows:
        if row.key in suppressed:
            plan.skips.append((row, SkipReason.SUPPRESSED, SUPPRESSED_DETAIL))
            continue
        stored = existing.get(row.key)
        if stored is None:
            plan.new_subscribers.append(row)
            plan.outcomes.append((row, Outcome.ADDED))
            continue
        state = states.get(stored.id)
        if state == MemberState.UNSUBSCRIBED:
            plan.skips.append((row, SkipReason.UNSUBSCRIBED, UNSUBSCRIBED_DETAIL))
            continue
        merged = merged_profile(stored, row)
        if merged is not None:
            plan.profile_updates.append((stored.id, *merged))
        if state is None:
            plan.join_ids.append(stored.id)
            plan.outcomes.append((row, Outcome.ADDED))
        elif state == MemberState.PENDING and confirmed:
            plan.confirm_ids.append(stored.id)
            plan.outcomes.append((row, Outcome.UPDATED))
        else:
            outcome = Outcome.UNCHANGED if merged is None else Outcome.UPDATED
            plan.outcomes.append((row, outcome))
    return plan
