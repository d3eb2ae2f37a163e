"""The tables the Core readers use, as lightweight ``table()`` clauses: no ORM, no models.

``newsletter status`` reads the scheduler's and the queue's state through these, so it
imports neither ``sqlalchemy.orm`` nor the models, which cost about 0.12 s of CPU per
command. Each clause names only the columns read through it; ``tests/test_overview.py``
checks every one against the models' own table, so a renamed or retyped column fails a
test rather than a status.
"""

from __future__ import annotations

from sqlalchemy import JSON, Date, Integer, String, column, table

from newsletter.storage.types import UTCDateTime

scheduler_leases = table(
    "scheduler_leases",
    column("name", String),
    column("holder", String),
    column("acquired_at", UTCDateTime()),
    column("heartbeat_at", UTCDateTime()),
    column("expires_at", UTCDateTime()),
)

job_runs = table(
    "job_runs",
    column("id", Integer),
    column("job_id", String),
    column("scheduled_for", UTCDateTime()),
    column("status", String),
    column("holder", String),
    column("started_at", UTCDateTime()),
    column("finished_at", UTCDateTime()),
    column("counts", JSON),
    column("detail", String),
)

lists = table("lists", column("id", Integer), column("slug", String))

issues = table(
    "issues",
    column("id", Integer),
    column("list_id", Integer),
    column("issue_date", Date),
    column("status", String),
    column("subject", String),
    column("content_hash", String),
    column("approved_by", String),
    column("approved_hash", String),
    column("send_started_at", UTCDateTime()),
    column("sent_at", UTCDateTime()),
    column("recipients", Integer),
    column("stage_hold", String),
)

send_batches = table(
    "send_batches",
    column("issue_id", Integer),
    column("batch_no", Integer),
    column("status", String),
    column("recipients", Integer),
    column("message_id", String),
    column("error", String),
    column("updated_at", UTCDateTime()),
    column("settle_step", String),
    column("settle_note", String),
    column("request_started_at", UTCDateTime()),
)

webhook_events = table(
    "webhook_events",
    column("id", Integer),
    column("sg_event_id", String),
    column("event", String),
    column("received_at", UTCDateTime()),
    column("error", String),
)

ALL = (scheduler_leases, job_runs, lists, issues, send_batches, webhook_events)
