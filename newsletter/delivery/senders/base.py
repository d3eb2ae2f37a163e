"""What every sender promises: one request body in, one ``SendResult`` or one error out.

Senders are the bottom of the delivery stack. They know nothing of the database or of
batches beyond the ``batch_key`` they are handed (used for file names and logs), and they
never retry: retrying is ``newsletter.delivery.retry``'s job, so that the ledger can see
and record every attempt.

Besides sending, a sender speaks SendGrid's batch API (``ScheduledSends``): make a batch
id, cancel, pause or resume the scheduled messages that carry it, and read its status.
The outbox and memory senders keep the same rules locally (at most
``MAX_PAUSED_OR_CANCELLED`` at once), so the default run behaves like the real one.

Errors a sender raises (all from ``newsletter.errors``):

    SendAuthError            401: the key is wrong or revoked; stop the whole send
    SendRejectedError        400/403/413 (and other 4xx): this request will never succeed
    SendRetryableError       429, 5xx, or the request never left this machine
    SendOutcomeUnknownError  the request was sent but no answer came back
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

BatchState = Literal["cancel", "pause"]
MAX_PAUSED_OR_CANCELLED = 10
"""SendGrid allows at most this many batches paused or cancelled at the same time."""
CANCEL_DEADLINE_SECONDS = 600
"""A cancel or pause is guaranteed only when set at least this long before ``send_at``."""
MAX_SEND_AT_AHEAD_SECONDS = 72 * 3600
"""SendGrid refuses a ``send_at`` further ahead than this."""


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

    def create_batch(self) -> str:
        """A new batch id (``POST /v3/mail/batch``)."""
        ...

    def set_batch_state(self, batch_id: str, state: BatchState) -> None:
        """Cancel or pause the batch's scheduled messages (changing an earlier state)."""
        ...

    def clear_batch_state(self, batch_id: str) -> None:
        """Remove a pause or cancel, so the batch's messages go out at their ``send_at``."""
        ...

    def batch_state(self, batch_id: str) -> BatchState | None:
        """The batch's cancel or pause, if one is set (``GET .../scheduled_sends/{id}``)."""
        ...

    def batch_states(self) -> dict[str, BatchState]:
        """Every batch paused or cancelled right now; its size is what the limit counts."""
        ...
