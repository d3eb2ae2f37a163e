"""The fake SendGrid's request handler: routing, auth, faults and answers.

State lives on ``FakeSendGrid`` (``self.server.fake``); this module only speaks HTTP.
"""

from __future__ import annotations

import socket
import struct
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from newsletter.testing import fake_schedule_routes
from newsletter.testing.fake_faults import Fault, FaultPlan
from newsletter.testing.mail_send_rules import ApiError, MailSendInvalid, validate_mail_send

if TYPE_CHECKING:
    from newsletter.testing.fake_sendgrid import FakeSendGrid

# The 401 body as given in the published mail-send spec (field is the string "null" there).
UNAUTHORIZED_BODY = {"errors": [{"message": "authorization required", "field": "null"}]}
SUPPRESSION_PATHS = {
    "/v3/suppression/bounces": "bounces",
    "/v3/suppression/spam_reports": "spam_reports",
    "/v3/suppression/blocks": "blocks",
    "/v3/suppression/invalid_emails": "invalid_emails",
    "/v3/suppression/unsubscribes": "global_unsubscribes",
    "/v3/asm/suppressions/global": "global_unsubscribes",
}
MAX_PAGE = 500
_DRAIN_CHUNK = 1 << 20


def _errors(*errors: ApiError) -> dict[str, Any]:
    return {"errors": [e.as_dict() for e in errors]}


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for clients that ask; urllib closes anyway
    disable_nagle_algorithm = True
    server_version = "FakeSendGrid/1"

    @property
    def fake(self) -> FakeSendGrid:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a million-recipient benchmark must not print a line per request."""

    # -- plumbing -------------------------------------------------------------------------

    def _answer(self, status: int, data: Any = None, headers: dict[str, str] | None = None) -> None:
        payload = b"" if data is None else orjson.dumps(data)
        self.send_response(status)
        if data is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _read_body(self, limit: int | None = None) -> bytes | None:
        """The request body; None (after draining it) when it is longer than ``limit``."""
        length = int(self.headers.get("Content-Length") or 0)
        if limit is not None and length > limit:
            # Read it anyway: answering before the client finished writing would look like
            # a connection reset to the client, not a 413.
            while length > 0:
                chunk = self.rfile.read(min(length, _DRAIN_CHUNK))
                if not chunk:
                    break
                length -= len(chunk)
            return None
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.fake.api_key}"

    def _reset_connection(self) -> None:
        # SO_LINGER 0 turns close() into a TCP reset instead of an orderly shutdown.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    # -- routing --------------------------------------------------------------------------

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/v3/mail/send":
            self._mail_send()
        elif fake_schedule_routes.is_schedule_path(path):
            fake_schedule_routes.handle(self, "POST", path)
        elif path == "/__fake__/clock":
            self._control_clock()
        elif path == "/__fake__/faults":
            self._control_faults()
        elif path == "/__fake__/suppressions":
            self._control_suppressions()
        elif path == "/__fake__/reset":
            self._read_body()
            self.fake.reset()
            self._answer(200, {"ok": True})
        else:
            self._read_body()
            self._answer(404, _errors(ApiError("not found", None)))

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if fake_schedule_routes.is_schedule_path(parts.path):
            fake_schedule_routes.handle(self, "GET", parts.path)
        elif parts.path in SUPPRESSION_PATHS:
            self._suppressions(SUPPRESSION_PATHS[parts.path], parse_qs(parts.query))
        elif parts.path == "/__fake__/accepted":
            self._control_accepted(parse_qs(parts.query))
        elif parts.path == "/v3/mail/send":
            self._answer(405, _errors(ApiError("method not allowed", None)))
        else:
            self._answer(404, _errors(ApiError("not found", None)))

    def do_PATCH(self) -> None:
        self._other_method("PATCH")

    def do_DELETE(self) -> None:
        self._other_method("DELETE")

    def _other_method(self, method: str) -> None:
        path = urlsplit(self.path).path
        if fake_schedule_routes.is_schedule_path(path):
            fake_schedule_routes.handle(self, method, path)
        else:
            self._read_body()
            self._answer(405, _errors(ApiError("method not allowed", None)))

    # -- mail send ------------------------------------------------------------------------

    def _mail_send(self) -> None:
        fake = self.fake
        body = self._read_body(fake.max_body_bytes)
        if not self._authorized():
            fake.count("status_401")
            self._answer(401, UNAUTHORIZED_BODY)
            return
        if body is None:
            fake.count("status_413")
            self._answer(413, _errors(ApiError("content too large", None)))
            return
        handled, fault = self._take_fault(fake.faults)
        if not handled:
            self._accept(body, fault)

    def _take_fault(self, plan: FaultPlan) -> tuple[bool, Fault | None]:
        """Draw the next fault: (True, f) when it was answered here, else the one to honour.

        ``slow`` is waited out here; ``hang`` is left to the caller, which does the work first.
        """
        fault = plan.next()
        if fault is not None and fault.kind not in ("hang", "slow"):
            self._apply_fault(fault)
            return True, fault
        if fault is not None and fault.kind == "slow":
            self.fake.stopping.wait(fault.duration)
        return False, fault

    def _apply_fault(self, fault: Fault) -> None:
        self.fake.count(f"fault_{fault.kind}")
        if fault.kind == "reset":
            self._reset_connection()
        elif fault.kind == "429":
            reset = int(time.time() + fault.duration + 0.999)
            headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"}
            headers["X-RateLimit-Reset"] = str(reset)
            self._answer(429, _errors(ApiError("too many requests", None)), headers)
        else:
            status = int(fault.kind)
            self._answer(status, _errors(ApiError("internal server error", None)))

    def _accept(self, body: bytes, fault: Fault | None) -> None:
        fake = self.fake
        content_type = self.headers.get("Content-Type") or ""
        if not content_type.startswith("application/json"):
            fake.count("status_400")
            message = "Content-Type should be application/json."
            self._answer(400, _errors(ApiError(message, None)))
            return
        try:
            data = orjson.loads(body)
            summary = validate_mail_send(data)
        except orjson.JSONDecodeError:
            fake.count("status_400")
            self._answer(400, _errors(ApiError("The request body is not valid JSON.", None)))
            return
        except MailSendInvalid as invalid:
            fake.count("status_400")
            self._answer(400, _errors(*invalid.errors))
            return
        try:
            plan = fake.schedule_plan(data, summary)
        except MailSendInvalid as invalid:
            fake.count("status_400")
            self._answer(400, _errors(*invalid.errors))
            return
        limited = fake.rate_limited()
        if limited is not None:
            fake.count("status_429")
            self._answer(429, _errors(ApiError("too many requests", None)), limited)
            return
        message_id, headers = fake.record(summary, body, plan, dict(self.headers.items()))
        if fault is not None and fault.kind == "hang":
            # Accepted, yet the client never hears back: the "outcome unknown" case.
            fake.stopping.wait(fault.duration)
            self.close_connection = True
            return
        headers["X-Message-Id"] = message_id
        self._answer(202, None, headers)

    # -- suppressions ---------------------------------------------------------------------

    def _suppressions(self, kind: str, query: dict[str, list[str]]) -> None:
        if not self._authorized():
            self._answer(401, UNAUTHORIZED_BODY)
            return
        try:
            limit = int(query.get("limit", [str(MAX_PAGE)])[0])
            offset = int(query.get("offset", ["0"])[0])
            start = int(query["start_time"][0]) if "start_time" in query else None
            end = int(query["end_time"][0]) if "end_time" in query else None
        except ValueError:
            self._answer(400, _errors(ApiError("query parameters must be integers", None)))
            return
        if not 1 <= limit <= MAX_PAGE:
            self._answer(400, _errors(ApiError(f"limit must be 1..{MAX_PAGE}", "limit")))
            return
        if offset < 0:
            self._answer(400, _errors(ApiError("offset must not be negative", "offset")))
            return
        fault = self.fake.faults.next()
        if fault is not None and fault.kind not in ("hang", "slow"):
            self._apply_fault(fault)
            return
        self._answer(200, self.fake.suppression_page(kind, start, end, limit, offset))

    # -- control endpoints ----------------------------------------------------------------

    def _json_body(self) -> Any:
        raw = self._read_body()
        return orjson.loads(raw) if raw else {}

    def _control_faults(self) -> None:
        try:
            data = self._json_body()
            # "api": "batch" aims the faults at the batch and scheduled-send routes.
            plan = self.fake.batch_faults if data.get("api") == "batch" else self.fake.faults
            if data.get("clear"):
                plan.clear()
            plan.enqueue(Fault.parse(f) for f in data.get("queue", []))
            if "random" in data:
                seconds = data.get("random_seconds")
                plan.set_random(data["random"], seed=data.get("seed"), seconds=seconds)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._answer(400, _errors(ApiError(f"bad fault request: {exc}", None)))
            return
        self._answer(200, {"pending": plan.pending()})

    def _control_clock(self) -> None:
        try:
            data = self._json_body()
            now = self.fake.schedule.clock.advance(float(data.get("advance", 0)))
        except (ValueError, TypeError, AttributeError) as exc:
            self._answer(400, _errors(ApiError(f"bad clock request: {exc}", None)))
            return
        self._answer(200, {"now": now})

    def _control_suppressions(self) -> None:
        try:
            data = self._json_body()
            for entry in data["entries"]:
                self.fake.add_suppression(
                    data["kind"], entry["email"], entry.get("created"), entry.get("reason")
                )
        except (ValueError, KeyError, TypeError) as exc:
            self._answer(400, _errors(ApiError(f"bad suppressions request: {exc}", None)))
            return
        self._answer(200, {"ok": True})

    def _control_accepted(self, query: dict[str, list[str]]) -> None:
        fake = self.fake
        counts = fake.accepted_recipients()
        result: dict[str, Any] = {
            "requests": len(fake.requests),
            "recipients": counts.total(),
            "unique": len(counts),
            "duplicates": {e: n for e, n in counts.items() if n > 1},
            "stats": dict(fake.stats),
            "delivered": fake.delivered_recipients().total(),
            "delivered_duplicates": fake.delivered_duplicates(),
            "cancelled": fake.schedule.outcome("cancelled").total(),
            "scheduled": fake.schedule.scheduled().total(),
        }
        if query.get("full", ["0"])[0] not in ("", "0"):
            result["counts"] = dict(counts)
            result["delivered_counts"] = dict(fake.delivered_recipients())
            result["requests_detail"] = [
                {
                    "message_id": r.message_id,
                    "custom_args": r.custom_args,
                    "recipients": len(r.recipients),
                    "batch_id": r.batch_id,
                    "send_at": r.send_at,
                }
                for r in fake.requests
            ]
        self._answer(200, result)
