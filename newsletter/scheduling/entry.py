"""Start the scheduler: ``python scheduler.py [--once] [--now ISO]``.

Also behind ``newsletter scheduler``. Sets up structured logs (secrets masked), the
clock (``--now`` or ``NEWSLETTER_NOW`` for demos and tests), then either serves until
SIGTERM/SIGINT or runs what is due once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from newsletter.errors import NewsletterError
from newsletter.logs import setup_logging
from newsletter.schedule_rules.clock import NOW_ENV, check_now_option, make_clock
from newsletter.settings import load_settings

log = logging.getLogger("newsletter.scheduler")


def run(*, once: bool, now: str | None = None) -> int:
    """Serve, or run once; returns the exit code (1 when a one-shot job failed)."""
    from newsletter.scheduling import app
    from newsletter.scheduling.once import run_once

    settings = load_settings()
    setup_logging(settings)
    # Its jobs send issues: refuse at start, not at Tuesday 09:00.
    settings.signing_key()
    source = "--now" if now else NOW_ENV
    pretend = now or os.environ.get(NOW_ENV)
    clock = make_clock(pretend, settings.zone, source=source)
    # A pretended time answers fire times that have not come: kept out of the run history.
    simulated = bool(pretend)
    if not once:
        return app.serve(settings, clock, simulated=simulated)
    rt, engine = app.make_runtime(settings, clock, simulated=simulated)
    app.install_stop_handlers(rt, None)
    try:
        outcomes = run_once(rt)
    finally:
        engine.dispose()
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def _now_option(value: str) -> str:
    try:
        return check_now_option(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scheduler.py",
        description="Run the newsletter's scheduled jobs (assemble, send, resume, sync).",
    )
    parser.add_argument(
        "--once", action="store_true", help="run whatever is due now, then exit (for cron)"
    )
    parser.add_argument(
        "--now",
        metavar="ISO",
        type=_now_option,
        help="pretend it is this time, e.g. 2026-11-24T09:00 (local time of NEWSLETTER_TIMEZONE)",
    )
    args = parser.parse_args(argv)
    try:
        return run(once=args.once, now=args.now)
    except NewsletterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
