"""The SendGrid v3 sender, over the official ``sendgrid`` library's HTTP client.

The library is thin: its ``python_http_client`` builds a ``urllib`` request, opens a new
connection for every request and sets no timeout unless told
(``python_http_client.Client.timeout``, which we pass on every call). It raises
``python_http_client`` ``HTTPError`` subclasses for HTTP error statuses (the base class for
statuses it has no name for, such as 502) and lets ``urllib``'s network errors through
untouched. ``translate_error`` is the one place where those become our errors, and it
decides the question that matters most to the ledger:
*could SendGrid have received this request?*

- ``urllib.error.URLError`` comes only from connecting or writing the request (DNS,
  refused, connect timeout, reset while the body was still being written). SendGrid
  cannot act on a request it did not receive whole, so it was **not sent**: retryable.
- Any ``OSError`` or ``http.client.HTTPException`` after that (read timeout, reset or
  close before/while reading the answer) means the whole request was written and the
  answer was lost: **outcome unknown**, never retried automatically.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import math
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson
from python_http_client.client import Client, Response
from python_http_client.exceptions import HTTPError

from newsletter.delivery.senders.base import BatchState, SendResult
from newsletter.errors import (
    DeliveryError,
    SendAuthError,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendRetryableError,
)

# The content type the library would not run json.dumps under (anything but exactly
# "application/json"); kept as it was sent before the body went out as bytes.
_CONTENT_TYPE = "application/json; charset=utf-8"


def library_client(api_key: str, base_url: str, timeout: float) -> Any:
    """The library's v3 client, as ``SendGridAPIClient(api_key, host=base_url).client``.

    ``SendGridAPIClient`` only fills in three headers and hands over this
    ``python_http_client.Client``, which makes every request; it is made here the same
    way because importing the ``sendgrid`` package imports its event-webhook helper and
    with it ``cryptography``: ~6 MB of a send's memory that sending never uses.
    ``tests/test_sendgrid_body.py`` checks that both make the same client (URL, headers).
    """
    headers = {
        "Authorization": f"Bearer {api_key}",
        "User-Agent": f"sendgrid/{_library_version()};python",
        "Accept": "application/json",
    }
    return Client(host=base_url, request_headers=headers, version=3, timeout=timeout)


@cache
def _library_version() -> str:
    return importlib.metadata.version("sendgrid")


class SendGridSender:
    """Posts prebuilt bodies to ``{base_url}/v3/mail/send``; safe to share between threads."""

    name: str = "sendgrid"

    def __init__(self, api_key: str, *, base_url: str, timeout: float) -> None:
        if not api_key:
            raise DeliveryError("sendgrid sender: SENDGRID_API_KEY is empty")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _client(self) -> Any:
        # One client per call: the library mutates its header dict on every request, so a
        # shared client would race between threads. A client is only a few small objects.
        return library_client(self._api_key, self.base_url, self.timeout)

    def send(self, body: bytes, *, batch_key: str) -> SendResult:
        try:
            response = _post_bytes(self._client().mail.send, body, timeout=self.timeout)
        except Exception as exc:
            error = translate_error(exc, what=f"batch {batch_key}")
            if error is exc:
                raise
            raise error from exc
        headers = response.headers
        return SendResult(
            status=int(response.status_code),
            message_id=headers.get("X-Message-Id"),
            rate_limit_remaining=_int_or_none(headers.get("X-RateLimit-Remaining")),
            rate_limit_reset=_float_or_none(headers.get("X-RateLimit-Reset")),
        )

    # -- the batch and scheduled-send API ----------------------------------------------

    def _call(self, what: str, make: Any) -> Any:
        """Run one library call, translating its failures like a mail send's."""
        try:
            return make(self._client())
        except Exception as exc:
            error = translate_error(exc, what=what)
            if error is exc:
                raise
            raise error from exc

    def create_batch(self) -> str:
        response = self._call("create batch id", lambda c: c.mail.batch.post(timeout=self.timeout))
        batch_id = _json_field(response.body, "batch_id")
        if not isinstance(batch_id, str) or not batch_id:
            raise SendRetryableError(
                f"create batch id: SendGrid answered without a batch_id: {response.body!r:.200}"
            )
        return batch_id

    def set_batch_state(self, batch_id: str, state: BatchState) -> None:
        what = f"{state} batch {batch_id}"
        current = self.batch_state(batch_id)
        if current == state:
            return
        if current is None:
            self._call(
                what,
                lambda c: c.user.scheduled_sends.post(
                    request_body={"batch_id": batch_id, "status": state}, timeout=self.timeout
                ),
            )
        else:
            self._call(
                what,
                lambda c: c.user.scheduled_sends._(batch_id).patch(
                    request_body={"status": state}, timeout=self.timeout
                ),
            )

    def clear_batch_state(self, batch_id: str) -> None:
        if self.batch_state(batch_id) is None:
            return
        self._call(
            f"resume batch {batch_id}",
            lambda c: c.user.scheduled_sends._(batch_id).delete(timeout=self.timeout),
        )

    def batch_state(self, batch_id: str) -> BatchState | None:
        response = self._call(
            f"read batch {batch_id}",
            lambda c: c.user.scheduled_sends._(batch_id).get(timeout=self.timeout),
        )
        states = _states(response.body)
        return states.get(batch_id)

    def batch_states(self) -> dict[str, BatchState]:
        response = self._call(
            "list scheduled sends", lambda c: c.user.scheduled_sends.get(timeout=self.timeout)
        )
        return _states(response.body)


