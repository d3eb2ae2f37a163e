"""Send benchmark (issue #4): N recipients through the ledger to the fake SendGrid.

    python benchmarks/send.py [--subscribers 1000000] [--concurrency 4] [--keep]

1. Puts N confirmed members in a SQLite file (bulk inserts through the storage layer;
   the seeded file is cached under ``benchmarks/out/`` and copied for each run).
2. Builds and approves this repository's issue with the real content and templates.
3. Starts the fake SendGrid in a child process (its CPU and memory are not ours), then
   runs ``send_issue`` in another child process: wall time end to end (process start
   to exit, snapshot included), recipients per second, and that process's peak RSS.
4. In the same run, the bare loop: a child process that streams the same subscribers
   from the database and posts prebuilt bodies (built before the clock starts) to the
   same fake with the same number of threads. That is the limit on this machine.
5. Also in the same run, the same send unstaged (``NEWSLETTER_STAGE_SENDS=false``: no
   batch ids, no ``send_at``) of a second issue, first, so the staged send measured
   after it works on the larger ledger. Staging adds one ``POST /v3/mail/batch`` per
   1000 recipients and must stay within 1.15x of the unstaged time.
6. Prints the ratios and the verdict against the budgets: <= 60 s for 1M, peak RSS
   <= 200 MB, ratio >= 0.6, staged/unstaged <= 1.15.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from children import fake_sendgrid

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
ISSUE_DATE = dt.date(2026, 11, 24)
SLUG = "bench"
API_KEY = "SG.fake-test-key"
WALL_BUDGET_S_PER_MILLION = 60.0
RSS_BUDGET_MB = 200.0
RATIO_BUDGET = 0.6
STAGING_BUDGET = 1.15
SEED_CHUNK = 20_000


def _env(db_url: str, fake_url: str, concurrency: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATABASE_URL=db_url,
        NEWSLETTER_CONTENT_DIR=str(REPO / "content"),
        NEWSLETTER_TEMPLATES_DIR=str(REPO / "templates"),
        NEWSLETTER_SENDER="sendgrid",
        SENDGRID_API_KEY=API_KEY,
        NEWSLETTER_SENDGRID_API_URL=fake_url,
        NEWSLETTER_SEND_CONCURRENCY=str(concurrency),
        NEWSLETTER_BATCH_SIZE="1000",
        NEWSLETTER_OUTBOX_DIR=str(OUT / "outbox"),
        # Sends refuse to sign links without a private key; this one signs benchmark mail only.
        NEWSLETTER_SECRET_KEY="benchmark-only-signing-key-0123456789-abcdefghijklmnop",
    )
    return env


# -- seeding -----------------------------------------------------------------------------


def seed(path: Path, count: int) -> float:
    """A database with one list of ``count`` confirmed members; returns seconds."""
    from newsletter.storage import migrate
    from newsletter.storage.db import make_engine, session_factory, transaction
    from newsletter.storage.models import MembershipStatus, utcnow
    from newsletter.storage.repositories import lists, memberships, subscribers

    started = time.perf_counter()
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    factory = session_factory(engine)
    now = utcnow()
    with transaction(factory) as session:
        list_id = lists.create(session, slug=SLUG, name="Benchmark readers").id
    for start in range(1, count + 1, SEED_CHUNK):
        ids = range(start, min(start + SEED_CHUNK, count + 1))
        people = [
            {
                "id": i,
                "email": f"reader{i:07d}@mail{i % 200}.example.org",
                "email_key": f"reader{i:07d}@mail{i % 200}.example.org",
                "name": f"Reader {i}",
                "first_name": None if i % 5 == 0 else f"Pat{i % 9973}",
                "attributes": {},
                "created_at": now,
            }
            for i in ids
        ]
        members = [
            {
                "list_id": list_id,
                "subscriber_id": i,
                "status": MembershipStatus.SUBSCRIBED.value,
                "created_at": now,
                "updated_at": now,
                "confirmed_at": now,
                "consent_source": "benchmark",
            }
            for i in ids
        ]
        with transaction(factory) as session:
            subscribers.insert_many(session, people)
            memberships.insert_many(session, members)
    engine.dispose()
    return time.perf_counter() - started


def prepare(count: int) -> tuple[Path, float]:
    """A fresh copy of the cached seeded database, with an approved issue."""
    OUT.mkdir(parents=True, exist_ok=True)
    base = OUT / f"send-base-{count}.db"
    seconds = 0.0
    if not base.exists():
        seconds = seed(base.with_suffix(".tmp"), count)
        base.with_suffix(".tmp").rename(base)
    run = OUT / f"send-run-{count}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{run}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(base, run)
    return run, seconds


def build_and_approve(db_url: str, day: dt.date = ISSUE_DATE) -> tuple[int, int]:
    from newsletter.services.issues import approve_issue, build_issue
    from newsletter.settings import load_settings
    from newsletter.storage.db import make_engine

    cfg = load_settings(
        database_url=db_url, content_dir=REPO / "content", templates_dir=REPO / "templates"
    )
    engine = make_engine(db_url)
    issue_id = build_issue(cfg, engine, SLUG, day).id
    approve_issue(engine, issue_id, by="benchmark")
    from newsletter.storage.db import session_factory, transaction
    from newsletter.storage.repositories import lists

    with transaction(session_factory(engine)) as session:
        list_id = lists.get_by_slug(session, SLUG).id
    engine.dispose()
    return issue_id, list_id


# -- the child processes -------------------------------------------------------------------


def child_send(issue_id: int) -> None:
    """Runs in its own process: the real send, then its figures as one JSON line."""
    started = time.perf_counter()
    from newsletter.services.issues_send import send_issue
    from newsletter.settings import load_settings
    from newsletter.storage.db import make_engine

    cfg = load_settings()
    engine = make_engine(cfg.database_url)
    report = send_issue(cfg, engine, issue_id)
    print(
        json.dumps(
            {
                "seconds_in_process": time.perf_counter() - started,
                "ok": report.ok,
                "accepted": report.as_dict()["accepted"],
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        ),
        flush=True,
    )


def child_bare(list_id: int, concurrency: int) -> None:
    """The limit: stream the subscribers, post prebuilt bodies with plain http.client."""
    from newsletter.delivery.payload import MessageTemplate, Recipient, build_body, encode_body
    from newsletter.render.model import substitutions
    from newsletter.settings import load_settings
    from newsletter.storage.db import make_engine
    from newsletter.storage.repositories.audience import iter_sendable
    from newsletter.testing.loadgen import post_bodies

    cfg = load_settings()
    engine = make_engine(cfg.database_url)
    html = (REPO / "benchmarks" / "out" / "issue.html").read_text()
    template = MessageTemplate(
        subject="bench",
        html=html,
        text=html,
        from_email=cfg.from_email,
        from_name=cfg.from_name,
        categories=("newsletter", SLUG),
    )
    bodies: list[bytes] = []
    sizes: list[int] = []
    batch: list[Recipient] = []
    url = f"{cfg.public_url}/u/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    for member in iter_sendable(engine, list_id):
        subs = substitutions(member.first_name, url)
        batch.append(Recipient(member.email, member.name, subs, url))
        if len(batch) == 1000:
            bodies.append(encode_body(build_body(template, batch, batch=len(bodies) + 1)))
            sizes.append(len(batch))
            batch = []
    if batch:
        bodies.append(encode_body(build_body(template, batch, batch=len(bodies) + 1)))
        sizes.append(len(batch))
    # The clock starts here: a pass over the same rows, then the prebuilt bodies posted.
    started = time.perf_counter()
    streamed = sum(1 for _ in iter_sendable(engine, list_id))
    stream_seconds = time.perf_counter() - started
    result = post_bodies(
        cfg.sendgrid_api_url, API_KEY, bodies, threads=concurrency, recipients_per_body=sizes
    )
    print(
        json.dumps(
            {
                "seconds": stream_seconds + result.seconds,
                "stream_seconds": stream_seconds,
                "post_seconds": result.seconds,
                "recipients": streamed,
                "statuses": result.statuses,
                "body_mb": sum(map(len, bodies)) / len(bodies) / 1e6,
            }
        ),
        flush=True,
    )


# -- the parent ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fake_reset(url: str) -> None:
    request = urllib.request.Request(f"{url}/__fake__/reset", data=b"{}", method="POST")
    urllib.request.urlopen(request, timeout=10).read()


def _fake_accepted(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/__fake__/accepted", timeout=60) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def _run_child(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"child {args} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--child", choices=["send", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--issue", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--list-id", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the run's database")
    args = parser.parse_args()
    if args.child == "send":
        child_send(args.issue)
        return
    if args.child == "bare":
        child_bare(args.list_id, args.concurrency)
        return

    count = args.subscribers
    run_db, seed_seconds = prepare(count)
    db_url = f"sqlite:///{run_db}"
    issue_id, list_id = build_and_approve(db_url)
    unstaged_id, _ = build_and_approve(db_url, ISSUE_DATE - dt.timedelta(days=7))
    _save_issue_html(db_url, issue_id)
    print(f"send benchmark: {count:,} subscribers, concurrency {args.concurrency}, SQLite")
    if seed_seconds:
        print(f"  seeded the members in {seed_seconds:.1f}s (cached for later runs)")

    port = _free_port()
    fake_url = f"http://127.0.0.1:{port}"
    with fake_sendgrid(port):
        env = _env(db_url, fake_url, args.concurrency)
        unstaged_env = {**env, "NEWSLETTER_STAGE_SENDS": "false"}
        _, unstaged_wall = _run_child(
            ["--child", "send", "--issue", str(unstaged_id)], unstaged_env
        )
        _fake_reset(fake_url)
        sent, wall = _run_child(["--child", "send", "--issue", str(issue_id)], env)
        accepted = _fake_accepted(fake_url)
        _fake_reset(fake_url)
        bare, _ = _run_child(
            ["--child", "bare", "--list-id", str(list_id), "--concurrency", str(args.concurrency)],
            env,
        )
    if not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{run_db}{suffix}").unlink(missing_ok=True)
    report(count, sent, wall, accepted, bare, unstaged_wall=unstaged_wall)


def _save_issue_html(db_url: str, issue_id: int) -> None:
    from newsletter.storage.db import make_engine, session_factory, transaction
    from newsletter.storage.repositories import issues as issue_repo

    engine = make_engine(db_url)
    with transaction(session_factory(engine)) as session:
        html = issue_repo.get_issue(session, issue_id).html
    (OUT / "issue.html").write_text(html)
    engine.dispose()


def report(
    count: int,
    sent: dict[str, Any],
    wall: float,
    accepted: dict[str, Any],
    bare: dict[str, Any],
    *,
    unstaged_wall: float,
) -> None:
    rate = count / wall
    bare_rate = bare["recipients"] / bare["seconds"]
    ratio = rate / bare_rate
    budget = WALL_BUDGET_S_PER_MILLION * count / 1_000_000
    rss = float(sent["peak_rss_mb"])
    staging = wall / unstaged_wall
    print(f"  send, unstaged (same run):        {unstaged_wall:8.2f} s")
    print(f"  send (child process, end to end): {wall:8.2f} s  {rate:10,.0f} recipients/s")
    print(f"  staged/unstaged: {staging:.3f} (budget {STAGING_BUDGET})")
    print(f"    accepted by the fake: {accepted.get('recipients', accepted)}  ok={sent['ok']}")
    print(f"    peak RSS of the sending process: {rss:.1f} MB")
    print(
        f"  bare loop (stream + post prebuilt): {bare['seconds']:8.2f} s  "
        f"{bare_rate:10,.0f} recipients/s  (stream {bare['stream_seconds']:.2f} s, "
        f"post {bare['post_seconds']:.2f} s, body {bare['body_mb']:.2f} MB, "
        f"statuses {bare['statuses']})"
    )
    print(f"  ratio send/bare: {ratio:.2f}")
    checks = [
        (f"wall <= {budget:.0f} s", wall <= budget),
        (f"peak RSS <= {RSS_BUDGET_MB:.0f} MB", rss <= RSS_BUDGET_MB),
        (f"ratio >= {RATIO_BUDGET}", ratio >= RATIO_BUDGET),
        (f"staged/unstaged <= {STAGING_BUDGET}", staging <= STAGING_BUDGET),
    ]
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    print(f"verdict: {'within budget' if all(ok for _, ok in checks) else 'OVER BUDGET'}")


if __name__ == "__main__":
    main()
