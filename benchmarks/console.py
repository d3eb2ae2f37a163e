"""Console page benchmark (issue #11): every console page at 1M members, median <= 300 ms.

    python benchmarks/console.py [--members 1000000] [--issues 50] [--full 2]
                                 [--database-url postgresql+psycopg://postgres@127.0.0.1/postgres]
                                 [--requests 30] [--keep NAME | --reuse NAME]

Builds a scratch PostgreSQL database (dropped at the end) with MEMBERS people on one
list and ISSUES sent issues with their events (see console_data.py: the newest FULL
issues have a complete one-row-per-member ledger and outcomes), signs in as an admin
and requests every console page REQUESTS times through the ASGI app in-process.

Printed per page: median and p95. The bare limits, measured in the same run: a
``SELECT 1`` round trip, and a trivial signed-in page (the subscriber search without
a query: session lookup, layout, nothing else). Budget: every page's median <= 300 ms.

On a shared machine build the data once: ``--keep NAME`` builds it into database NAME
and leaves it there; ``--reuse NAME`` migrates that database to the current head and
measures it without rebuilding (drop it yourself afterwards: ``dropdb NAME``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from console_data import fill

from newsletter.content.loader import check_library
from newsletter.delivery.senders import MemorySender
from newsletter.services import users
from newsletter.settings import load_settings
from newsletter.storage import migrate
from newsletter.storage.db import make_engine, normalize_url, session_factory
from newsletter.storage.models import UserRole
from newsletter.testing.databases import scratch_postgres
from newsletter.web import create_app

BUDGET_MS = 300.0
REPO = Path(__file__).resolve().parent.parent
ADMIN = "bench-admin@example.org"
PASSWORD = "benchmark password that is long enough"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _timed(call: Callable[[], object], count: int) -> list[float]:
    for _ in range(3):
        call()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _pages(issue_id: int, article: str) -> list[tuple[str, str]]:
    person = "reader123457@example.org"
    return [
        ("home", "/admin"),
        ("issues", "/admin/issues"),
        ("issue", f"/admin/issues/{issue_id}"),
        ("compose", "/admin/issues/new"),
        ("results", f"/admin/issues/{issue_id}/results"),
        ("content library", "/admin/content"),
        ("content filtered", "/admin/content?kind=tip&season=winter"),
        ("content editor", f"/admin/content/article/{article}"),
        ("lists", "/admin/lists"),
        ("subscriber search", "/admin/subscribers?q=reader12345"),
        ("subscriber page", f"/admin/subscribers/{person}"),
        ("import form", "/admin/lists/wellness/import"),
        ("audit log", "/admin/audit"),
        ("users", "/admin/users"),
    ]


def run(url: str, members: int, issues: int, full: int, requests: int, *, build: bool) -> int:
    engine = make_engine(url)
    started = time.perf_counter()
    migrate.upgrade(engine)
    slugs = sorted(check_library(REPO / "content").library.articles)
    sessions = session_factory(engine)
    if build:
        fill(engine, members=members, issues=issues, full=full, slugs=slugs)
        users.add_user(sessions, ADMIN, UserRole.ADMIN, name="Bench", password=PASSWORD)
    else:
        with engine.connect() as conn:
            members = int(conn.execute(text("SELECT count(*) FROM memberships")).scalar_one())
            issues = int(conn.execute(text("SELECT count(*) FROM issues")).scalar_one())
    build_s = time.perf_counter() - started
    with engine.connect() as conn:
        last_issue = int(conn.execute(text("SELECT max(id) FROM issues")).scalar_one())
        bare_sql = _timed(lambda: conn.execute(text("SELECT 1")).scalar_one(), requests * 3)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_settings(
            database_url=url,
            content_dir=REPO / "content",
            templates_dir=REPO / "templates",
            outbox_dir=Path(tmp) / "outbox",
            import_reports_dir=Path(tmp) / "imports",
            public_url="https://newsletter.example.org",
            secret_key="console-benchmark-secret-key-0123456789",
            sendgrid_webhook_public_key=None,
        )
        app = create_app(cfg, sender=MemorySender())
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
            login = client.get("/admin/login")
            token = _CSRF.search(login.text)
            assert token, "no CSRF token on the login page"
            answer = client.post(
                "/admin/login",
                data={"email": ADMIN, "password": PASSWORD, "csrf_token": token.group(1)},
            )
            assert answer.status_code == 303, answer.text
            bare_page = _timed(lambda: client.get("/admin/subscribers"), requests)
            rows: list[tuple[str, str, float | None, float | None, int]] = []
            for name, path in _pages(last_issue, slugs[0]):
                first = client.get(path)
                if first.status_code != 200:
                    rows.append((name, path, None, None, first.status_code))
                    continue
                times = _timed(partial(client.get, path), requests)
                rows.append((name, path, statistics.median(times), _p95(times), 200))
    engine.dispose()
    return _report(
        members=members,
        issues=issues,
        full=full,
        requests=requests,
        build_s=build_s,
        bare_sql=bare_sql,
        bare_page=bare_page,
        rows=rows,
    )


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _report(
    *,
    members: int,
    issues: int,
    full: int,
    requests: int,
    build_s: float,
    bare_sql: list[float],
    bare_page: list[float],
    rows: list[tuple[str, str, float | None, float | None, int]],
) -> int:
    print(
        f"console benchmark: {members:,} members, {issues} sent issues "
        f"({full} with a full ledger and outcomes), PostgreSQL, {requests} requests per page"
    )
    print(f"  data build (or migrating a kept one): {build_s:.0f} s")
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"  bare limit: SELECT 1 median {statistics.median(bare_sql):.2f} ms")
    print(
        f"  bare limit: trivial signed-in page median {statistics.median(bare_page):.1f} ms, "
        f"p95 {_p95(bare_page):.1f} ms"
    )
    failed = False
    for name, path, median, p95, status in rows:
        if median is None or p95 is None:
            print(f"  {name:<18} {path:<45} skipped (HTTP {status}: page not there)")
            if status not in (404, 405):
                failed = True
            continue
        verdict = "ok" if median <= BUDGET_MS else "OVER"
        failed = failed or median > BUDGET_MS
        print(f"  {name:<18} {path:<45} median {median:7.1f} ms  p95 {p95:7.1f} ms  {verdict}")
    print(f"  budget: every page's median <= {BUDGET_MS:.0f} ms: {'FAIL' if failed else 'PASS'}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--issues", type=int, default=50)
    parser.add_argument("--full", type=int, default=2, help="issues with a complete ledger")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "NEWSLETTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server; a scratch database is made next to this one",
    )
    kept = parser.add_mutually_exclusive_group()
    kept.add_argument("--keep", metavar="NAME", help="build into database NAME and keep it")
    kept.add_argument("--reuse", metavar="NAME", help="measure database NAME built by --keep")
    args = parser.parse_args()
    full = min(args.full, args.issues)
    name = args.keep or args.reuse
    if name is None:
        with scratch_postgres(args.database_url, "nl_console_bench") as url:
            return run(url, args.members, args.issues, full, args.requests, build=True)
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        parser.error("NAME: lower-case letters, digits and underscores")
    base = normalize_url(args.database_url).rsplit("/", 1)[0]
    if args.keep:
        admin = create_engine(normalize_url(args.database_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    return run(
        f"{base}/{name}", args.members, args.issues, full, args.requests, build=bool(args.keep)
    )


if __name__ == "__main__":
    sys.exit(main())
