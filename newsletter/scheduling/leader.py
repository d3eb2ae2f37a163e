"""The leader lease: of all scheduler processes sharing a database, one acts.

Each process has a holder id ``host:pid:uuid``. :meth:`Leader.ensure` takes or renews
the lease row with a compare-and-set, so it is called before every job body and by
a frequent heartbeat. A process that cannot take it logs once that it is on standby
and tries again at every heartbeat; when the leader stops renewing (it died), the
row expires after ``LEASE_TTL`` and the next standby heartbeat takes over.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from newsletter.logs import log_event
from newsletter.schedule_rules.clock import Clock
from newsletter.schedule_rules.specs import LEASE_NAME
from newsletter.settings import Settings
from newsletter.storage.db import transaction
from newsletter.storage.repositories import overview
from newsletter.storage.repositories import scheduling as repo

LEASE_TTL = dt.timedelta(seconds=60)
"""How long a silent leader is trusted by default (``NEWSLETTER_LEASE_SECONDS``); a standby
takes over at most this long (plus a heartbeat) after a crash."""

log = logging.getLogger("newsletter.scheduler.leader")


def make_holder_id(host: str | None = None) -> str:
    """``host:pid:random``; ``host`` is ``NEWSLETTER_HOST_NAME`` (default: the host name)."""
    return f"{host or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def heartbeat_seconds(settings: Settings) -> float:
    """A quarter of ``NEWSLETTER_LEASE_SECONDS``: a missed beat or two never loses the lease."""
    return settings.lease_seconds / 4


class Leader:
    """This process's view of the lease; thread-safe, since jobs run in a pool."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        name: str = LEASE_NAME,
        holder: str | None = None,
        ttl: dt.timedelta = LEASE_TTL,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.name = name
        self.holder = holder or make_holder_id()
        self.ttl = ttl
        self._lock = threading.Lock()
        self._is_leader: bool | None = None

    @property
    def is_leader(self) -> bool:
        return bool(self._is_leader)

    def ensure(self) -> bool:
        """Take or renew the lease; True when this process is the leader now."""
        with self._lock:
            now = self._clock.now()
            with transaction(self._sessions) as session:
                before = overview.get_lease(session, self.name)
                won = repo.acquire_lease(session, self.name, self.holder, now, self.ttl)
                current = None if won else overview.get_lease(session, self.name)
                if won and before is not None and before.holder != self.holder:
                    self._abandon(session, before, now)
            if won != self._is_leader:
                self._log_change(won, current, now)
            self._is_leader = won
            return won

    def _abandon(self, session: Session, lost: overview.LeaseInfo, now: dt.datetime) -> None:
        """The old leader stopped renewing: its runs still marked ``running`` never end."""
        detail = (
            f"abandoned: its scheduler {lost.holder} stopped renewing the leader lease "
            f"(last heartbeat {lost.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); "
            f"{self.holder} took over and catches up"
        )
        closed = repo.abandon_runs(session, lost.holder, now, detail)
        if closed:
            log_event(
                log,
                "leader.takeover",
                f"marked {closed} run(s) of {lost.holder} abandoned",
                level=logging.WARNING,
                holder=self.holder,
                previous=lost.holder,
                runs=closed,
            )

    def release(self) -> None:
        """Hand the lease back (on a clean stop) so a standby can take over at once."""
        with self._lock:
            if not self._is_leader:
                return
            with transaction(self._sessions) as session:
                repo.release_lease(session, self.name, self.holder)
            self._is_leader = False
            log_event(log, "leader.released", "lease released", holder=self.holder)

    def _log_change(self, won: bool, current: overview.LeaseInfo | None, now: dt.datetime) -> None:
        if won:
            log_event(log, "leader.acquired", "this process is the leader", holder=self.holder)
            return
        fields: dict[str, Any] = {"holder": self.holder}
        if current is not None:
            fields["leader"] = current.holder
            fields["leader_expires_in_s"] = round((current.expires_at - now).total_seconds())
        event = "leader.lost" if self._is_leader else "leader.standby"
        level = logging.WARNING if self._is_leader else logging.INFO
        log_event(
            log, event, "on standby: another scheduler holds the lease", level=level, **fields
        )
