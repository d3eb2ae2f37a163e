"""``newsletter issue build|approve|send|test|list|show`` (``preview`` is in preview_cmd)."""

from __future__ import annotations

import datetime as dt
import getpass
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from newsletter.cli import common
from newsletter.cli.apps import issue_app
from newsletter.cli.results import print_results
from newsletter.delivery.runner import BatchEvent
from newsletter.services import issues as issue_service
from newsletter.services import issues_send, timing
from newsletter.services.issues import IssueView
from newsletter.services.issues_send import SendReport, SendStart
from newsletter.services.results import issue_results
from newsletter.services.staging import describe_group
from newsletter.settings import Settings
from newsletter.storage.db import session_factory
from newsletter.storage.models import BatchStatus, IssueStatus, utcnow

LOG_EVERY_SECONDS = 5.0

IssueId = Annotated[int, typer.Argument(metavar="ISSUE", help="The issue id.", min=1)]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@issue_app.command("build")
def build(
    list_slug: Annotated[str, typer.Option("--list", metavar="SLUG", help="The list.")],
    issue_date: Annotated[
        dt.datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
            help="Issue date; default: today in NEWSLETTER_TIMEZONE.",
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Cancel an unsent issue for that date first.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Assemble, render and store a draft issue; prints its id."""
    cfg = common.settings()
    view = issue_service.build_issue(
        cfg,
        common.engine(cfg),
        list_slug,
        issue_date.date() if issue_date else None,
        replace=replace,
    )
    if as_json:
        common.print_json(view.as_dict())
        return
    common.console.print(
        f"Built issue {view.id} for {view.list_slug} on {view.issue_date} (draft): {view.subject!r}"
    )
    for note in view.notes:
        common.console.print(f"[yellow]note:[/yellow] {note}")
    common.console.print(
        f"Next: `newsletter issue preview {view.id}`, "
        f"`newsletter issue test {view.id} --to you@example.org`, "
        f"`newsletter issue approve {view.id}`."
    )


@issue_app.command("approve")
def approve(
    issue_id: IssueId,
    by: Annotated[
        str | None, typer.Option("--by", metavar="NAME", help="Who approves; default: you.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Freeze a draft: sending will insist on exactly this content."""
    cfg = common.settings()
    view = issue_service.approve_issue(common.engine(cfg), issue_id, by=by or _whoami())
    if as_json:
        common.print_json(view.as_dict())
        return
    note = timing.delivery_note(cfg, view.id, view.issue_date, dt.datetime.now(dt.UTC))
    common.console.print(
        f"Approved issue {view.id} ({view.subject!r}) by {view.approved_by}; "
        f"content {view.content_hash[:12]}. {note}"
    )


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@issue_app.command("send")
def send(
    issue_id: IssueId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    resend_unknown: Annotated[
        bool,
        typer.Option(
            "--resend-unknown",
            help="Also resend batches whose outcome is unknown (may send twice to them).",
        ),
    ] = False,
    send_now: Annotated[
        bool,
        typer.Option(
            "--now", help="Deliver as soon as possible, not at the issue's delivery time."
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Stage an approved issue at SendGrid for its delivery time, or resume a partial send.

    SendGrid delivers it at the delivery time (--now: as soon as possible). Exit 1 unless
    every batch was accepted.
    """
    cfg = common.settings()
    cfg.signing_key()  # before any question is asked: the links must not be forgeable
    engine = common.engine(cfg)
    check = issues_send.check_send(cfg, engine, issue_id)
    if check.nothing_left:
        _nothing_to_do(check, as_json)
        return
    # Unstaged, an early send without --now is refused by the service below: no question.
    ask = not yes and (cfg.stage_sends or send_now or not check.early)
    if ask and not typer.confirm(_question(cfg, check, send_now), default=False, err=True):
        common.err_console.print("Not sent (use --yes in scripts).")
        raise typer.Exit(1)
    display = _Display(enabled=not as_json)
    with _stop_on_signals() as stop, display:
        report = issues_send.send_issue(
            cfg,
            engine,
            issue_id,
            send_now=send_now,
            now=check.now,
            resend_unknown=resend_unknown,
            should_stop=stop.is_set,
            on_start=display.start,
            on_batch=display.batch,
        )
    if as_json:
        common.print_json(report.as_dict())
    else:
        _print_report(report)
        _print_staging(report, cfg.zone)
    if not report.ok:
        raise typer.Exit(1)


def _question(cfg: Settings, check: issues_send.SendCheck, send_now: bool) -> str:
    view = check.view
    when = timing.describe_time(check.now, cfg.zone)
    due = timing.describe_time(check.due, cfg.zone)
    timing_note = (
        f"before its delivery time {due}" if check.early else f"its delivery time was {due}"
    )
    verb = "Resume" if view.status != IssueStatus.APPROVED else "Send"
    if cfg.stage_sends and view.status == IssueStatus.APPROVED:
        lead = dt.timedelta(minutes=cfg.stage_lead_minutes)
        wanted = check.now if send_now else check.due
        at = timing.describe_time(max(wanted, check.now + lead), cfg.zone)
        return (
            f"Stage issue {view.id} {view.subject!r} (dated "
            f"{timing.describe_date(view.issue_date)}) at SendGrid for {check.members:,} "
            f"sendable members of list {view.list_slug!r}? SendGrid delivers it {at} "
            "(local-time lists: at that time in each member's zone)."
        )
    return (
        f"{verb} issue {view.id} {view.subject!r} (dated {timing.describe_date(view.issue_date)}, "
        f"{view.status}) to {check.members:,} sendable members of list {view.list_slug!r} "
        f"now, {when} ({timing_note})?"
    )


def _nothing_to_do(check: issues_send.SendCheck, as_json: bool) -> None:
    view = check.view
    accepted = view.counts.recipients_in(BatchStatus.ACCEPTED) if view.counts else 0
    if as_json:
        common.print_json(
            {"id": view.id, "status": str(view.status), "ok": True, "nothing_to_do": True}
        )
        return
    sent = f" on {view.sent_at:%Y-%m-%d %H:%M} UTC" if view.sent_at else ""
    common.console.print(
        f"Issue {view.id} was already sent{sent} ({accepted:,} accepted, no batch left "
        "to send or with an unknown outcome): nothing to do."
    )


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM stop new batches; requests in flight finish and are recorded."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():
            return
        stop.set()
        common.err_console.print(
            f"{signal.Signals(signum).name}: finishing requests in flight, then stopping "
            "(run the same command again to resume)."
        )

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _Display:
    """A Rich progress bar on a terminal, a log line every few seconds otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = enabled and common.err_console.is_terminal
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.total = self.done = self.skipped = 0
        self.counts: dict[BatchStatus, int] = {}
        self.started = self.logged = time.monotonic()

    def __enter__(self) -> _Display:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def start(self, info: SendStart) -> None:
        self.total = info.to_send
        self.started = self.logged = time.monotonic()
        if not self.enabled:
            return
        rec = info.recovery
        if rec.became_unknown:
            common.err_console.print(
                f"[yellow]{len(rec.became_unknown)} batch(es) were in flight when an earlier "
                f"run stopped; their outcome is unknown: {_numbers(rec.became_unknown)}[/yellow]"
            )
        if rec.failed_retried:
            common.err_console.print(f"Retrying failed batch(es) {_numbers(rec.failed_retried)}.")
        common.err_console.print(
            f"Issue {info.issue_id} to {info.list_slug!r}: {info.recipients:,} in the snapshot, "
            f"{info.to_send:,} to send in {info.batches:,} batch(es)."
        )
        if self.tty:
            self.progress = Progress(
                TextColumn("[bold]sending"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}/s"),
                TimeRemainingColumn(),
                console=common.err_console,
                transient=False,
            )
            self.task = self.progress.add_task("send", total=max(info.to_send, 1), rate="0")
            self.progress.start()

    def batch(self, event: BatchEvent) -> None:
        self.counts[event.status] = self.counts.get(event.status, 0) + 1
        self.done += event.recipients + event.skipped
        self.skipped += event.skipped
        now = time.monotonic()
        rate = self.done / max(now - self.started, 1e-6)
        if event.status in (BatchStatus.FAILED, BatchStatus.UNKNOWN) and self.enabled:
            common.err_console.print(
                f"[red]batch {event.batch_no} {event.status}:[/red] {event.error}"
            )
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=self.done, rate=f"{rate:,.0f}")
        elif self.enabled and not self.tty and now - self.logged >= LOG_EVERY_SECONDS:
            self.logged = now
            left = (self.total - self.done) / rate if rate else 0.0
            common.err_console.print(
                f"progress: {self.done:,}/{self.total:,} recipients, {rate:,.0f}/s, "
                f"about {left:,.0f}s left"
            )


def _numbers(values: list[int], limit: int = 20) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" … ({len(values)} in all)" if len(values) > limit else "")


def _print_report(report: SendReport) -> None:
    counts = report.counts
    table = Table(title=f"Issue {report.issue_id} to {report.list_slug}: {report.status}")
    table.add_column("outcome")
    table.add_column("recipients", justify="right")
    table.add_column("batches", justify="right")
    for label, status in [
        ("accepted", BatchStatus.ACCEPTED),
        ("failed", BatchStatus.FAILED),
        ("unknown", BatchStatus.UNKNOWN),
        ("pending", BatchStatus.PENDING),
    ]:
        table.add_row(label, f"{counts.recipients_in(status):,}", f"{counts.batches_in(status):,}")
    table.add_row("skipped (left or suppressed)", f"{counts.skipped:,}", "")
    common.console.print(table)
    where = ""
    if report.sender == "outbox":
        where = f"; the requests are files under {common.settings().outbox_dir}"
    common.console.print(f"Took {report.elapsed:,.1f}s via the {report.sender} sender{where}.")
    if report.run.auth_error:
        common.err_console.print(
            f"[red]stopped: the provider refused the API key:[/red] {report.run.auth_error}"
        )
    elif report.run.stopped:
        common.err_console.print("Stopped on request; run the same command again to resume.")
    for batch in report.failed:
        where = f" (field {batch.error_field})" if batch.error_field else ""
        common.err_console.print(f"[red]batch {batch.batch_no} failed{where}:[/red] {batch.error}")
    if report.unknown and report.groups:
        for batch in report.unknown[:20]:
            common.err_console.print(
                f"[yellow]batch {batch.batch_no} unknown:[/yellow] {batch.settle_note or ''}"
            )
    elif report.unknown:
        numbers = _numbers([b.batch_no for b in report.unknown])
        common.err_console.print(
            f"[yellow]{len(report.unknown)} batch(es) have an unknown outcome ({numbers}): "
            "they may or may not have been delivered. They are not resent automatically; "
            f"`newsletter issue send {report.issue_id} --resend-unknown` resends them.[/yellow]"
        )
    if report.failed:
        common.err_console.print(
            f"Failed batches are retried by `newsletter issue send {report.issue_id}`."
        )


def _print_staging(report: SendReport, zone: ZoneInfo) -> None:
    if not report.groups:
        return
    now = utcnow()
    for group in report.groups[:8]:
        shown = zone
        if group.zones and group.zones[0]:
            shown = ZoneInfo(group.zones[0])
        others = (
            f" (and {len(group.zones) - 1} more zones)"
            if group.zones and len(group.zones) > 1
            else ""
        )
        late = " - later than wanted: that time had passed" if group.send_at > group.wanted else ""
        common.console.print(
            f"staged; SendGrid delivers at {describe_group(group, shown, now)}{others}{late}"
        )
    if len(report.groups) > 8:
        common.console.print(f"… and {len(report.groups) - 8} more delivery times.")
    settled = report.settled
    if settled.resent:
        common.console.print(
            f"Settled {len(settled.resent)} batch(es) whose outcome was unknown: cancelled at "
            f"SendGrid (confirmed) and resent ({_numbers(settled.resent)})."
        )
    if report.queued:
        common.err_console.print(
            f"[yellow]{len(report.queued)} unknown batch(es) queued: SendGrid holds at most 10 "
            "paused or cancelled batches at once; the next run settles them.[/yellow]"
        )


@issue_app.command("test")
def test(
    issue_id: IssueId,
    to: Annotated[
        list[str], typer.Option("--to", metavar="EMAIL", help="A recipient (repeatable).")
    ],
    as_json: AsJson = False,
) -> None:
    """Send the issue to these addresses only, marked [TEST]; no ledger rows."""
    cfg = common.settings()
    result = issues_send.send_test(cfg, common.engine(cfg), issue_id, to)
    if as_json:
        common.print_json(result.as_dict())
        return
    where = f" (written under {cfg.outbox_dir})" if result.sender == "outbox" else ""
    common.console.print(
        f"Sent {result.subject!r} to {', '.join(result.to)} via {result.sender}{where}."
    )


@issue_app.command("list")
def list_(
    list_slug: Annotated[
        str | None, typer.Option("--list", metavar="SLUG", help="Only this list.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    as_json: AsJson = False,
) -> None:
    """The newest issues, with their status."""
    cfg = common.settings()
    views = issue_service.list_issues(common.engine(cfg), list_slug=list_slug, limit=limit)
    if as_json:
        common.print_json([v.as_dict() for v in views])
        return
    if not views:
        common.console.print("No issues yet: `newsletter issue build --list SLUG`.")
        return
    table = Table("id", "list", "date", "status", "recipients", "subject")
    for v in views:
        table.add_row(
            str(v.id),
            v.list_slug,
            v.issue_date.isoformat(),
            str(v.status),
            f"{v.recipients:,}" if v.recipients else "",
            v.subject,
        )
    common.console.print(table)


@issue_app.command("show")
def show(issue_id: IssueId, as_json: AsJson = False) -> None:
    """One issue: its state, content, ledger counts and what the events say."""
    cfg = common.settings()
    engine = common.engine(cfg)
    view = issue_service.show_issue(engine, issue_id)
    results = issue_results(
        session_factory(engine),
        issue_id,
        webhook_configured=cfg.sendgrid_webhook_public_key is not None,
    )
    if as_json:
        common.print_json({**view.as_dict(), "results": results.as_dict()})
        return
    _print_view(view)
    print_results(results)


def _print_view(view: IssueView) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Issue", f"{view.id} ({view.source})")
    table.add_row("List / date", f"{view.list_slug} / {view.issue_date}")
    table.add_row("Status", str(view.status))
    table.add_row("Subject", view.subject)
    table.add_row("Preheader", view.preheader)
    table.add_row("Articles", ", ".join(view.article_slugs) or "(none)")
    table.add_row("Tips", ", ".join(view.tip_slugs) or "(none)")
    table.add_row("Content", view.content_hash[:16])
    if view.approved_at:
        table.add_row("Approved", f"{view.approved_at:%Y-%m-%d %H:%M} UTC by {view.approved_by}")
    if view.send_started_at:
        table.add_row("Send started", f"{view.send_started_at:%Y-%m-%d %H:%M:%S} UTC")
    if view.sent_at:
        table.add_row("Sent", f"{view.sent_at:%Y-%m-%d %H:%M:%S} UTC")
    common.console.print(table)
    if view.counts is None:
        return
    counts = view.counts
    ledger = Table("batch status", "batches", "recipients", title="Ledger")
    for status in BatchStatus:
        ledger.add_row(
            str(status), f"{counts.batches_in(status):,}", f"{counts.recipients_in(status):,}"
        )
    ledger.add_row("skipped", "", f"{counts.skipped:,}")
    common.console.print(ledger)
    for batch in view.problem_batches[:50]:
        note = f" [{batch.settle_note}]" if batch.settle_note else ""
        common.console.print(
            f"batch {batch.batch_no}: {batch.status}, {batch.recipients - batch.skipped} "
            f"recipients, {batch.attempts} attempt(s): {batch.error or ''}{note}"
        )
