"""The scheduler face (``python scheduler.py``): APScheduler jobs, the leader lease, runs.

It only calls services. What it shares with them (the clock, cron helpers, job ids
and the lease name) lives below both, in ``newsletter.schedule_rules``.
"""

from __future__ import annotations
