"""Signed tokens: round trips, tampering, purpose separation, rotation, expiry."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

import pytest
from pydantic import SecretStr

from newsletter.audience.tokens import (
    _CONFIRM_LABEL,
    _UNSUB,
    _UNSUBSCRIBE_LABEL,
    TokenSigner,
    _encode,
    _KeyedMac,
)
from newsletter.errors import SettingsError, TokenError, TokenExpiredError
from newsletter.settings import load_settings

URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")
NOW = dt.datetime(2025, 3, 4, 9, 0, tzinfo=dt.UTC)


def test_unsubscribe_round_trip_is_url_safe_and_short() -> None:
    signer = TokenSigner("k1")
    token = signer.unsubscribe_token(123456789012, 7)
    assert URL_SAFE.fullmatch(token) and len(token) == 36
    assert signer.verify_unsubscribe(token) == (123456789012, 7)


def test_keyed_mac_is_plain_hmac_sha256() -> None:
    for key in (b"short", b"k" * 64, b"long-" * 40):
        keyed = _KeyedMac(key, b"label")
        expected = hmac.new(key, b"label" + b"message", hashlib.sha256).digest()
        assert keyed.mac(b"message") == expected


def test_every_altered_character_is_rejected() -> None:
    signer = TokenSigner("k1")
    token = signer.unsubscribe_token(42, 3)
    for i, char in enumerate(token):
        for other in ("A", "b", "-"):
            if other != char:
                with pytest.raises(TokenError):
                    signer.verify_unsubscribe(token[:i] + other + token[i + 1 :])


@pytest.mark.parametrize("junk", ["", "abc", "!" * 36, "=" * 36, "a" * 35 + "=", "a" * 37])
def test_malformed_tokens_are_rejected(junk: str) -> None:
    with pytest.raises(TokenError):
        TokenSigner("k1").verify_unsubscribe(junk)


def test_forged_with_another_key_is_rejected() -> None:
    token = TokenSigner("attacker").unsubscribe_token(1, 1)
    with pytest.raises(TokenError):
        TokenSigner("k1").verify_unsubscribe(token)


def test_a_confirm_mac_never_passes_as_an_unsubscribe_token() -> None:
    payload = _UNSUB.pack(5, 6)
    forged = _encode(payload + _KeyedMac(b"k1", _CONFIRM_LABEL).mac(payload)[:15])
    with pytest.raises(TokenError):
        TokenSigner("k1").verify_unsubscribe(forged)
    genuine = _encode(payload + _KeyedMac(b"k1", _UNSUBSCRIBE_LABEL).mac(payload)[:15])
    assert TokenSigner("k1").verify_unsubscribe(genuine) == (5, 6)
    with pytest.raises(TokenError):
        TokenSigner("k1").verify_confirm(genuine, max_age=dt.timedelta(days=1))


def test_key_rotation() -> None:
    old = TokenSigner("old")
    token = old.unsubscribe_token(9, 2)
    rotated = TokenSigner("new", ["old"])
    assert rotated.verify_unsubscribe(token) == (9, 2)
    fresh = rotated.unsubscribe_token(9, 2)
    assert fresh != token
    assert TokenSigner("new").verify_unsubscribe(fresh) == (9, 2)  # signed with the current key
    with pytest.raises(TokenError):
        TokenSigner("new").verify_unsubscribe(token)


def test_confirm_token_expires() -> None:
    signer = TokenSigner("k1")
    token = signer.confirm_token(11, 4, now=NOW)
    assert len(token) == 44 and URL_SAFE.fullmatch(token)
    day = dt.timedelta(hours=24)
    assert signer.verify_confirm(token, max_age=day, now=NOW + day) == (11, 4)
    with pytest.raises(TokenExpiredError, match="expired"):
        signer.verify_confirm(token, max_age=day, now=NOW + day + dt.timedelta(seconds=1))
    with pytest.raises(TokenError, match="future"):
        signer.verify_confirm(token, max_age=day, now=NOW - dt.timedelta(hours=1))
    with pytest.raises(TokenError):
        signer.verify_confirm(token[:-1] + ("A" if token[-1] != "A" else "B"), max_age=day)


def test_unsubscribe_token_never_expires() -> None:
    signer = TokenSigner("k1")
    # No time inside: the same pair always gives the same, always-valid token.
    assert signer.unsubscribe_token(1, 2) == signer.unsubscribe_token(1, 2)


def test_from_settings_uses_key_and_fallbacks() -> None:
    cfg = load_settings(
        secret_key=SecretStr("current-key-0123456789-abcdefghijk"), secret_key_fallbacks=["older"]
    )
    signer = TokenSigner.from_settings(cfg)
    assert signer.verify_unsubscribe(TokenSigner("older").unsubscribe_token(3, 3)) == (3, 3)
    with pytest.raises(SettingsError):
        TokenSigner("")
