"""The suppressions client, paging through the fake's suppression lists."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import pytest

from newsletter.delivery.retry import RetryPolicy
from newsletter.delivery.suppressions_api import (
    SUPPRESSION_KINDS,
    SuppressedAddress,
    SuppressionsClient,
)
from newsletter.errors import SendAuthError, SendRejectedError, SendRetryableError
from newsletter.settings import load_settings
from newsletter.testing.fake_faults import Fault
from newsletter.testing.fake_sendgrid import FakeSendGrid

BASE = 1_700_000_000


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def client(fake: FakeSendGrid, **kwargs: object) -> SuppressionsClient:
    options: dict[str, object] = {"sleep": lambda _s: None, "rng": random.Random(0)}
    options.update(kwargs)
    return SuppressionsClient(fake.url, fake.api_key, 5.0, **options)  # type: ignore[arg-type]


def test_pages_through_250_entries_at_limit_100(fake: FakeSendGrid) -> None:
    for i in range(250):
        fake.add_suppression("bounces", f"b{i}@example.com", BASE + i, f"550 no such user {i}")
    api = client(fake, page_size=100)
    entries = list(api.iter_suppressions("bounces"))
    assert [e.email for e in entries] == [f"b{i}@example.com" for i in range(250)]
    assert api.requests_made == 3
    assert entries[7] == SuppressedAddress(
        email="b7@example.com",
        kind="bounces",
        created=dt.datetime.fromtimestamp(BASE + 7, dt.UTC),
        reason="550 no such user 7",
    )


def test_exact_multiple_of_the_page_size_ends_with_an_empty_page(fake: FakeSendGrid) -> None:
    for i in range(200):
        fake.add_suppression("blocks", f"k{i}@example.com", BASE)
    api = client(fake, page_size=100)
    assert len(list(api.iter_suppressions("blocks"))) == 200
    assert api.requests_made == 3


def test_start_time_filters_on_the_server(fake: FakeSendGrid) -> None:
    for i in range(10):
        fake.add_suppression("spam_reports", f"s{i}@example.com", BASE + i * 100)
    entries = list(client(fake).iter_suppressions("spam_reports", BASE + 500))
    assert [e.email for e in entries] == [f"s{i}@example.com" for i in range(5, 10)]
    assert entries[0].reason is not None and "spam report" in entries[0].reason
    window = client(fake).iter_suppressions("spam_reports", BASE + 100, end_time=BASE + 200)
    assert [e.email for e in window] == ["s1@example.com", "s2@example.com"]


@pytest.mark.parametrize("kind", SUPPRESSION_KINDS)
def test_every_kind_is_served_and_parsed(fake: FakeSendGrid, kind: str) -> None:
    fake.add_suppression(kind, f"{kind}@example.com", BASE, "why")
    (entry,) = client(fake).iter_suppressions(kind)  # type: ignore[arg-type]
    assert entry.email == f"{kind}@example.com" and entry.kind == kind
    assert entry.created == dt.datetime.fromtimestamp(BASE, dt.UTC)
    if kind in ("bounces", "blocks", "invalid_emails"):
        assert entry.reason == "why"
    if kind == "global_unsubscribes":
        assert entry.reason is None


def test_bad_key_is_an_auth_error(fake: FakeSendGrid) -> None:
    api = SuppressionsClient(fake.url, "SG.wrong", 5.0)
    with pytest.raises(SendAuthError, match="authorization required"):
        list(api.iter_suppressions("bounces"))


def test_transient_errors_are_retried_per_page(fake: FakeSendGrid) -> None:
    for i in range(150):
        fake.add_suppression("invalid_emails", f"i{i}@example.com", BASE)
    api = client(fake, page_size=100)
    entries = api.iter_suppressions("invalid_emails")
    first = [next(entries) for _ in range(100)]
    fake.add_faults("503", Fault("429", seconds=0), "reset")
    rest = list(entries)
    assert len(first) + len(rest) == 150 and len({e.email for e in first + rest}) == 150
    assert api.requests_made == 5


def test_retries_run_out(fake: FakeSendGrid) -> None:
    fake.add_faults(*[Fault("500")] * 5)
    api = client(fake, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(SendRetryableError, match="500"):
        list(api.iter_suppressions("bounces"))
    assert api.requests_made == 2


def test_rejected_page_size_and_unknown_kind(fake: FakeSendGrid) -> None:
    with pytest.raises(ValueError, match="page_size"):
        client(fake, page_size=501)
    with pytest.raises(ValueError, match="unknown suppression kind"):
        list(client(fake).iter_suppressions("unsubscribes"))  # type: ignore[arg-type]


def test_a_400_from_the_api_is_a_rejection(fake: FakeSendGrid) -> None:
    api = client(fake)
    api.page_size = 0  # bypass the constructor's check to provoke the server's
    with pytest.raises(SendRejectedError, match="limit") as caught:
        list(api.iter_suppressions("bounces"))
    assert caught.value.status == 400 and caught.value.field == "limit"


def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.abc")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_URL", "http://127.0.0.1:9/")
    api = SuppressionsClient.from_settings(load_settings())
    assert api.base_url == "http://127.0.0.1:9" and api.page_size == 500
