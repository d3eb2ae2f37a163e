"""``newsletter scheduler [--once] [--now ISO]``: the same as ``python scheduler.py``.

The lead registers :func:`scheduler` on the root app.
"""

from __future__ import annotations

import typer

from newsletter.scheduling.clock import check_now_option
from newsletter.scheduling.entry import run


def _now_option(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_now_option(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def scheduler(
    once: bool = typer.Option(False, "--once", help="Run whatever is due now, then exit."),
    now: str | None = typer.Option(
        None,
        "--now",
        metavar="ISO",
        callback=_now_option,
        help="Pretend it is this time (local), e.g. 2026-11-24T09:00.",
    ),
) -> None:
    """Run the scheduled jobs (assemble, send, resume, sync) until SIGTERM, or once."""
    code = run(once=once, now=now)
    if code:
        raise typer.Exit(code)
