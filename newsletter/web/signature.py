"""Checks that a webhook request really comes from SendGrid.

SendGrid signs ``timestamp + body`` with ECDSA P-256; the ``sendgrid`` library's
``EventWebhook`` helper does the verification. A timestamp window stops an attacker
from replaying a captured request days later.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

from newsletter.errors import SettingsError, WebhookError

SIGNATURE_HEADER: str = EventWebhookHeader.SIGNATURE
TIMESTAMP_HEADER: str = EventWebhookHeader.TIMESTAMP
DEFAULT_WINDOW_SECONDS = 600


def _bare_key(text: str) -> str:
    # SendGrid shows the key as bare base64; people also paste it as a PEM block.
    lines = [line.strip() for line in text.strip().splitlines()]
    return "".join(line for line in lines if line and not line.startswith("-----"))


def _load_helper(public_key: str) -> EventWebhook:
    def bad(problem: str) -> SettingsError:
        return SettingsError(
            "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid ECDSA public key "
            f"(expected the base64 text SendGrid shows): {problem}"
        )

    bare = _bare_key(public_key)
    if not bare:
        raise bad("it is empty")
    try:
        helper = EventWebhook(public_key=bare)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise bad(exc.__class__.__name__) from exc
    # The helper also loads an RSA key, which would then fail on every request.
    if not isinstance(helper.public_key, ec.EllipticCurvePublicKey):
        raise bad("not an elliptic-curve key")
    return helper


class WebhookVerifier:
    """Verifies the signature headers of one webhook request."""

    def __init__(
        self,
        public_key: str,
        *,
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._helper = _load_helper(public_key)
        self.window_seconds = window_seconds
        self._clock = clock

    def verify(self, body: bytes, signature: str | None, timestamp: str | None) -> None:
        """Return if the request is genuine and fresh; ``WebhookError`` says why not."""
        if not signature or not timestamp:
            raise WebhookError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise WebhookError(f"{TIMESTAMP_HEADER} is not Unix seconds") from None
        if abs(self._clock() - sent_at) > self.window_seconds:
            raise WebhookError(
                f"{TIMESTAMP_HEADER} is more than {self.window_seconds} s away from now"
            )
        try:
            try:
                payload = body.decode("utf-8")
            except UnicodeDecodeError:
                valid = self._verify_bytes(body, signature, timestamp)
            else:
                valid = self._helper.verify_signature(payload, signature, timestamp)
        except (binascii.Error, ValueError) as exc:
            problem = exc.__class__.__name__
            raise WebhookError(f"the signature cannot be checked: {problem}") from exc
        if not valid:
            raise WebhookError("the signature does not match the body")

    def _verify_bytes(self, body: bytes, signature: str, timestamp: str) -> bool:
        # The helper takes text; a body that is not UTF-8 is checked the same way on its
        # raw bytes, so a genuine but malformed request is a 400 and not a 403.
        try:
            self._helper.public_key.verify(
                base64.b64decode(signature),
                timestamp.encode("utf-8") + body,
                ec.ECDSA(hashes.SHA256()),
            )
        except InvalidSignature:
            return False
        return True
