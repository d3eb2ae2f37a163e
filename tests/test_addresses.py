"""Address validation: the fast path must agree with email-validator."""

from __future__ import annotations

import random

import pytest

from newsletter.audience.addresses import _full_check, normalize_email
from newsletter.errors import AddressError


def test_domain_lowered_local_part_kept() -> None:
    got = normalize_email("  Jane.Doe+Back@Example.COM ")
    assert got.email == "Jane.Doe+Back@example.com"
    assert got.key == "jane.doe+back@example.com"


def test_case_different_spellings_share_a_key() -> None:
    assert normalize_email("ANN@x.org").key == normalize_email("ann@X.ORG").key


def test_idn_domain_is_stored_ascii_and_both_spellings_match() -> None:
    unicode_form = normalize_email("bob@Bücher.de")
    ascii_form = normalize_email("bob@xn--bcher-kva.de")
    assert unicode_form.email == "bob@xn--bcher-kva.de"
    assert unicode_form.key == ascii_form.key


def test_unicode_local_part_is_accepted() -> None:
    got = normalize_email("jöhn@example.org")
    assert got.email == "jöhn@example.org"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("no-at-sign", "@-sign"),
        ("a..b@x.org", "period"),
        ("a@x..org", "period"),
        ("a b@x.org", "SPACE"),
        ("a@localhost", "period"),
        ("a@printer.local", "special-use"),
        ("Jane <jane@x.org>", "not a valid"),
        ("x" * 250 + "@x.org", "too long"),
    ],
)
def test_invalid_addresses_name_the_address_and_reason(raw: str, fragment: str) -> None:
    with pytest.raises(AddressError) as caught:
        normalize_email(raw)
    message = str(caught.value)
    assert fragment in message
    if raw:
        assert repr(raw.strip()) in message


def _random_address(rng: random.Random) -> str:
    local_chars = "aB9._+-'!~é"
    domain_chars = "aZ0-.é_"
    local = "".join(rng.choice(local_chars) for _ in range(rng.randint(0, 8)))
    domain = "".join(rng.choice(domain_chars) for _ in range(rng.randint(0, 10)))
    tld = rng.choice(["org", "COM", "de", "x1", "local", "", "ab-c"])
    return f"{local}@{domain}.{tld}" if rng.random() < 0.9 else local + domain


def test_fast_path_agrees_with_email_validator() -> None:
    rng = random.Random(20240601)
    checked = 0
    for _ in range(3000):
        raw = _random_address(rng)
        try:
            fast: object = normalize_email(raw)
        except AddressError:
            fast = "invalid"
        try:
            full: object = _full_check(raw.strip())
        except AddressError:
            full = "invalid"
        assert fast == full, raw
        checked += fast != "invalid"
    assert checked > 100  # the corpus exercises valid addresses too
