"""When a staged issue is to be delivered: its ``send_at`` groups, and how to say so.

Every batch goes to SendGrid with a ``send_at`` at least ``NEWSLETTER_STAGE_LEAD_MINUTES``
ahead, so an unknown outcome can still be cancelled. The delivery time is the send
schedule's time on the issue date (``timing.due_time``), or, for a list with a local
time, that time on the issue date in each member's zone. Staging never reaches more than
72 hours ahead, SendGrid's limit for ``send_at``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from newsletter.audience.timezones import local_instant, parse_local_time, send_groups
from newsletter.delivery.ledger import StageGroup
from newsletter.delivery.senders.base import MAX_SEND_AT_AHEAD_SECONDS
from newsletter.errors import IssueStateError
from newsletter.services.timing import describe_time, due_time
from newsletter.settings import Settings
from newsletter.storage.models import Issue, MailingList
from newsletter.storage.repositories import ledger as ledger_repo

MIN_STAGE_LEAD = dt.timedelta(minutes=15)
"""A batch claimed later than planned moves its send_at to at least this far ahead."""
MAX_AHEAD = dt.timedelta(seconds=MAX_SEND_AT_AHEAD_SECONDS) - dt.timedelta(minutes=5)
"""How far ahead we stage at most: SendGrid's 72 h, less a margin for clock skew."""


def lead(cfg: Settings) -> dt.timedelta:
    return dt.timedelta(minutes=cfg.stage_lead_minutes)


def list_zone(cfg: Settings, mailing_list: MailingList) -> str:
    return mailing_list.timezone or cfg.timezone


def delivery_time(
    cfg: Settings, session: Session, issue: Issue, mailing_list: MailingList
) -> dt.datetime:
    """The first moment the issue is meant to reach anyone: for a local-time list, that
    time in the earliest zone among its sendable members."""
    if mailing_list.local_time:
        at = parse_local_time(mailing_list.local_time)
        zones = ledger_repo.sendable_zones(session, mailing_list.id)
        own = local_instant(issue.issue_date, at, list_zone(cfg, mailing_list))
        groups = send_groups(
            zones,
            day=issue.issue_date,
            at=at,
            default_zone=list_zone(cfg, mailing_list),
            earliest=dt.datetime.min.replace(tzinfo=dt.UTC),
        )
        return min([own, *(g.wanted for g in groups)])
    return due_time(cfg, issue.issue_date)


def plan_groups(
    cfg: Settings,
    session: Session,
    issue: Issue,
    mailing_list: MailingList,
    *,
    now: dt.datetime,
    deliver_now: bool = False,
) -> list[StageGroup]:
    """The ``send_at`` groups for staging ``issue`` now (earliest first).

    ``deliver_now`` (``issue send --now``) asks for the earliest possible time. A group
    more than 72 hours ahead cannot be staged yet: ``IssueStateError`` says when it can.
    """
    earliest = now + lead(cfg)
    if mailing_list.local_time and not deliver_now:
        at = parse_local_time(mailing_list.local_time)
        found = send_groups(
            ledger_repo.sendable_zones(session, mailing_list.id),
            day=issue.issue_date,
            at=at,
            default_zone=list_zone(cfg, mailing_list),
            earliest=earliest,
        )
        groups = [StageGroup(g.send_at, g.wanted, g.zones) for g in found]
    else:
        wanted = now if deliver_now else due_time(cfg, issue.issue_date)
        groups = [StageGroup(max(wanted, earliest), wanted)]
    latest = max(g.send_at for g in groups) if groups else earliest
    if latest > now + MAX_AHEAD:
        opens = latest - MAX_AHEAD
        raise IssueStateError(
            f"issue {issue.id} is delivered {describe_time(latest, cfg.zone)}: SendGrid holds "
            f"mail at most 72 hours, so it can be staged from "
            f"{describe_time(opens, cfg.zone)} (the scheduler does it on time)"
        )
    return groups


def describe_group(group: StageGroup, zone: ZoneInfo, now: dt.datetime) -> str:
    """``09:00 America/New_York, 31 min from now`` (or the date, when not today)."""
    local = group.send_at.astimezone(zone)
    minutes = max(0, round((group.send_at - now).total_seconds() / 60))
    if local.date() == now.astimezone(zone).date():
        when = f"{local:%H:%M} {zone.key}"
    else:
        when = describe_time(group.send_at, zone)
    ahead = f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"
    return f"{when}, {ahead} from now"
