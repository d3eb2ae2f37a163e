"""``newsletter quickstart``: the README's run command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli import common
from newsletter.services.quickstart import DEMO_CSV, DEMO_LIST, ensure_demo_key, run_quickstart
from newsletter.storage.models import BatchStatus


def quickstart(
    csv_path: Annotated[
        Path, typer.Option("--csv", help="Subscribers to import into the demo list.")
    ] = DEMO_CSV,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Set up a demo and send this week's issue (to the outbox unless a SendGrid key is set)."""
    cfg = ensure_demo_key(common.settings())
    report = run_quickstart(cfg, common.engine(cfg, check=False), csv_path=csv_path)
    if as_json:
        common.print_json(report.as_dict())
        return
    out = common.console
    out.print(f"Schema: {report.schema}")
    out.print(
        f"List [bold]{DEMO_LIST}[/bold]: {'created' if report.list_created else 'already there'}"
    )
    imported = report.imported
    out.print(
        f"Imported {csv_path}: {imported['added']} added, {imported['updated']} updated, "
        f"{imported['unchanged']} unchanged, {imported['skipped']} skipped"
    )
    out.print(
        f"Issue {report.issue_id} for {report.issue_date}: [bold]{report.subject}[/bold] "
        f"(was {report.status_before})"
    )
    if report.send is None:
        out.print("Already sent: nobody was sent anything twice.")
    else:
        counts = report.send.counts
        out.print(
            f"Sent through the {report.send.sender} sender: "
            f"{counts.recipients_in(BatchStatus.ACCEPTED)} accepted, "
            f"{counts.recipients_in(BatchStatus.FAILED)} failed, "
            f"{counts.recipients_in(BatchStatus.UNKNOWN)} unknown, {counts.skipped} skipped"
        )
    out.print("\nWhere to look:")
    out.print(f"  preview (HTML): {report.preview_html}")
    out.print(f"  preview (text): {report.preview_text}")
    if report.outbox is not None:
        out.print(
            f"  outbox:         {report.outbox}/  (one .json per request, one .eml per batch)"
        )
    out.print(f"  details:        newsletter issue show {report.issue_id}")
    out.print("\nThe marketing console: run `newsletter serve`, then open")
    out.print(f"  {report.console_url}")
    if report.admin_password is not None:
        out.print(
            f"  and sign in as {report.admin_email} with the password {report.admin_password}"
        )
        out.print("  (shown only now; `newsletter users add` makes accounts for your team)")
    else:
        out.print(
            f"  and sign in as {report.admin_email} (its password was shown on the first run)"
        )
