"""The scheduler: APScheduler jobs, the leader lease, the clock and one-shot runs.

``clock``, ``triggers`` and ``leader`` are small infrastructure pieces that the
services may use too; ``app``, ``jobs``, ``runner`` and ``once`` are the scheduler
face (``python scheduler.py``), which only calls services.
"""

from __future__ import annotations
