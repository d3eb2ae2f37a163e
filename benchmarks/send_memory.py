"""Send memory benchmark (issue #14 item 5): peak RSS of ``newsletter issue send``.

    python benchmarks/send_memory.py [--subscribers 1000000] [--trace]

1. N confirmed members in SQLite (the seeded file of ``benchmarks/send.py``, cached under
   ``benchmarks/out/``), this repository's issue built and approved.
2. The fake SendGrid in its own process (its memory is not counted).
3. ``newsletter issue send ID --yes --now`` in a child process, through the real CLI: its
   peak RSS (the child's own VmHWM, see children.py) and wall time.
4. In the same run, the floors it is measured against: a bare ``python -c pass``; the
   command's own imports (``newsletter issue send --help`` loads the send command's
   module and stops); and a bare stream of the same audience out of the database.
5. The verdict against the budget: peak RSS <= 80 MB.

``--trace`` also runs the send in-process under ``tracemalloc`` (much slower) and prints
where the memory was at its peak, by file and line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from types import ModuleType

from children import CLI, REPO, fake_sendgrid, load_sibling, run_child

RSS_BUDGET_MB = 80.0


STREAM = """
from newsletter.settings import load_settings
from newsletter.storage.db import make_engine
from newsletter.storage.repositories.audience import iter_sendable
cfg = load_settings()
n = sum(1 for _ in iter_sendable(make_engine(cfg.database_url), {list_id}))
print(n)
"""


def trace_send(issue_id: int, top: int = 15) -> None:
    """The send in this process under tracemalloc; prints the allocations at the peak."""
    from newsletter.services.issues_send import send_issue
    from newsletter.settings import load_settings
    from newsletter.storage.db import make_engine

    cfg = load_settings()
    engine = make_engine(cfg.database_url)
    tracemalloc.start(1)
    best: list[tracemalloc.Snapshot] = []
    peak = [0]

    def on_batch(_event: object) -> None:
        current, _ = tracemalloc.get_traced_memory()
        if current > peak[0]:
            peak[0] = current
            best[:] = [tracemalloc.take_snapshot()]

    report = send_issue(cfg, engine, issue_id, on_batch=on_batch, send_now=True)
    _, traced_peak = tracemalloc.get_traced_memory()
    print(f"  traced: peak {traced_peak / 1e6:.1f} MB, largest snapshot {peak[0] / 1e6:.1f} MB")
    print(f"  send ok={report.ok}; top allocation sites at the largest snapshot:")
    if best:
        for stat in best[0].statistics("lineno")[:top]:
            frame = stat.traceback[0]
            print(
                f"    {stat.size / 1e6:7.2f} MB  {stat.count:8d}  {frame.filename}:{frame.lineno}"
            )


def prepare(send: ModuleType, count: int) -> dict[str, object]:
    """The run's database: seeded (cached), with two approved issues."""
    from newsletter.storage import migrate
    from newsletter.storage.db import make_engine

    run_db, _ = send.prepare(count)
    db_url = f"sqlite:///{run_db}"
    engine = make_engine(db_url)
    migrate.upgrade(engine)  # the cached seed may predate newer migrations
    engine.dispose()
    issue_id, list_id = send.build_and_approve(db_url)
    traced_id = send.build_and_approve(db_url, send.ISSUE_DATE - send.dt.timedelta(days=7))[0]
    return {"db": str(run_db), "issue": issue_id, "list": list_id, "traced": traced_id}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--trace", action="store_true", help="also trace allocations")
    parser.add_argument("--child-trace", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child-prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    send = load_sibling("send.py")
    count = args.subscribers
    if args.child_trace:
        trace_send(args.child_trace)
        return
    if args.child_prepare:
        print(json.dumps(prepare(send, count)))
        return
    # Seeding and building run in a child: a child forked from a parent that has loaded
    # the whole package would count the parent's pages in its own peak RSS.
    prepared = subprocess.run(
        [sys.executable, __file__, "--child-prepare", "--subscribers", str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    ids = json.loads(prepared.stdout.strip().splitlines()[-1])
    run_db, issue_id, list_id, traced_id = Path(ids["db"]), ids["issue"], ids["list"], ids["traced"]
    db_url = f"sqlite:///{run_db}"
    port = send._free_port()
    fake_url = f"http://127.0.0.1:{port}"
    env = {
        **send._env(db_url, fake_url, args.concurrency),
        "PYTHONPATH": str(REPO),
        "NEWSLETTER_SECRET_KEY": "benchmark-only-secret-key-" + "x" * 40,
    }
    python = [sys.executable, "-c"]
    load = os.getloadavg()
    print(
        f"send memory benchmark: {count:,} subscribers, SQLite, concurrency "
        f"{args.concurrency}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    with fake_sendgrid(port):
        _, bare_rss, _ = run_child([*python, "pass"], env)
        _, help_rss, _ = run_child([*python, CLI, "issue", "send", "--help"], env)
        stream_wall, stream_rss, _ = run_child([*python, STREAM.format(list_id=list_id)], env)
        argv = ["issue", "send", str(issue_id), "--yes", "--now"]
        wall, rss, _ = run_child([*python, CLI, *argv], env)
        accepted = send._fake_accepted(fake_url)
        if args.trace:
            send._fake_reset(fake_url)
            done = subprocess.run(
                [sys.executable, __file__, "--child-trace", str(traced_id)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            traced = done.stdout if done.returncode == 0 else done.stderr[-3000:]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{run_db}{suffix}").unlink(missing_ok=True)
    print(f"  bare `python -c pass`:                 peak RSS {bare_rss:6.1f} MB")
    print(f"  `newsletter issue send --help` (imports): peak RSS {help_rss:6.1f} MB")
    print(
        f"  bare stream of the audience:           peak RSS {stream_rss:6.1f} MB "
        f"({stream_wall:.1f} s)"
    )
    print(
        f"  `newsletter issue send --yes --now`:    peak RSS {rss:6.1f} MB ({wall:.1f} s; "
        f"accepted by the fake: {accepted.get('recipients', accepted)})"
    )
    print(f"  send above its imports: {rss - help_rss:.1f} MB")
    verdict = "OK" if rss <= RSS_BUDGET_MB else "OVER BUDGET"
    print(f"  budget: peak RSS <= {RSS_BUDGET_MB:.0f} MB: {verdict}")
    if args.trace:
        print(traced)


if __name__ == "__main__":
    main()
