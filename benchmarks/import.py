"""Import, audience-stream and token benchmark (issue #3).

    python benchmarks/import.py [--rows 1000000] [--database-url URL]

Generates a CSV of ROWS unique people in a temp dir, imports it with
``newsletter subscribers import --confirmed`` in a child process (wall time and
the child's peak RSS), streams the list's sendable audience with
``iter_sendable``, and makes one unsubscribe token per member. Each figure is
printed next to a bare limit measured in the same run on the same machine, and
a budget verdict:

* import <= 60 s at <= 150 MB peak RSS   (bare: a csv.reader pass over the file)
* on PostgreSQL, import <= 2.5x the parse + validate + dedupe pass alone
* audience stream <= 3 s                 (bare: SELECT of the ids, fetchmany)
* tokens <= 2 s                          (bare: hmac.new(...).digest() per token)

Without ``--database-url`` the database is a fresh SQLite file in the temp dir.
With a PostgreSQL URL, a scratch database is created next to the one named in
the URL and dropped at the end.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import hmac
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from children import CLI, run_child
from sqlalchemy import text

from newsletter.audience.csv_import import CsvRow, CsvSource
from newsletter.audience.seen import SeenKeys
from newsletter.audience.tokens import TokenSigner
from newsletter.services import audience
from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory
from newsletter.storage.repositories.audience import iter_sendable
from newsletter.testing.databases import scratch_postgres

IMPORT_BUDGET_S = 60.0
IMPORT_BUDGET_MB = 150.0
PG_IMPORT_RATIO = 2.5
STREAM_BUDGET_S = 3.0
TOKENS_BUDGET_S = 2.0
DOMAINS = [f"mail{i}.example.org" for i in range(200)] + ["gmail.com", "outlook.com"]
CITIES = ["Springfield", "Riverton", "Shelbyville", "Ogdenville", "North Haverbrook"]


def generate(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Email", "First Name", "Last Name", "City", "Patient Since"])
        for i in range(rows):
            first = f"Pat{i % 9973}"
            writer.writerow(
                [
                    f"Person.{i}@{DOMAINS[i % len(DOMAINS)]}",
                    first,
                    f"Doe-{i % 7919}",
                    CITIES[i % len(CITIES)],
                    str(2000 + i % 25),
                ]
            )


def bare_csv_pass(path: Path) -> float:
    start = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as handle:
        for _row in csv.reader(handle):
            pass
    return time.perf_counter() - start


def parse_only_pass(path: Path) -> float:
    start = time.perf_counter()
    seen = SeenKeys()
    for item in CsvSource(path):
        if isinstance(item, CsvRow):
            seen.add(item.key)
    return time.perf_counter() - start


@contextmanager
def scratch_database(url: str | None, workdir: Path) -> Iterator[str]:
    if url is None:
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    with scratch_postgres(url, "nl_bench") as scratch:
        yield scratch


def run_import(csv_path: Path, db_url: str) -> tuple[float, float, str]:
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": db_url}
    command = [sys.executable, "-c", CLI, "subscribers", "import", str(csv_path)]
    command += ["--list", "bench", "--confirmed", "--json"]
    return run_child(command, env)


def bare_select(db_url: str, list_id: int) -> float:
    engine = make_engine(db_url)
    start = time.perf_counter()
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=5000).execute(
            text("SELECT subscriber_id FROM memberships WHERE list_id = :l ORDER BY subscriber_id"),
            {"l": list_id},
        )
        for _part in result.partitions():
            pass
    engine.dispose()
    return time.perf_counter() - start


def verdict(ok: bool) -> str:
    return "OK" if ok else "OVER BUDGET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    rows: int = args.rows

    with tempfile.TemporaryDirectory(prefix="nl-bench-") as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "people.csv"
        start = time.perf_counter()
        generate(csv_path, rows)
        size_mb = csv_path.stat().st_size / 2**20
        print(f"generated {rows:,} rows ({size_mb:.1f} MB) in {time.perf_counter() - start:.1f} s")

        with scratch_database(args.database_url, workdir) as db_url:
            backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
            engine = make_engine(db_url)
            migrate.upgrade(engine)
            sessions = session_factory(engine)
            list_id = audience.create_list(sessions, "bench", "Bench").id

            bare = bare_csv_pass(csv_path)
            parse = parse_only_pass(csv_path)
            wall, peak_mb, summary = run_import(csv_path, db_url)
            ok = wall <= IMPORT_BUDGET_S and peak_mb <= IMPORT_BUDGET_MB
            print(f"\n[import, {backend}] {wall:.1f} s, peak RSS {peak_mb:.0f} MB")
            print(f"  bare limit (csv.reader pass): {bare:.1f} s -> ratio {wall / bare:.1f}x")
            print(f"  parse + validate + dedupe, no database: {parse:.1f} s")
            if backend == "postgresql":
                ratio = wall / parse
                ok_pg = ratio <= PG_IMPORT_RATIO
                print(
                    f"  -> {ratio:.2f}x the parse pass; budget <= {PG_IMPORT_RATIO}x: "
                    f"{verdict(ok_pg)}"
                )
            budget = f"<= {IMPORT_BUDGET_S:.0f} s at <= {IMPORT_BUDGET_MB:.0f} MB"
            print(f"  budget {budget}: {verdict(ok)}")
            added = summary.split('"added": ', 1)[1].split(",", 1)[0]
            print(f"  summary: added {added}")

            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            start = time.perf_counter()
            count = sum(1 for _ in iter_sendable(engine, list_id))
            stream = time.perf_counter() - start
            growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
            bare_ids = bare_select(db_url, list_id)
            print(f"\n[audience stream, {backend}] {count:,} recipients in {stream:.2f} s")
            print(f"  peak RSS growth while streaming: {growth_mb:.1f} MB")
            print(f"  bare limit (SELECT ids): {bare_ids:.2f} s -> ratio {stream / bare_ids:.1f}x")
            print(f"  budget <= {STREAM_BUDGET_S:.0f} s: {verdict(stream <= STREAM_BUDGET_S)}")
            engine.dispose()

        signer = TokenSigner("bench-secret-key-" + "x" * 32)
        start = time.perf_counter()
        for sid in range(1, rows + 1):
            signer.unsubscribe_token(sid, list_id)
        tokens = time.perf_counter() - start
        key = b"bench-secret-key-" + b"x" * 32
        start = time.perf_counter()
        for sid in range(1, rows + 1):
            hmac.new(key, sid.to_bytes(8, "big"), hashlib.sha256).digest()
        bare_tokens = time.perf_counter() - start
        print(f"\n[tokens] {rows:,} unsubscribe tokens in {tokens:.2f} s")
        ratio = tokens / bare_tokens
        print(f"  bare limit (hmac.new per token): {bare_tokens:.2f} s -> ratio {ratio:.2f}x")
        print(f"  budget <= {TOKENS_BUDGET_S:.0f} s: {verdict(tokens <= TOKENS_BUDGET_S)}")


if __name__ == "__main__":
    main()
