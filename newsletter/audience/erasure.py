"""The keyed hash that stands in for an erased address in the suppression list.

After ``subscribers forget`` nothing in the database may give the address back, yet a
later import or sign-up of it must still be refused. A plain hash would not do: anyone
with the database could hash a list of likely addresses and find the match. The hash
is keyed with ``NEWSLETTER_SECRET_KEY`` (kept outside the database), and every key in
``NEWSLETTER_SECRET_KEY_FALLBACKS`` is tried as well, so rotating the key keeps old
erasures working as long as the old key stays among the fallbacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import blake2b

from newsletter.settings import Settings
from newsletter.storage.repositories.lifecycle import ERASED_PREFIX as PREFIX

# PREFIX starts every stored form in ``suppressions.email_key``; no real key has it.
ERASED_EMAIL = "(erased)"
_PERSON = b"nl-erasure-v1"


def _derive(secret: str) -> bytes:
    # BLAKE2b takes keys of at most 64 bytes; a secret of any length is first reduced,
    # under its own personalization so the key is never reused for tokens.
    return blake2b(secret.encode(), digest_size=32, person=_PERSON).digest()


def _mac(key: bytes, email_key: str) -> str:
    # Keyed BLAKE2b is a MAC in itself and a third the cost of HMAC-SHA256 per call,
    # which matters when a million imported rows are checked.
    digest = blake2b(email_key.encode(), key=key, digest_size=20, person=_PERSON)
    return PREFIX + digest.hexdigest()


@dataclass(frozen=True)
class ErasureKeys:
    """Computes the stored form of an erased address (current key first)."""

    secrets: tuple[bytes, ...]
    """Derived MAC keys, one per secret in use."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ErasureKeys:
        keys = [settings.secret_key, *settings.secret_key_fallbacks]
        return cls(tuple(_derive(k.get_secret_value()) for k in keys))

    def current(self, email_key: str) -> str:
        """What ``forget`` stores for this address."""
        return _mac(self.secrets[0], email_key)

    def candidates(self, email_key: str) -> list[str]:
        """Every stored form this address may have (one per key in use)."""
        return [_mac(secret, email_key) for secret in self.secrets]
