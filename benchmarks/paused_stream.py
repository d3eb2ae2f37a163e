"""The audience stream with the preference centre's pause filter, and without it.

    python benchmarks/paused_stream.py [ROWS]      # default 1,000,000; 1 in 100 paused

Builds a SQLite list of ROWS confirmed members (1 % paused far into the future), then
streams it with ``iter_sendable`` twice each way, alternating: the bare figure is the
same query with the ``paused_until`` clause removed, in the same run. Budget: the audience
stream stays <= 3 s for 1M (issue #3), and the filter adds nothing measurable.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from newsletter.storage import migrate
from newsletter.storage.db import make_engine
from newsletter.storage.repositories import audience as repo

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
path = Path(tempfile.mkdtemp()) / "b.db"
engine = make_engine(f"sqlite:///{path}")
migrate.upgrade(engine)
con = sqlite3.connect(path)
now = "2026-01-01 00:00:00.000000"
con.execute(
    "INSERT INTO lists (id, slug, name, description, created_at) VALUES (1,'l','L','',?)", (now,)
)
con.executemany(
    "INSERT INTO subscribers (id, email, email_key, attributes, created_at, paused_until)"
    " VALUES (?, ?, ?, ?, ?, ?)",
    (
        (
            i,
            f"p{i}@e.org",
            f"p{i}@e.org",
            "{}",
            now,
            "2099-01-01 00:00:00.000000" if i % 100 == 0 else None,
        )
        for i in range(1, N + 1)
    ),
)
con.executemany(
    "INSERT INTO memberships (list_id, subscriber_id, status, created_at, updated_at,"
    " confirmed_at) VALUES (1, ?, 'subscribed', ?, ?, ?)",
    ((i, now, now, now) for i in range(1, N + 1)),
)
con.commit()
con.close()
bare_sql = repo._PAGE_SQL.replace(
    " AND (s.paused_until IS NULL OR s.paused_until <= CURRENT_TIMESTAMP)", ""
)
assert bare_sql != repo._PAGE_SQL


def run(sql: str) -> tuple[float, int]:
    saved = repo._PAGE_SQL
    repo._PAGE_SQL = sql
    try:
        t = time.perf_counter()
        n = sum(1 for _ in repo.iter_sendable(engine, 1))
        return time.perf_counter() - t, n
    finally:
        repo._PAGE_SQL = saved


for label, sql in (
    ("without the paused filter (bare)", bare_sql),
    ("with the paused filter", repo._PAGE_SQL),
) * 2:
    secs, n = run(sql)
    print(f"{label}: {n} members in {secs:.2f} s")
