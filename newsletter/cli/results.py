"""How ``issue show`` presents what SendGrid's events say about an issue."""

from __future__ import annotations

from rich.table import Table

from newsletter.cli import common
from newsletter.services.results import IssueResults


def print_results(results: IssueResults) -> None:
    """Each outcome on its own line, rates over delivered, and the complaint verdict."""
    if not results.known:
        common.err_console.print(f"note: {results.notice}", markup=False)
        return
    table = Table("result", "people", "of delivered", title="Results (from SendGrid events)")
    table.add_row("delivered", f"{results.delivered:,}", "")
    for label, count in results.rows():
        table.add_row(label.lower(), f"{count:,}", f"{results.rate(count):.2%}")
    common.console.print(table)
    if results.notice:
        common.err_console.print(f"note: {results.notice}", markup=False)
    if results.pending_events:
        common.console.print(
            f"{results.pending_events:,} webhook events are stored but not yet processed."
        )
    if results.complaint_level == "under":
        common.console.print(results.complaint_sentence, markup=False)
    else:
        common.err_console.print(f"warning: {results.complaint_sentence}", markup=False)
