"""Where a PostgreSQL bulk import spends its time (issue #14).

    python benchmarks/import_bulk.py [--rows 200000] [--database-url URL]

Generates ROWS people (as ``benchmarks/import.py`` does), then in this process:

1. the bare limit: the parse + validate + dedupe pass alone, no database;
2. the import (``import_csv --confirmed``, the bulk writer) into a scratch database,
   timing every statement the merging thread sends, summed by kind;
3. the bare pass again, because on a shared machine the load moves meanwhile.

It prints the import's wall time, the merging thread's busy time (the part the parse
overlaps), the statements' shares, and the ratio against the mean of the two bare
passes with the budget (<= 2.5x). ``benchmarks/import.py`` measures the same import
through the CLI in a child process (wall time and peak RSS).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from newsletter.services import audience
from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory
from newsletter.storage.repositories import bulk_import
from newsletter.testing.databases import scratch_postgres

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BUDGET = 2.5


def _sibling(name: str) -> ModuleType:
    path = Path(__file__).resolve().parent / name
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _TimedCursor:
    """A psycopg cursor that adds each statement's time to ``spent``."""

    def __init__(self, cursor: Any, spent: Counter[str]) -> None:
        self._cursor = cursor
        self._spent = spent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def execute(self, sql: str, params: Any = None) -> Any:
        started = time.perf_counter()
        self._cursor.execute(sql, params)
        self._spent[" ".join(sql.split())[:48]] += time.perf_counter() - started
        return self


def _instrument(spent: Counter[str]) -> None:
    staging = bulk_import.Staging
    merge, insert, copy = staging._merge, staging._insert, staging.copy

    def timed_merge(self: Any, cur: Any) -> dict[str, int]:
        return merge(self, _TimedCursor(cur, spent))

    def timed_insert(self: Any, cur: Any) -> None:
        insert(self, cur if isinstance(cur, _TimedCursor) else _TimedCursor(cur, spent))

    def timed_copy(self: Any, text: str, rows: int) -> None:
        started = time.perf_counter()
        copy(self, text, rows)
        spent["COPY (staging)"] += time.perf_counter() - started

    staging._merge = timed_merge  # type: ignore[method-assign]
    staging._insert = timed_insert  # type: ignore[method-assign]
    staging.copy = timed_copy  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url", default=DEFAULT_PG)
    args = parser.parse_args()
    imp = _sibling("import.py")
    spent: Counter[str] = Counter()
    _instrument(spent)
    with (
        tempfile.TemporaryDirectory(prefix="nl-bulk-") as tmp,
        scratch_postgres(args.database_url, "nl_bulk") as url,
    ):
        csv_path = Path(tmp) / "people.csv"
        imp.generate(csv_path, args.rows)
        engine = make_engine(url)
        migrate.upgrade(engine)
        sessions = session_factory(engine)
        audience.create_list(sessions, "bench", "Bench")
        load = os.getloadavg()[0]
        before = imp.parse_only_pass(csv_path)
        started = time.perf_counter()
        summary = audience.import_csv(sessions, csv_path, "bench", confirmed=True, bulk=True)
        wall = time.perf_counter() - started
        after = imp.parse_only_pass(csv_path)
        engine.dispose()
    bare = (before + after) / 2
    busy = sum(spent.values())
    print(f"PostgreSQL bulk import of {args.rows:,} rows (added {summary.added:,})")
    print(f"  load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"  bare limit (parse + validate + dedupe): {before:.1f} s before, {after:.1f} s after")
    print(f"  import: {wall:.1f} s -> {wall / bare:.2f}x the mean bare pass", end="")
    print(f" (budget <= {BUDGET}x: {'OK' if wall / bare <= BUDGET else 'OVER BUDGET'})")
    print(f"  merging thread busy {busy:.1f} s, of which:")
    for what, seconds in spent.most_common(8):
        print(f"    {seconds:7.1f} s  {100 * seconds / busy:4.0f} %  {what}")


if __name__ == "__main__":
    main()
