"""``python scheduler.py --once``: run whatever is due now, then exit.

For cron and Kubernetes CronJob users. The lease makes two copies started at the
same moment safe: one leads and runs, the other logs that it is on standby and
exits; and the leader hands the lease back before it exits.
"""

from __future__ import annotations

import logging
from typing import Any

from newsletter.logs import log_event
from newsletter.schedule_rules.specs import ONCE_ORDER
from newsletter.scheduling.runner import RunOutcome, Runtime, run_job

log = logging.getLogger("newsletter.scheduler")


def run_once(rt: Runtime) -> list[RunOutcome]:
    """Each job of ``ONCE_ORDER`` that is due, in order; ``[]`` on standby."""
    if not rt.leader.ensure():
        log_event(log, "once.standby", "another scheduler leads; nothing run")
        return []
    outcomes: list[RunOutcome] = []
    try:
        for job_id in ONCE_ORDER:
            if rt.stop.is_set():
                log_event(log, "once.stopping", "stop requested; remaining jobs not started")
                break
            outcomes.append(run_job(rt, job_id))
    finally:
        rt.leader.release()
    summary: dict[str, Any] = {o.job_id: o.status for o in outcomes}
    log_event(log, "once.done", "one-shot run finished", **summary)
    return outcomes
