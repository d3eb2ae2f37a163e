"""Senders: how a prebuilt request body leaves the process.

``make_sender`` picks one from the settings; tests build ``MemorySender`` directly.
"""

from __future__ import annotations

from newsletter.delivery.senders.base import Sender, SendResult
from newsletter.delivery.senders.memory import MemoryFault, MemorySender, SentRequest
from newsletter.delivery.senders.outbox import OutboxSender
from newsletter.delivery.senders.sendgrid import SendGridSender
from newsletter.errors import SettingsError
from newsletter.settings import Settings

__all__ = [
    "MemoryFault",
    "MemorySender",
    "OutboxSender",
    "SendGridSender",
    "SendResult",
    "Sender",
    "SentRequest",
    "make_sender",
]


def make_sender(settings: Settings) -> Sender:
    """The sender named by ``settings.effective_sender``."""
    if settings.effective_sender == "outbox":
        return OutboxSender(settings.outbox_dir)
    key = settings.sendgrid_api_key.get_secret_value() if settings.sendgrid_api_key else ""
    if not key:
        raise SettingsError("NEWSLETTER_SENDER=sendgrid needs SENDGRID_API_KEY to be set")
    return SendGridSender(key, base_url=settings.sendgrid_api_url, timeout=settings.request_timeout)
