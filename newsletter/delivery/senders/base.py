"""What every sender promises: one request body in, one ``SendResult`` or one error out.

Senders are the bottom of the delivery stack. They know nothing of the database or of
batches beyond the ``batch_key`` they are handed (used for file names and logs), and they
never retry: retrying is ``newsletter.delivery.retry``'s job, so that the ledger can see
and record every attempt.

Errors a sender raises (all from ``newsletter.errors``):

    SendAuthError            401: the key is wrong or revoked; stop the whole send
    SendRejectedError        400/403/413 (and other 4xx): this request will never succeed
    SendRetryableError       429, 5xx, or the request never left this machine
    SendOutcomeUnknownError  the request was sent but no answer came back
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SendResult:
    """A request the provider accepted (SendGrid answers 202)."""

    status: int
    message_id: str | None
    rate_limit_remaining: int | None = None
    rate_limit_reset: float | None = None
    """Epoch seconds at which the provider's rate-limit window starts again."""


@runtime_checkable
class Sender(Protocol):
    """Sends one prebuilt request body (see ``newsletter.delivery.payload``)."""

    name: str

    def send(self, body: bytes, *, batch_key: str) -> SendResult:
        """Send ``body``; return on acceptance, raise a ``DeliveryError`` otherwise."""
        ...
