"""``newsletter issue send``: stage or send an approved issue, resume one, resend unknowns."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli import common
from newsletter.cli.apps import issue_app
from newsletter.cli.send_display import Display, numbers, stop_on_signals
from newsletter.storage.models import BatchStatus, IssueStatus, utcnow

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from newsletter.services.issues_send import SendReport
    from newsletter.services.send_check import SendCheck
    from newsletter.services.unknown import UnknownBatch
    from newsletter.settings import Settings

IssueId = Annotated[int, typer.Argument(metavar="ISSUE", help="The issue id.", min=1)]


@issue_app.command("send")
def send(
    issue_id: IssueId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    resend_unknown: Annotated[
        bool,
        typer.Option(
            "--resend-unknown",
            help="Also resend batches whose outcome is unknown (may send twice to them); "
            "with --batch only those.",
        ),
    ] = False,
    batches: Annotated[
        list[int] | None,
        typer.Option(
            "--batch",
            metavar="N",
            min=1,
            help="With --resend-unknown: resend only this unknown batch (repeatable).",
        ),
    ] = None,
    send_now: Annotated[
        bool,
        typer.Option(
            "--now", help="Deliver as soon as possible, not at the issue's delivery time."
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be sent; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Stage an approved issue at SendGrid for its delivery time, or resume a partial send.

    SendGrid delivers it at the delivery time (--now: as soon as possible). Exit 1 unless
    every batch was accepted.
    """
    from newsletter.services import issues_send
    from newsletter.services import unknown as unknown_service
    from newsletter.services.send_check import check_send

    if batches and not resend_unknown:
        raise typer.BadParameter(
            "--batch chooses which unknown batches --resend-unknown resends; "
            "add --resend-unknown (or use `newsletter issue mark-accepted --batch N`)",
            param_hint="--batch",
        )
    cfg = common.settings()
    cfg.signing_key()  # before any question is asked: the links must not be forgeable
    engine = common.engine(cfg, sending=True)
    check = check_send(cfg, engine, issue_id)
    resend: list[UnknownBatch] = []
    if resend_unknown:
        resend = unknown_service.choose_unknown(engine, issue_id, batches or None, action="resent")
    if check.nothing_left and not resend:
        _nothing_to_do(check, as_json)
        return
    question = _question(cfg, check, send_now, resend)
    if dry_run:
        if as_json:
            common.print_json(
                {
                    "id": issue_id,
                    "dry_run": True,
                    "would": question,
                    "resend_unknown": [b.as_dict() for b in resend],
                }
            )
        else:
            common.console.print(f"Dry run, nothing sent. Would: {question.rstrip('?')}.")
        return
    # Unstaged, an early send without --now is refused by the service below: no question.
    ask = not yes and (cfg.stage_sends or send_now or not check.early or bool(resend))
    if ask and not typer.confirm(question, default=False, err=True):
        common.err_console.print("Not sent (use --yes in scripts).")
        raise typer.Exit(1)
    display = Display(enabled=not as_json)
    with stop_on_signals() as stop, display:
        report = issues_send.send_issue(
            cfg,
            engine,
            issue_id,
            send_now=send_now,
            now=check.now,
            resend_unknown=resend_unknown,
            resend_batches=batches or None,
            should_stop=stop.is_set,
            on_start=display.start,
            on_batch=display.batch,
        )
    if as_json:
        common.print_json(report.as_dict())
    else:
        _print_report(report, cfg)
        _print_staging(report, cfg.zone)
    if not report.ok:
        raise typer.Exit(1)


def _question(cfg: Settings, check: SendCheck, send_now: bool, resend: list[UnknownBatch]) -> str:
    from newsletter.services import timing
    from newsletter.services.unknown import describe

    view = check.view
    when = timing.describe_time(check.now, cfg.zone)
    due = timing.describe_time(check.due, cfg.zone)
    timing_note = (
        f"before its delivery time {due}" if check.early else f"its delivery time was {due}"
    )
    twice = (
        f" It also resends {describe(resend)} whose outcome is unknown: anyone in them "
        "whom SendGrid did accept gets the issue twice (settle those first with "
        f"`newsletter issue mark-accepted {view.id} --batch N`)."
        if resend
        else ""
    )
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
    if view.status == IssueStatus.APPROVED:
        return (
            f"Send issue {view.id} {view.subject!r} (dated "
            f"{timing.describe_date(view.issue_date)}, approved) to {check.members:,} "
            f"sendable members of list {view.list_slug!r} now, {when} ({timing_note})?"
        )
    counts = view.counts
    left = 0
    if counts is not None:
        left = sum(counts.recipients_in(s) for s in (BatchStatus.PENDING, BatchStatus.FAILED))
    return (
        f"Resume issue {view.id} {view.subject!r} (dated "
        f"{timing.describe_date(view.issue_date)}, {view.status}) of list "
        f"{view.list_slug!r}: send its {left:,} people in batches not yet accepted now, "
        f"{when} ({timing_note})?{twice}"
    )


def _nothing_to_do(check: SendCheck, as_json: bool) -> None:
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


def _print_report(report: SendReport, cfg: Settings) -> None:
    from rich.markup import escape
    from rich.table import Table

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
        where = f"; the requests are files under {cfg.outbox_dir}"
    common.console.print(f"Took {report.elapsed:,.1f}s via the {report.sender} sender{where}.")
    if report.recovery.unknown_resent:
        common.console.print(
            f"Resent unknown batch(es) {numbers(report.recovery.unknown_resent)} as asked."
        )
    if report.run.auth_error:
        common.err_console.print(
            f"[red]stopped: the provider refused the API key:[/red] {escape(report.run.auth_error)}"
        )
    elif report.run.stopped:
        common.err_console.print("Stopped on request; run the same command again to resume.")
    for batch in report.failed:
        field = f" (field {batch.error_field})" if batch.error_field else ""
        common.err_console.print(
            f"[red]batch {batch.batch_no} failed{escape(field)}:[/red] {escape(batch.error or '')}"
        )
    if report.unknown and report.groups:
        for batch in report.unknown[:20]:
            note = escape(batch.settle_note or "")
            common.err_console.print(f"[yellow]batch {batch.batch_no} unknown:[/yellow] {note}")
    elif report.unknown:
        listed = numbers([b.batch_no for b in report.unknown])
        common.err_console.print(
            f"[yellow]{len(report.unknown)} batch(es) have an unknown outcome ({listed}): "
            "they may or may not have been delivered and are not resent automatically. "
            f"`newsletter issue unknown {report.issue_id}` lists them; settle the delivered "
            "ones with `mark-accepted --batch N`, then resend only the others with "
            "`--resend-unknown --batch N` (docs/operations.md).[/yellow]"
        )
    if report.failed:
        common.err_console.print(
            f"Failed batches are retried by `newsletter issue send {report.issue_id}`."
        )


def _print_staging(report: SendReport, zone: ZoneInfo) -> None:
    from zoneinfo import ZoneInfo

    from newsletter.services.staging import describe_group

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
            f"SendGrid (confirmed) and resent ({numbers(settled.resent)})."
        )
    if report.queued:
        common.err_console.print(
            f"[yellow]{len(report.queued)} unknown batch(es) queued: SendGrid holds at most 10 "
            "paused or cancelled batches at once; the next run settles them.[/yellow]"
        )
