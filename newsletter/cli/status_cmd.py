"""``newsletter status [--json]``: the leader, the jobs, the queue and what needs a human.

The lead registers :func:`status` on the root app.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from newsletter.cli import common
from newsletter.schedule_rules.clock import NOW_ENV, make_clock
from newsletter.services.status import scheduler_status


def status(as_json: bool = typer.Option(False, "--json", help="Print a JSON object.")) -> None:
    """Show the scheduler's leader, next runs, upcoming issues, sends and problems."""
    cfg = common.settings()
    now = make_clock(os.environ.get(NOW_ENV), cfg.zone).now()
    data = scheduler_status(cfg, common.engine(cfg), now)
    if as_json:
        common.print_json(data)
        return
    _print(data, cfg.zone)


def _local(value: str | None, zone: Any) -> str:
    if not value:
        return "-"
    return dt.datetime.fromisoformat(value).astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _print(data: dict[str, Any], zone: Any) -> None:
    out = common.console
    leader = data["leader"]
    if leader["state"] == "leading":
        out.print(
            f"Leader: {leader['holder']} (heartbeat {leader['heartbeat_age_s']} s ago, "
            f"lease expires in {leader['expires_in_s']} s)"
        )
    elif leader["state"] == "expired":
        out.print(
            f"Leader: [bold red]none[/] - the last one, {leader['holder']}, stopped renewing "
            f"{leader['heartbeat_age_s']} s ago (is the scheduler running?)"
        )
    elif leader["state"] == "stopped":
        out.print(
            f"Leader: [bold red]none[/] - no scheduler holds the lease now; the last one, "
            f"{escape(str(leader['holder']))}, stopped cleanly or ran --once (its last job, "
            f"{leader['last_run_job']}, started {_local(leader['last_run_at'], zone)})"
        )
    else:
        out.print("Leader: [bold red]none[/] - no scheduler has run on this database yet")

    jobs = Table(title="Jobs", title_justify="left")
    for column in ("job", "schedule", "next run", "last run"):
        jobs.add_column(column)
    for job in data["jobs"]:
        last = f"{job['last_status']} {_local(job['last_started_at'], zone)}"
        if job["last_status"] == "failed" and job.get("last_detail"):
            last += f": {job['last_detail']}"
        jobs.add_row(
            job["id"],
            escape(job["schedule"]),
            _local(job["next_run"], zone),
            escape(last) if job["last_status"] else "-",
        )
    out.print(jobs)

    _section(
        "Upcoming issues",
        ["id", "list", "date", "approval", "subject"],
        [[i["id"], i["list"], i["date"], i["approval"], i["subject"]] for i in data["upcoming"]],
        "none queued",
    )
    _section(
        "Last sends",
        ["id", "list", "date", "status", "recipients", "accepted", "failed", "unknown", "pending"],
        [
            [
                s["id"],
                s["list"],
                s["date"],
                s["status"],
                s["recipients"],
                s["accepted"],
                s["failed"],
                s["unknown"],
                s["pending"],
            ]
            for s in data["recent_sends"]
        ],
        "nothing sent yet",
    )
    _section(
        "FAILED sends (some recipients not sent; nobody gets the issue twice on a resume)",
        ["issue", "list", "date", "failed", "retrying", "resume by hand"],
        [
            [
                f["id"],
                f["list"],
                f["date"],
                f["failed"],
                f"until {_local(f['window_closes'], zone)}"
                if f["retrying"]
                else "no: window closed",
                f["command"],
            ]
            for f in data["failed_sends"]
        ],
        "none",
    )
    _section(
        "Unknown batches (staged ones settle themselves; see docs/operations.md)",
        ["issue", "list", "batch", "recipients", "message id", "request sent", "settling"],
        [
            [
                b["issue_id"],
                b["list_slug"],
                b["batch_no"],
                b["recipients"],
                b["message_id"] or "-",
                _local(b["request_started_at"] and str(b["request_started_at"]), zone),
                b.get("settle_note") or "not staged: needs a human",
            ]
            for b in data["unknown_batches"]
        ],
        "none",
    )
    _section(
        "Missed runs (not run late on purpose)",
        ["job", "scheduled for", "detail"],
        [[m["job"], _local(m["scheduled_for"], zone), m["detail"]] for m in data["missed_runs"]],
        "none",
    )
    _section(
        "Content problems (these files are left out of issues until fixed; "
        "`newsletter content check`)",
        ["problem"],
        [[problem] for problem in data["content_problems"]],
        "none",
    )
    failed = data["failed_events"]
    _section(
        f"Webhook events set aside ({failed['total']} in all; they no longer block the rest)",
        ["id", "event", "received", "error"],
        [
            [e["id"], e["event"], _local(e["received_at"], zone), e["error"]]
            for e in failed["recent"]
        ],
        "none",
    )
    _print_held(data)


def _print_held(data: dict[str, Any]) -> None:
    from rich.markup import escape

    for held in data.get("held_issues", []):
        common.console.print(escape(f"Held: issue {held['id']} {held['text']}"))


def _section(title: str, columns: list[str], rows: list[list[Any]], empty: str) -> None:
    if not rows:
        common.console.print(f"{title}: {empty}")
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(v)) for v in row))
    common.console.print(table)
