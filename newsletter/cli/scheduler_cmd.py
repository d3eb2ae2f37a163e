"""``newsletter scheduler [--once] [--now ISO]``: the same as ``python scheduler.py``.

The lead registers :func:`scheduler` on the root app. This command *is* the scheduler
face started from the CLI, so it hands over to the scheduler's own entry function;
that import happens only when the command runs (the one face-to-face hand-over, named
in ``tests/test_layers.py``), never when the CLI loads.
"""

from __future__ import annotations

import typer

from newsletter.schedule_rules.clock import check_now_option


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
    from newsletter.scheduling.entry import run

    code = run(once=once, now=now)
    if code:
        raise typer.Exit(code)