def _post_bytes(endpoint: Any, body: bytes, *, timeout: float) -> Any:
    """POST ``body`` to ``endpoint`` (a library ``Client``) as it is; the library's response.

    The library's ``post`` takes a str and encodes it, so our orjson bytes would be
    decoded and encoded again: two more copies of every body in flight (~0.5 MB each at
    1000 recipients), plus the str its debug log formats the payload into, enabled or not.
    This is what ``post`` does for a non-JSON content type (``Client.__getattr__``): the
    same URL, headers (the key, the library's User-Agent and Accept) and timeout, a new
    opener, and ``_make_request``, which raises the library's ``HTTPError`` subclasses
    exactly as ``post`` does, so ``translate_error`` sees the same failures.
    """
    endpoint._update_headers({"Content-Type": _CONTENT_TYPE})
    request = urllib.request.Request(
        endpoint._build_url(None), data=body, headers=endpoint.request_headers, method="POST"
    )
    return Response(endpoint._make_request(urllib.request.build_opener(), request, timeout))


def _json_field(raw: bytes | str | None, name: str) -> object:
    try:
        data = orjson.loads(raw or b"null")
    except orjson.JSONDecodeError:
        return None
    return data.get(name) if isinstance(data, dict) else None


def _states(raw: bytes | str | None) -> dict[str, BatchState]:
    """``[{"batch_id", "status"}, ...]`` as a dict; entries of other shapes are ignored."""
    try:
        data = orjson.loads(raw or b"[]")
    except orjson.JSONDecodeError as exc:
        raise SendRetryableError(
            f"scheduled sends: SendGrid answered with bad JSON: {exc}"
        ) from exc
    states: dict[str, BatchState] = {}
    for entry in data if isinstance(data, list) else ():
        if isinstance(entry, dict) and entry.get("status") in ("cancel", "pause"):
            states[str(entry.get("batch_id"))] = entry["status"]
    return states


def translate_error(exc: BaseException, *, what: str, now: float | None = None) -> Exception:
    """The ``DeliveryError`` for one failure of the library or the network.

    Anything unrecognised is returned unchanged so that real bugs still surface.
    """
    if isinstance(exc, HTTPError):
        return _from_status(exc, what, time.time() if now is None else now)
    if isinstance(exc, urllib.error.HTTPError):
        # The library converts these; kept for a call path that does not.
        return _from_status(HTTPError(exc), what, time.time() if now is None else now)
    if isinstance(exc, urllib.error.URLError):
        return SendRetryableError(f"{what}: not sent, connection failed: {exc.reason}")
    if isinstance(exc, OSError | http.client.HTTPException):
        kind = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return SendOutcomeUnknownError(
            f"{what}: request sent but no answer came back ({kind}: {exc}); "
            "it may or may not have been delivered"
        )
    return exc if isinstance(exc, Exception) else RuntimeError(repr(exc))


def _from_status(exc: HTTPError, what: str, now: float) -> DeliveryError:
    status = int(exc.status_code)
    message, field = _first_error(exc.body)
    headers: Mapping[str, str] = exc.headers or {}
    detail = f"{what}: SendGrid answered {status}: {message}"
    if field:
        detail += f" (field {field})"
    if status == 401:
        return SendAuthError(detail + " - check SENDGRID_API_KEY and the account's credits")
    if status == 429:
        return SendRetryableError(detail, retry_after=_retry_after(headers, now))
    if status >= 500 or status == 408:
        return SendRetryableError(detail)
    return SendRejectedError(detail, status, field)


def _first_error(raw: bytes | str | None) -> tuple[str, str | None]:
    """Message and field of SendGrid's ``{"errors": [{message, field, help}]}``."""
    if not raw:
        return "(empty body)", None
    try:
        data = orjson.loads(raw)
        errors = data["errors"]
        messages = [str(e.get("message") or "") for e in errors]
        field = errors[0].get("field") if errors else None
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        return text[:300], None
    # The published spec shows the string "null" where the live API sends null.
    if field in (None, "", "null"):
        field = None
    return "; ".join(m for m in messages if m) or "(no message)", field


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    reset = _float_or_none(headers.get("X-RateLimit-Reset"))
    if reset is not None:
        # The header is whole epoch seconds; round up so we never come back early.
        return max(0.0, math.ceil(reset) - now)
    return _float_or_none(headers.get("Retry-After"))


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
