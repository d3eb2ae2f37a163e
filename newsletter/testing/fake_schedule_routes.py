"""The fake SendGrid's batch and scheduled-send routes (HTTP only; state is ``ScheduleBook``).

    POST   /v3/mail/batch                        201 {"batch_id"}
    GET    /v3/mail/batch/{batch_id}             200 {"batch_id"} | 400 invalid batch id
    POST   /v3/user/scheduled_sends              201 {"batch_id", "status"}
    GET    /v3/user/scheduled_sends              200 [{"batch_id", "status"}, ...]
    GET    /v3/user/scheduled_sends/{batch_id}   200 [] or [{"batch_id", "status"}]
    PATCH  /v3/user/scheduled_sends/{batch_id}   204
    DELETE /v3/user/scheduled_sends/{batch_id}   204

Faults for these routes come from their own plan (``FakeSendGrid.batch_faults``), so a
test can break the batch API without touching mail sends. ``hang`` does the work (the id is
made, the status set) and then never answers, like a mail send accepted and lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from newsletter.testing.fake_schedule import ScheduleBook, ScheduleError

if TYPE_CHECKING:
    from newsletter.testing.fake_handler import FakeHandler

BATCH_PREFIX = "/v3/mail/batch"
SCHEDULED_PREFIX = "/v3/user/scheduled_sends"


def _error(message: str, field: str | None = "null") -> dict[str, Any]:
    # The published examples carry the string "null" where no field applies.
    return {"errors": [{"message": message, "field": field}]}


def is_schedule_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in (BATCH_PREFIX, SCHEDULED_PREFIX))


def handle(handler: FakeHandler, method: str, path: str) -> None:
    """Answer one request to a batch or scheduled-send route."""
    fake = handler.fake
    raw = (handler._read_body() or b"") if method in ("POST", "PATCH", "DELETE") else b""
    if not handler._authorized():
        handler._answer(401, _error("authorization required"))
        return
    action = _route(fake.schedule, method, path, raw)
    if action is None:
        handler._answer(405, _error("method not allowed"))
        return
    handled, fault = handler._take_fault(fake.batch_faults)
    if handled:
        return
    try:
        status, data = action()
    except ScheduleError as err:
        fake.count(f"schedule_{err.status}")
        handler._answer(err.status, _error(err.message, err.field))
        return
    fake.count(f"schedule_{method.lower()}")
    if fault is not None and fault.kind == "hang":
        fake.stopping.wait(fault.duration)
        handler.close_connection = True
        return
    handler._answer(status, data)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise ScheduleError(400, "The request body is not valid JSON.") from exc
    if type(data) is not dict:
        raise ScheduleError(400, "The request body must be a JSON object.")
    return data


Action = Callable[[], tuple[int, Any]]


def _route(book: ScheduleBook, method: str, path: str, raw: bytes) -> Action | None:
    if path == BATCH_PREFIX:
        return (lambda: (201, {"batch_id": book.create_batch()})) if method == "POST" else None
    if path.startswith(BATCH_PREFIX + "/"):
        batch_id = path[len(BATCH_PREFIX) + 1 :]
        if method != "GET":
            return None

        def validate() -> tuple[int, Any]:
            if not book.is_batch(batch_id):
                raise ScheduleError(400, "invalid batch id")
            return 200, {"batch_id": batch_id}

        return validate
    if path == SCHEDULED_PREFIX:
        if method == "GET":
            return lambda: (200, book.list_statuses())
        if method == "POST":

            def create() -> tuple[int, Any]:
                data = _json(raw)
                return 201, book.set_status(data.get("batch_id"), data.get("status"))

            return create
        return None
    batch_id = path[len(SCHEDULED_PREFIX) + 1 :]
    if method == "GET":
        return lambda: (200, book.get_status(batch_id))
    if method == "PATCH":

        def update() -> tuple[int, Any]:
            book.update_status(batch_id, _json(raw).get("status"))
            return 204, None

        return update
    if method == "DELETE":

        def delete() -> tuple[int, Any]:
            book.delete_status(batch_id)
            return 204, None

        return delete
    return None
