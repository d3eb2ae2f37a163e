"""The project's own fake SendGrid: a real HTTP server on 127.0.0.1 for tests and benchmarks.

It speaks the parts of the v3 API the pipeline uses, following the published specs in
``reference/sendgrid``: ``POST /v3/mail/send`` (Bearer auth, validation with SendGrid's
error shape, 413 for oversized bodies, 202 with ``X-Message-Id`` and ``X-RateLimit-*``),
batch ids and scheduled sends (``fake_schedule``: cancel/pause, the 10-minute rule, the
10-batch limit, 72 h), and the suppression list endpoints. It records every *accepted*
request and, separately, what was *delivered*, *cancelled* or *expired* once the virtual
clock passes each message's ``send_at``. It injects faults on demand (see ``fake_faults``;
mail sends and the batch API have a plan each), and can be driven from another process:

    POST /__fake__/faults        {"queue": [...], "random": {...}, "seed": 1, "clear": true,
                                  "api": "batch" to aim at the batch routes}
    POST /__fake__/clock         {"advance": seconds}: move the virtual clock forward
    GET  /__fake__/accepted      totals, duplicates, delivered; ``?full=1`` adds counts
    POST /__fake__/suppressions  {"kind": "bounces", "entries": [{"email", "created", "reason"}]}
    POST /__fake__/reset         forget everything

Run it by hand with ``python -m newsletter.testing.fake_sendgrid --port 8025``.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from newsletter.testing.fake_faults import Fault, FaultKind, FaultPlan
from newsletter.testing.fake_handler import FakeHandler
from newsletter.testing.fake_schedule import ScheduleBook
from newsletter.testing.mail_send_rules import ApiError, MailSendInvalid, MailSendSummary

DEFAULT_API_KEY = "SG.fake-test-key"
DEFAULT_MAX_BODY_BYTES = 30 * 1024 * 1024
SUPPRESSION_KINDS = ("bounces", "spam_reports", "blocks", "invalid_emails", "global_unsubscribes")


@dataclass(frozen=True)
class AcceptedRequest:
    """One mail-send request the fake answered 202 to (or accepted and then hung on)."""

    message_id: str
    custom_args: dict[str, Any]
    recipients: tuple[str, ...]
    personalizations: int
    received_at: float
    body: bytes | None
    """The raw body, kept only when the fake was made with ``keep_bodies=True``."""
    batch_id: str | None = None
    send_at: float | None = None
    """The earliest ``send_at`` in the request (the time it arrived when it had none)."""
    headers: dict[str, str] | None = None
    """The request's headers, kept (like ``body``) only with ``keep_bodies=True``."""


