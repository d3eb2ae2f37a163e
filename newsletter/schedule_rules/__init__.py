"""What the scheduler face and the services both need to know about the schedule.

``clock`` (what time it is, ``--now``), ``triggers`` (cron expressions and the fire
times around an instant) and ``specs`` (the job ids, their schedules, the leader
lease's name). Nothing here touches the database or imports a face, so services,
the scheduler (``newsletter.scheduling``) and the CLI can all import it.
"""

from __future__ import annotations
