"""Reading SendGrid's suppression lists (bounces, spam reports, blocks, invalid emails,
global unsubscribes), page by page.

It goes through the same ``sendgrid`` library and the same ``translate_error`` as the
mail sender, so a bad key is a ``SendAuthError`` here too. Reads are idempotent, so a
lost answer is simply retried (``SendOutcomeUnknownError`` is turned into a retryable
error), and each page is retried with ``RetryPolicy`` on 429/5xx/connection failures.

Global unsubscribes are listed by ``GET /v3/suppression/unsubscribes`` ("Retrieve all
global suppressions" in the published spec); ``/v3/asm/suppressions/global`` only adds
addresses or reads one address at a time.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson

from newsletter.delivery.retry import RetryPolicy, call_with_retry
from newsletter.delivery.senders.sendgrid import library_client, translate_error
from newsletter.errors import DeliveryError, SendOutcomeUnknownError, SendRetryableError
from newsletter.settings import Settings

SuppressionKind = Literal[
    "bounces", "spam_reports", "blocks", "invalid_emails", "global_unsubscribes"
]
SUPPRESSION_KINDS: tuple[SuppressionKind, ...] = get_args(SuppressionKind)

_PATHS: dict[SuppressionKind, tuple[str, ...]] = {
    "bounces": ("suppression", "bounces"),
    "spam_reports": ("suppression", "spam_reports"),
    "blocks": ("suppression", "blocks"),
    "invalid_emails": ("suppression", "invalid_emails"),
    "global_unsubscribes": ("suppression", "unsubscribes"),
}

MAX_PAGE_SIZE = 500
"""The spec's maximum ``limit`` for every suppression list endpoint."""


@dataclass(frozen=True, slots=True)
class SuppressedAddress:
    """One entry of a suppression list."""

    email: str
    kind: SuppressionKind
    created: dt.datetime
    """When SendGrid added the entry (UTC)."""
    reason: str | None


class SuppressionsClient:
    """Pages through SendGrid's suppression lists with ``limit``/``offset``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float,
        *,
        page_size: int = MAX_PAGE_SIZE,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        if not api_key:
            raise DeliveryError("suppressions: SENDGRID_API_KEY is empty")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.page_size = page_size
        self.retry = retry if retry is not None else RetryPolicy(max_attempts=4)
        self._sleep = sleep
        self._rng = rng
        self.requests_made = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> SuppressionsClient:
        key = settings.sendgrid_api_key.get_secret_value() if settings.sendgrid_api_key else ""
        return cls(settings.sendgrid_api_url, key, settings.request_timeout)

    def iter_suppressions(
        self, kind: SuppressionKind, start_time: int | None = None, *, end_time: int | None = None
    ) -> Iterator[SuppressedAddress]:
        """Every entry of list ``kind`` created in [start_time, end_time] (epoch seconds)."""
        if kind not in _PATHS:
            raise ValueError(f"unknown suppression kind {kind!r}; use one of {SUPPRESSION_KINDS}")
        offset = 0
        while True:
            params: dict[str, int] = {"limit": self.page_size, "offset": offset}
            if start_time is not None:
                params["start_time"] = start_time
            if end_time is not None:
                params["end_time"] = end_time
            page = self._page(kind, params)
            for item in page:
                yield _entry(kind, item)
            if len(page) < self.page_size:
                return
            offset += len(page)

    def _page(self, kind: SuppressionKind, params: dict[str, int]) -> list[dict[str, Any]]:
        what = f"suppressions {kind} offset {params['offset']}"

        def attempt() -> list[dict[str, Any]]:
            self.requests_made += 1
            try:
                client = library_client(self._api_key, self.base_url, self.timeout)
                for segment in _PATHS[kind]:
                    client = client._(segment)
                response = client.get(query_params=params, timeout=self.timeout)
                data = orjson.loads(response.body)
            except orjson.JSONDecodeError as exc:
                raise DeliveryError(f"{what}: SendGrid answered with invalid JSON") from exc
            except Exception as exc:
                error = translate_error(exc, what=what)
                if error is exc:
                    raise
                if isinstance(error, SendOutcomeUnknownError):
                    # A lost answer to a read is harmless: ask again.
                    error = SendRetryableError(str(error))
                raise error from exc
            if not isinstance(data, list):
                raise DeliveryError(f"{what}: expected a JSON array, got {type(data).__name__}")
            return data

        return call_with_retry(attempt, policy=self.retry, sleep=self._sleep, rng=self._rng)


def _entry(kind: SuppressionKind, item: dict[str, Any]) -> SuppressedAddress:
    try:
        email = str(item["email"])
        created = dt.datetime.fromtimestamp(float(item.get("created") or 0), dt.UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise DeliveryError(f"suppressions {kind}: malformed entry {item!r}") from exc
    reason = item.get("reason")
    if reason is None and kind == "spam_reports" and item.get("ip"):
        reason = f"spam report (ip {item['ip']})"
    return SuppressedAddress(
        email=email, kind=kind, created=created, reason=str(reason) if reason else None
    )
