"""What the member-count triggers (migration v0017) cost an import (issue #11).

    python benchmarks/member_counts.py [--rows 200000] [--database-url URL] [--rounds 3]

Imports the same generated CSV (ROWS new people, ``--confirmed``) with
``audience.import_csv`` into fresh databases, alternating: once as migrated (the
triggers keep ``list_member_counts``), once with the three triggers dropped (the bare
limit: the same import with nothing maintained), after one uncounted warm-up. SQLite
(row triggers) and PostgreSQL (statement triggers over transition tables) are both
measured. Printed: each import's time, the median per variant and the ratio. Budget:
the triggers add <= 10 % on PostgreSQL ("keep the bulk import fast"); SQLite's cost is
reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from newsletter.services import audience
from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory
from newsletter.testing.databases import scratch_postgres

PG_BUDGET = 1.10
TRIGGERS = ("list_member_counts_added", "list_member_counts_removed", "list_member_counts_changed")


def _csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,first_name\n")
        for i in range(rows):
            handle.write(f"member{i}@mail{i % 50}.example.org,Member\n")
    return path


def _one(url: str, csv_path: Path, *, triggers: bool) -> float:
    engine = make_engine(url)
    migrate.upgrade(engine)
    postgres = engine.dialect.name == "postgresql"
    if not triggers:
        with engine.begin() as conn:
            for name in TRIGGERS:
                conn.execute(text(f"DROP TRIGGER {name}" + (" ON memberships" if postgres else "")))
    sessions = session_factory(engine)
    audience.create_list(sessions, "bench", "Bench")
    started = time.perf_counter()
    audience.import_csv(sessions, csv_path, "bench", confirmed=True)
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        members = conn.execute(text("SELECT count(*) FROM memberships")).scalar_one()
        kept = conn.execute(text("SELECT coalesce(sum(members), 0) FROM list_member_counts"))
        kept_total = int(kept.scalar_one())
    engine.dispose()
    assert kept_total == (members if triggers else 0), (kept_total, members)
    return elapsed


def _measure(name: str, make_url: object, csv_path: Path, rounds: int) -> float:
    times: dict[bool, list[float]] = {True: [], False: []}
    with make_url() as url:  # type: ignore[operator]
        print(f"  {name:<10} warm-up (not counted) {_one(url, csv_path, triggers=True):6.2f} s")
    for _ in range(rounds):
        for triggers in (True, False):
            with make_url() as url:  # type: ignore[operator]
                seconds = _one(url, csv_path, triggers=triggers)
            times[triggers].append(seconds)
            label = "with triggers" if triggers else "bare (no triggers)"
            print(f"  {name:<10} {label:<20} {seconds:6.2f} s")
    with_t, bare = statistics.median(times[True]), statistics.median(times[False])
    print(f"  {name:<10} median with {with_t:.2f} s, bare {bare:.2f} s, ratio {with_t / bare:.3f}")
    return with_t / bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "NEWSLETTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv_path = _csv(work / "people.csv", args.rows)
        print(f"member-count triggers: import of {args.rows:,} new confirmed people")
        counter = iter(range(1_000_000))

        class _Sqlite:
            def __enter__(self) -> str:
                return f"sqlite:///{work / f'bench{next(counter)}.db'}"

            def __exit__(self, *_: object) -> None:
                return None

        _measure("SQLite", _Sqlite, csv_path, args.rounds)
        pg = _measure(
            "PostgreSQL",
            lambda: scratch_postgres(args.database_url, "nl_counts_bench"),
            csv_path,
            args.rounds,
        )
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ok = pg <= PG_BUDGET
    print(f"  budget: PostgreSQL ratio <= {PG_BUDGET:.2f}: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
