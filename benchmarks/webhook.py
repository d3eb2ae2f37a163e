"""Benchmark: signed 1000-event SendGrid webhook batches, end to end through the app.

The app runs on uvicorn on loopback, on a fresh migrated database (SQLite in a temp
folder by default, or ``--database-url``). Each batch is signed like SendGrid signs
it and posted over HTTP; the time runs from sending the request to the 200 answer,
after the events are stored and processed (suppressions, outcomes, counters).

The bare limit, measured in the same run on the same bodies, is signature
verification plus JSON parsing alone: no implementation can answer faster than that.
Budget: the p95 of a 1000-event batch must be <= 1 s.

    python benchmarks/webhook.py [--batches 20] [--events 1000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.services import audience
from newsletter.services.events import parse_events
from newsletter.services.limits import Window
from newsletter.services.results import issue_results
from newsletter.settings import load_settings
from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory, transaction
from newsletter.storage.models import BatchStatus, Issue, IssueStatus, SendBatch
from newsletter.web import create_app
from newsletter.web.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookVerifier

BUDGET_SECONDS = 1.0
RECIPIENTS = 5000
MESSAGE_ID = "BenchXMsgId0001"
# A realistic mix for a sent issue: mostly deliveries and opens, a few bounces.
MIX = (
    ("delivered", 50),
    ("open", 25),
    ("click", 10),
    ("deferred", 6),
    ("processed", 4),
    ("bounce", 3),
    ("dropped", 1),
    ("spamreport", 1),
)


def _keypair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(der).decode()


def _sign(private: ec.EllipticCurvePrivateKey, body: bytes, stamp: str) -> str:
    return base64.b64encode(private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _batch(
    number: int, size: int, issue_id: int, rng: random.Random, *, tag: str = "bench"
) -> bytes:
    kinds = [kind for kind, weight in MIX for _ in range(weight)]
    events: list[dict[str, Any]] = []
    for i in range(size):
        n = number * size + i
        kind = rng.choice(kinds)
        item: dict[str, Any] = {
            "email": f"reader{rng.randrange(RECIPIENTS)}@example.org",
            "event": kind,
            "timestamp": 1_741_000_000 + n,
            "sg_event_id": f"{tag}-{n}",
            "sg_message_id": f"{MESSAGE_ID}.{tag}-{n % 97}.{n}",
            "batch": "1",
            "issue_id": str(issue_id),
            "smtp-id": f"<{n}@bench.example.org>",
            "category": ["newsletter"],
        }
        if kind == "bounce":
            item.update(type="bounce", reason="550 5.1.1 mailbox unavailable", status="5.1.1")
        elif kind == "dropped":
            item.update(reason="Invalid")
        elif kind == "click":
            item.update(url="https://www.riverbendclinic.example.org/articles/heat-or-ice")
        if kind in ("open", "click"):
            item.update(useragent="Mozilla/5.0", ip="203.0.113.7")
        events.append(item)
    return orjson.dumps(events)


def _setup(url: str) -> int:
    engine = make_engine(url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    info = audience.create_list(sessions, "back-care", "Back Care Weekly")
    with transaction(sessions) as session:
        issue = Issue(
            list_id=info.id,
            issue_date=dt.date(2025, 3, 4),
            status=IssueStatus.SENT,
            subject="Bench",
            preheader="",
            html="<p>x</p>",
            text="x",
            content_hash="0" * 64,
        )
        session.add(issue)
        session.flush()
        session.add(
            SendBatch(
                issue_id=issue.id,
                batch_no=1,
                status=BatchStatus.ACCEPTED,
                recipients=RECIPIENTS,
                message_id=MESSAGE_ID,
            )
        )
        issue_id = issue.id
    engine.dispose()
    return issue_id


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="nl-bench-webhook-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    issue_id = _setup(url)
    private, public = _keypair()
    cfg = load_settings(
        database_url=url,
        outbox_dir=workdir / "outbox",
        sendgrid_webhook_public_key=public,
        log_level="WARNING",
    )
    app = create_app(cfg, signup_windows=(Window(60.0, 10),))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)

    rng = random.Random(6)
    bodies = [_batch(b, args.events, issue_id, rng) for b in range(args.batches)]
    verifier = WebhookVerifier(public)
    endpoint = f"http://127.0.0.1:{port}/webhooks/sendgrid"
    timings: list[float] = []
    bare: list[float] = []
    with httpx.Client(timeout=30) as client:
        warm = _batch(0, 10, issue_id, rng, tag="warmup")
        stamp = str(int(time.time()))
        client.post(endpoint, content=warm, headers=_headers(private, warm, stamp))
        for body in bodies:
            stamp = str(int(time.time()))
            headers = _headers(private, body, stamp)
            started = time.perf_counter()
            verifier.verify(body, headers[SIGNATURE_HEADER], stamp)
            parse_events(body)
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            answer = client.post(endpoint, content=body, headers=headers)
            timings.append(time.perf_counter() - started)
            if answer.status_code != 200 or answer.json()["stored"] != args.events:
                print(f"unexpected answer: {answer.status_code} {answer.text[:200]}")
                return 2
        stamp = str(int(time.time()))
        started = time.perf_counter()
        replay = client.post(
            endpoint, content=bodies[0], headers=_headers(private, bodies[0], stamp)
        )
        replay_seconds = time.perf_counter() - started
    server.should_exit = True
    thread.join(timeout=10)

    engine = make_engine(url)
    results = issue_results(session_factory(engine), issue_id).as_dict()
    engine.dispose()
    median, p95 = statistics.median(timings), _percentile(timings, 0.95)
    bare_median = statistics.median(bare)
    backend = url.split(":", 1)[0]
    print(f"webhook benchmark: {args.batches} signed batches x {args.events} events, {backend}")
    print(
        f"  end to end (HTTP, verify, store, process): median {median * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms"
    )
    print(f"  per event: {median / args.events * 1e6:.0f} us (median batch)")
    print(f"  bare limit (verify signature + parse JSON only): median {bare_median * 1000:.2f} ms")
    print(f"  ratio end to end / bare limit: {median / bare_median:.1f}x")
    print(
        f"  replay of batch 1 (all duplicates): {replay.json()['duplicates']} ignored "
        f"in {replay_seconds * 1000:.1f} ms"
    )
    print(
        f"  issue results: delivered={results['delivered']} opened={results['opened']} "
        f"clicked={results['clicked']} bounced={results['bounced']} "
        f"complaints={results['complaints']} pending={results['pending_events']}"
    )
    verdict = "PASS" if p95 <= BUDGET_SECONDS else "FAIL"
    print(f"  budget: p95 {p95:.3f} s <= {BUDGET_SECONDS:.1f} s per 1000-event batch: {verdict}")
    return 0 if verdict == "PASS" else 1


def _headers(private: ec.EllipticCurvePrivateKey, body: bytes, stamp: str) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: _sign(private, body, stamp),
        TIMESTAMP_HEADER: stamp,
        "content-type": "application/json",
    }


if __name__ == "__main__":
    sys.exit(main())
