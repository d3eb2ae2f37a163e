"""``newsletter status`` as plain data: the leader, the jobs, the queue, what needs a human.

Ops run it often, from shells and monitoring, so it starts fast: it reads the database
through Core (``repositories.overview``), takes cron fire times and the content
library's problems from the cache folder when they still hold (``RememberedFireTimes``,
``content_problems``), and so loads neither the ORM, nor APScheduler, nor the content
parser. Only a database with a held issue loads more (the hold summary's ledger reads).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import Engine

from newsletter.schedule_rules.fire_times import RememberedFireTimes
from newsletter.schedule_rules.specs import JOBS, LEASE_NAME
from newsletter.services.content_problems import content_problems
from newsletter.services.timing import window_closes
from newsletter.settings import Settings
from newsletter.storage.db import connected
from newsletter.storage.repositories import overview
from newsletter.storage.repositories.overview import LeaseInfo, RunInfo
from newsletter.storage.types import IssueStatus, JobRunStatus


def approval_state(status: IssueStatus, approved_hash: str | None, content_hash: str) -> str:
    if status == IssueStatus.DRAFT:
        return "needs approval"
    if approved_hash != content_hash:
        return "changed since approval: approve again"
    return "approved"


def scheduler_status(cfg: Settings, engine: Engine, now: dt.datetime) -> dict[str, Any]:
    """Everything ``newsletter status`` shows, as plain data (also its ``--json``)."""
    fires = RememberedFireTimes()
    today = now.astimezone(cfg.zone).date()
    with connected(engine) as db:
        lease = overview.get_lease(db, LEASE_NAME)
        last_run = overview.last_holder_run(db)
        jobs = []
        for spec in JOBS:
            last = overview.last_run(db, spec.id)
            jobs.append(
                {
                    "id": spec.id,
                    "schedule": spec.schedule_text(cfg),
                    "next_run": _iso(spec.next_run(cfg, now, fires=fires)),
                    "last_status": str(last.status) if last else None,
                    "last_started_at": _iso(last.started_at) if last else None,
                    "last_detail": last.detail if last and last.detail else None,
                }
            )
        upcoming = [
            {
                "id": i.id,
                "list": i.list_slug,
                "date": i.issue_date.isoformat(),
                "status": str(i.status),
                "approval": approval_state(i.status, i.approved_hash, i.content_hash),
                "approved_by": i.approved_by,
                "subject": i.subject,
            }
            for i in overview.upcoming(db, today)
        ]
        sends = overview.recent_sends(db)
        totals = overview.batch_totals(db, [i.id for i in sends])
        recent = [
            {
                "id": i.id,
                "list": i.list_slug,
                "date": i.issue_date.isoformat(),
                "status": str(i.status),
                "started_at": _iso(i.send_started_at),
                "sent_at": _iso(i.sent_at),
                "recipients": i.recipients,
                "accepted": totals[i.id].get("accepted", 0),
                "failed": totals[i.id].get("failed", 0),
                "unknown": totals[i.id].get("unknown", 0),
                "pending": totals[i.id].get("pending", 0) + totals[i.id].get("sending", 0),
            }
            for i in sends
        ]
        failed_sends = [_failed_send(cfg, s, now, fires) for s in recent if s["status"] == "failed"]
        unknown = [
            dataclasses.asdict(b) | {"issue_date": b.issue_date.isoformat()}
            for b in overview.unknown_batches(db)
        ]
        missed = [
            {
                "job": r.job_id,
                "scheduled_for": _iso(r.scheduled_for),
                "recorded_at": _iso(r.started_at),
                "detail": r.detail,
            }
            for r in overview.recent_runs(db, statuses=[JobRunStatus.MISSED], limit=10)
        ]
        failed_events = {
            "total": overview.count_failed_events(db),
            "recent": [
                {
                    "id": e.id,
                    "event": e.event,
                    "sg_event_id": e.sg_event_id,
                    "received_at": _iso(e.received_at),
                    "error": e.error,
                }
                for e in overview.failed_events(db)
            ],
        }
        held = overview.held_issues(db)
    return {
        "now": now.isoformat(),
        "timezone": cfg.timezone,
        "leader": _leader(lease, now, last_run),
        "jobs": jobs,
        "upcoming": upcoming,
        "recent_sends": recent,
        "failed_sends": failed_sends,
        "unknown_batches": unknown,
        "missed_runs": missed,
        "failed_events": failed_events,
        # Files the next assemble leaves out (or is stopped by, when an issue needs them).
        "content_problems": content_problems(cfg.content_dir),
        # Staged issues an operator cancelled or paused, and what SendGrid still delivers.
        "held_issues": _held(cfg, engine) if held else [],
    }


def _held(cfg: Settings, engine: Engine) -> list[dict[str, Any]]:
    from newsletter.services.hold import held_status  # the ledger's reads: only when held

    return held_status(cfg, engine)


def _failed_send(
    cfg: Settings, send: dict[str, Any], now: dt.datetime, fires: RememberedFireTimes
) -> dict[str, Any]:
    """A send that ended with failed batches: a failure, whatever its jobs reported."""
    closes = window_closes(cfg, dt.date.fromisoformat(send["date"]), fires=fires)
    return {
        "id": send["id"],
        "list": send["list"],
        "date": send["date"],
        "failed": send["failed"],
        "window_closes": closes.isoformat(),
        "retrying": now < closes,
        "command": f"newsletter issue send {send['id']}",
    }


def _leader(lease: LeaseInfo | None, now: dt.datetime, last_run: RunInfo | None) -> dict[str, Any]:
    if lease is None:
        if last_run is None:
            return {"state": "none", "holder": None}
        # Released on a clean stop (or after --once): schedulers have run, none leads now.
        return {
            "state": "stopped",
            "holder": last_run.holder,
            "last_run_job": last_run.job_id,
            "last_run_at": last_run.started_at.isoformat(),
        }
    alive = lease.expires_at > now
    return {
        "state": "leading" if alive else "expired",
        "holder": lease.holder,
        "since": lease.acquired_at.isoformat(),
        "heartbeat_age_s": round((now - lease.heartbeat_at).total_seconds()),
        "expires_in_s": round((lease.expires_at - now).total_seconds()),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
