"""Clean-up the scheduler runs daily: rate-limit hits that no window looks back to.

``limits.take`` forgets a subject's own old hits when that subject is next checked;
subjects that never come back (a client address seen once) would stay for ever, so
the daily ``prune_rate_limits`` job sweeps everything older than the longest window
any limit in the package uses, plus a day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from newsletter.services import limits, signup, users
from newsletter.services.schedule import JobEnv
from newsletter.storage.db import transaction

ALL_WINDOWS: tuple[limits.Window, ...] = (
    *signup.SIGNUP_WINDOWS,
    *signup.CONFIRM_WINDOWS,
    *users.ACCOUNT_WINDOWS,
    *users.ADDRESS_WINDOWS,
)
"""Every window a limit in this package counts against (a new limit belongs here)."""
MARGIN = dt.timedelta(days=1)


def limit_retention(windows: tuple[limits.Window, ...] = ALL_WINDOWS) -> dt.timedelta:
    """How long a hit must be kept: the longest window, plus a margin."""
    return dt.timedelta(seconds=max(w.seconds for w in windows)) + MARGIN


def prune_rate_limits(env: JobEnv) -> dict[str, Any]:
    """Delete rate-limit hits older than :func:`limit_retention`; counts for the run."""
    keep = limit_retention()
    with transaction(env.sessions) as session:
        deleted = limits.prune(session, keep, now=env.now())
    return {"deleted": deleted, "kept_days": round(keep / dt.timedelta(days=1), 2)}
