"""Scale benchmark (issue #14): one list on PostgreSQL from import to webhook events.

    python benchmarks/scale.py [--members 1000000] [--events 3000000] [--database-url URL]

Every stage runs as its own child process (wall time, peak RSS) next to a bare limit
measured in the same run:

1. import   `newsletter subscribers import --confirmed` of MEMBERS generated rows
            (bare: the parse + validate + dedupe pass alone, no database);
2. build    `newsletter issue build` + `issue approve` (bare: `python -c pass`);
3. send     `newsletter issue send --yes --now` to the project's fake SendGrid in its own
            process (bare: stream the audience and post prebuilt bodies, benchmarks/send.py);
4. events   EVENTS signed webhook events in 1000-event batches, posted by two client
            threads to `newsletter serve --workers 2` (bare: verify + parse alone).
            With ``--event-seconds S`` the posting stops after S seconds; the stage then
            prints how many events went in, the rate, and what EVENTS would take.

The machine has two cores shared with other work: pass smaller sizes while developing
and say which size you ran. A scratch database is created next to the URL's and dropped.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from children import CLI, fake_sendgrid, load_sibling, run_child

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _line(stage: str, wall: float, peak: float, bare: float, bare_what: str) -> None:
    print(
        f"[{stage}] {wall:8.1f} s, peak RSS {peak:5.0f} MB | bare ({bare_what}) {bare:.1f} s"
        f" -> {wall / bare:.1f}x"
    )


def _server_peaks(pid: int) -> list[float]:
    """VmHWM (peak RSS, MB) of the server and its worker processes."""
    peaks = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
        if status.parent.name == str(pid) or fields.get("PPid", "").strip() == str(pid):
            peaks.append(int(fields.get("VmHWM", "0 kB").split()[0]) / 1024)
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--database-url", default=DEFAULT_PG)
    parser.add_argument("--event-seconds", type=float, default=None, help="stop posting after")
    args = parser.parse_args()
    imp, send, hook = load_sibling("import.py"), load_sibling("send.py"), load_sibling("webhook.py")
    from newsletter.storage import migrate
    from newsletter.storage.db import make_engine
    from newsletter.testing.databases import scratch_postgres

    print(f"scale benchmark: {args.members:,} members, {args.events:,} events, PostgreSQL")
    with (
        tempfile.TemporaryDirectory(prefix="nl-scale-") as tmp,
        scratch_postgres(args.database_url, "nl_scale") as db_url,
    ):
        work = Path(tmp)
        engine = make_engine(db_url)
        migrate.upgrade(engine)
        engine.dispose()
        private, public = hook._keypair()
        port = send._free_port()
        fake_url = f"http://127.0.0.1:{port}"
        env = send._env(db_url, fake_url, 4)
        env.update(
            # Sends and the web app refuse to run without a private signing key.
            NEWSLETTER_SECRET_KEY=secrets.token_urlsafe(48),
            NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY=public,
            NEWSLETTER_OUTBOX_DIR=str(work / "outbox"),
            NEWSLETTER_LOG_LEVEL="WARNING",
        )
        python = [sys.executable, "-c"]
        bare_start, _, _ = run_child([*python, "pass"], env)
        run_child([*python, CLI, "lists", "create", send.SLUG, "--name", "Scale"], env)

        csv_path = work / "people.csv"
        imp.generate(csv_path, args.members)
        parse = imp.parse_only_pass(csv_path)
        load = os.getloadavg()[0]
        wall, peak, _ = run_child(
            [
                *python,
                CLI,
                "subscribers",
                "import",
                str(csv_path),
                "--list",
                send.SLUG,
                "--confirmed",
                "--json",
            ],
            env,
        )
        # The load moves while the import runs: the bare pass is measured on both sides.
        after = imp.parse_only_pass(csv_path)
        print(f"         parse + validate before {parse:.1f} s, after {after:.1f} s")
        print(f"         load average before {load:.1f}, after {os.getloadavg()[0]:.1f}")
        _line("import", wall, peak, (parse + after) / 2, "parse + validate, mean")

        started = time.perf_counter()
        issue_id, list_id = send.build_and_approve(db_url)
        build = time.perf_counter() - started
        send.OUT.mkdir(parents=True, exist_ok=True)
        send._save_issue_html(db_url, issue_id)  # the bare send posts this body
        print(f"[build]  {build:8.1f} s in this process | bare (python -c pass) {bare_start:.2f} s")

        with fake_sendgrid(port):
            wall, peak, _ = run_child(
                [*python, CLI, "issue", "send", str(issue_id), "--yes", "--now"], env
            )
            accepted = send._fake_accepted(fake_url)
            send._fake_reset(fake_url)
            bare_send, _ = send._run_child(
                ["--child", "bare", "--list-id", str(list_id), "--concurrency", "4"], env
            )
        _line("send", wall, peak, float(bare_send["seconds"]), "stream + post prebuilt")
        print(f"         accepted by the fake: {str(accepted)[:100]}")

        _events(args.events, issue_id, env, private, hook, seconds=args.event_seconds)


@contextmanager
def _serving(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``newsletter serve --workers 2`` until the block ends; its stderr shown if it fails."""
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [sys.executable, "-c", CLI, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            # Two workers importing the app on a loaded machine can take a minute or more.
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    log.seek(0)
                    sys.exit(f"the web workers did not start:\n{log.read().decode()[-3000:]}")
                time.sleep(0.3)
            yield server
        finally:
            server.terminate()
            server.wait(timeout=30)


def _events(
    total: int,
    issue_id: int,
    env: dict[str, str],
    private: Any,
    hook: Any,
    *,
    seconds: float | None = None,
) -> None:
    from newsletter.services.events import parse_events
    from newsletter.web.signature import WebhookVerifier

    port = hook._free_port()
    base = f"http://127.0.0.1:{port}"
    with _serving(env, port) as server:
        batches = max(total // 1000, 1)
        verifier = WebhookVerifier(env["NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY"])
        bare = 0.0
        failures: list[str] = []
        posted = [0, 0]
        stop_at = None if seconds is None else time.monotonic() + seconds

        def post(numbers: range, slot: int) -> None:
            nonlocal bare
            local = random.Random(14 + numbers.start)
            with httpx.Client(timeout=60) as client:
                for number in numbers:
                    if stop_at is not None and time.monotonic() > stop_at:
                        return
                    body = hook._batch(number, 1000, issue_id, local, tag="scale")
                    stamp = str(int(time.time()))
                    headers = hook._headers(private, body, stamp)
                    started = time.perf_counter()
                    verifier.verify(body, headers[hook.SIGNATURE_HEADER], stamp)
                    parse_events(body)
                    bare += time.perf_counter() - started
                    answer = client.post(f"{base}/webhooks/sendgrid", content=body, headers=headers)
                    if answer.status_code != 200:
                        failures.append(f"{answer.status_code} {answer.text[:100]}")
                    posted[slot] += 1

        half = batches // 2
        threads = [
            threading.Thread(target=post, args=(range(0, half), 0)),
            threading.Thread(target=post, args=(range(half, batches), 1)),
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        peaks = _server_peaks(server.pid)
    worst = max(peaks) if peaks else 0.0
    done = sum(posted)
    _line("events", wall, worst, bare, "verify + parse, summed")
    print(f"         {done * 1000:,} events in {done:,} batches; failed posts: {len(failures)}")
    rate = done * 1000 / wall
    print(f"         {rate:,.0f} events/s through 2 workers")
    if done < batches:
        print(
            f"         stopped after {seconds:.0f} s: {batches * 1000:,} events would take"
            f" about {batches * 1000 / rate / 60:.0f} min at this rate"
        )


if __name__ == "__main__":
    main()
