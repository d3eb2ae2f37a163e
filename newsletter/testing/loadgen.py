"""The bare limit: post prebuilt bodies to the fake as fast as N threads can.

The send benchmark divides its own throughput by this figure, measured in the same run,
so the ratio shows what the ledger and senders cost on top of HTTP and the fake itself.
By default each request opens a new connection, as the ``sendgrid`` library does.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class LoadResult:
    requests: int
    recipients: int
    seconds: float
    statuses: dict[int, int]

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def recipients_per_second(self) -> float:
        return self.recipients / self.seconds if self.seconds else 0.0


def post_bodies(
    url: str,
    api_key: str,
    bodies: Sequence[bytes],
    *,
    threads: int = 4,
    recipients_per_body: Sequence[int] | None = None,
    keep_alive: bool = False,
    timeout: float = 30.0,
) -> LoadResult:
    """Post every body once to ``{url}/v3/mail/send``, spread over ``threads`` threads."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    next_index = iter(range(len(bodies)))

    def worker() -> None:
        local: Counter[int] = Counter()
        conn: http.client.HTTPConnection | None = None
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            conn.request("POST", "/v3/mail/send", body=bodies[index], headers=headers)
            response = conn.getresponse()
            response.read()
            local[response.status] += 1
            if not keep_alive:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with lock:
            statuses.update(local)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    counts = recipients_per_body or [0] * len(bodies)
    return LoadResult(
        requests=len(bodies),
        recipients=sum(counts),
        seconds=elapsed,
        statuses=dict(statuses),
    )