@dataclass(frozen=True)
class SchedulePlan:
    """Where an accepted request's recipients go: its batch id and ``send_at`` groups."""

    batch_id: str | None
    groups: dict[float, list[str]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 refuses connections under a few dozen concurrent senders.
    request_queue_size = 512
    fake: FakeSendGrid


class FakeSendGrid:
    """A fake SendGrid on 127.0.0.1; ``port=0`` picks a free port. Also a context manager."""

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        api_key: str = DEFAULT_API_KEY,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        rate_limit: int = 10_000,
        rate_window: float = 1.0,
        enforce_rate_limit: bool = False,
        keep_bodies: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.enforce_rate_limit = enforce_rate_limit
        self.keep_bodies = keep_bodies
        self.faults = FaultPlan()
        self.batch_faults = FaultPlan()
        """Faults for the batch and scheduled-send routes, apart from mail sends."""
        self.schedule = ScheduleBook()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[AcceptedRequest] = []
        self._counts: Counter[str] = Counter()
        self._stats: Counter[str] = Counter()
        self._window_start = 0.0
        self._window_used = 0
        self._suppressions: dict[str, list[dict[str, Any]]] = {k: [] for k in SUPPRESSION_KINDS}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeSendGrid:
        if self._server is not None:
            return self
        self.stopping.clear()
        server = _Server((self.host, self.port), FakeHandler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # releases handlers holding a "hang" or "slow" fault
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSendGrid:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- faults ---------------------------------------------------------------------------

    def add_faults(self, *faults: Fault | FaultKind) -> None:
        """Queue faults for the next requests, in order."""
        self.faults.enqueue(faults)

    def set_random_faults(
        self,
        probabilities: Mapping[FaultKind, float],
        *,
        seed: int | None = None,
        seconds: Mapping[FaultKind, float] | None = None,
    ) -> None:
        self.faults.set_random(probabilities, seed=seed, seconds=seconds)

    # -- what was accepted ----------------------------------------------------------------

    @property
    def requests(self) -> list[AcceptedRequest]:
        with self._lock:
            return list(self._requests)

    def accepted_recipients(self) -> Counter[str]:
        """How many accepted requests addressed each ``to`` email."""
        with self._lock:
            return Counter(self._counts)

    def accepted_total(self) -> int:
        with self._lock:
            return self._counts.total()

    def duplicates(self) -> dict[str, int]:
        with self._lock:
            return {email: n for email, n in self._counts.items() if n > 1}

    @property
    def stats(self) -> Counter[str]:
        """Outcomes by name, e.g. ``accepted``, ``status_400``, ``fault_reset``."""
        with self._lock:
            return Counter(self._stats)

    def reset(self) -> None:
        """Forget requests, counts, stats, faults and suppressions."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()
            self._stats.clear()
            for entries in self._suppressions.values():
                entries.clear()
        self.faults.clear()
        self.batch_faults.clear()
        self.schedule.reset()

    # -- scheduled sends ------------------------------------------------------------------

    def advance_clock(self, seconds: float) -> float:
        """Move the virtual clock forward; messages whose ``send_at`` passed are settled."""
        now = self.schedule.clock.advance(seconds)
        self.schedule.settle()
        return now

    def now(self) -> float:
        return self.schedule.clock.now()

    def create_batch(self) -> str:
        """A batch id, as ``POST /v3/mail/batch`` would make it."""
        return self.schedule.create_batch()

    def delivered_recipients(self) -> Counter[str]:
        """How often each ``to`` email was delivered (its ``send_at`` passed, not cancelled)."""
        return self.schedule.outcome("delivered")

    def cancelled_recipients(self) -> Counter[str]:
        return self.schedule.outcome("cancelled")

    def delivered_duplicates(self) -> dict[str, int]:
        return {email: n for email, n in self.delivered_recipients().items() if n > 1}

    def schedule_plan(self, data: dict[str, Any], summary: MailSendSummary) -> SchedulePlan:
        """Check ``batch_id`` and every ``send_at``; raise ``MailSendInvalid`` like SendGrid."""
        book = self.schedule
        errors: list[ApiError] = []
        batch_id = data.get("batch_id")
        if batch_id is not None and (type(batch_id) is not str or not book.is_batch(batch_id)):
            errors.append(ApiError("invalid batch id", "batch_id"))
        base: float = book.clock.now()
        if "send_at" in data:
            problem = book.check_send_at(data["send_at"], "send_at")
            if problem:
                errors.append(ApiError(problem, "send_at"))
            else:
                base = data["send_at"]
        personalizations = data["personalizations"]
        groups: dict[float, list[str]] = {}
        if any("send_at" in p for p in personalizations):
            for i, p in enumerate(personalizations):
                at = p.get("send_at", base)
                if "send_at" in p and (problem := book.check_send_at(at, "send_at")):
                    errors.append(ApiError(problem, f"personalizations.{i}.send_at"))
                    continue
                groups.setdefault(at, []).extend(to["email"] for to in p["to"])
        else:
            groups[base] = summary.recipients
        if errors:
            raise MailSendInvalid(errors)
        return SchedulePlan(batch_id, groups)

    # -- suppressions ---------------------------------------------------------------------

    def add_suppression(
        self, kind: str, email: str, created: int | None = None, reason: str | None = None
    ) -> None:
        if kind not in self._suppressions:
            raise ValueError(f"unknown suppression kind {kind!r}; use one of {SUPPRESSION_KINDS}")
        entry: dict[str, Any] = {"created": int(created if created is not None else time.time())}
        entry["email"] = email
        if kind in ("bounces", "blocks"):
            entry["reason"] = reason or "550 5.1.1 mailbox does not exist"
            entry["status"] = "5.1.1" if kind == "bounces" else "4.0.0"
        elif kind == "invalid_emails":
            entry["reason"] = reason or "Mail domain mentioned in email address is unknown"
        elif kind == "spam_reports":
            entry["ip"] = "192.0.2.10"
        with self._lock:
            self._suppressions[kind].append(entry)

    def suppression_page(
        self, kind: str, start: int | None, end: int | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        with self._lock:
            entries = [
                e
                for e in self._suppressions[kind]
                if (start is None or e["created"] >= start) and (end is None or e["created"] <= end)
            ]
        return entries[offset : offset + limit]

    # -- called by the handler ------------------------------------------------------------

    def count(self, outcome: str) -> None:
        with self._lock:
            self._stats[outcome] += 1

    def record(
        self,
        summary: MailSendSummary,
        body: bytes,
        plan: SchedulePlan | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[str, dict[str, str]]:
        """Record an accepted request; returns its message id and rate-limit headers."""
        message_id = secrets.token_urlsafe(16)
        if plan is None:
            plan = SchedulePlan(None, {self.now(): summary.recipients})
        accepted = AcceptedRequest(
            message_id=message_id,
            custom_args=summary.custom_args,
            recipients=tuple(summary.recipients),
            personalizations=summary.personalizations,
            received_at=time.time(),
            body=body if self.keep_bodies else None,
            batch_id=plan.batch_id,
            send_at=min(plan.groups) if plan.groups else None,
            headers=headers if self.keep_bodies else None,
        )
        with self._lock:
            self._requests.append(accepted)
            self._counts.update(summary.recipients)
            self._stats["accepted"] += 1
            answer = self._use_rate_limit()
        self.schedule.schedule(plan.batch_id, plan.groups)
        return message_id, answer

    def rate_limited(self) -> dict[str, str] | None:
        """The 429 headers when ``enforce_rate_limit`` is on and the window is spent."""
        if not self.enforce_rate_limit:
            return None
        with self._lock:
            self._roll_window()
            if self._window_used < self.rate_limit:
                return None
            return self._rate_headers()

    def _use_rate_limit(self) -> dict[str, str]:
        self._roll_window()
        self._window_used += 1
        return self._rate_headers()

    def _roll_window(self) -> None:
        now = time.time()
        if now >= self._window_start + self.rate_window:
            self._window_start = now - (now % self.rate_window)
            self._window_used = 0

    def _rate_headers(self) -> dict[str, str]:
        reset = self._window_start + self.rate_window
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.rate_limit - self._window_used, 0)),
            "X-RateLimit-Reset": str(int(-(-reset // 1))),
        }


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake SendGrid API on loopback.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    parser.add_argument("--seed", type=int, default=None, help="seed for --random-faults")
    parser.add_argument(
        "--random-faults",
        default="",
        help="comma list of kind=probability, e.g. 500=0.05,reset=0.01",
    )
    args = parser.parse_args(None if argv is None else list(argv))
    fake = FakeSendGrid(
        port=args.port, host=args.host, api_key=args.api_key, max_body_bytes=args.max_body_bytes
    )
    if args.random_faults:
        pairs = (item.split("=", 1) for item in args.random_faults.split(",") if item)
        probabilities = {Fault(kind).kind: float(p) for kind, p in pairs}
        fake.set_random_faults(probabilities, seed=args.seed)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    fake.start()
    print(f"fake SendGrid listening on {fake.url} (api key {fake.api_key})", flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
