"""The mail-send body builder: shape, limits, order, and that the fake accepts it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest

from newsletter.delivery.payload import (
    MessageTemplate,
    Recipient,
    body_recipients,
    build_body,
    encode_batch,
    encode_body,
)
from newsletter.delivery.senders.sendgrid import SendGridSender
from newsletter.errors import DeliveryError
from newsletter.testing.fake_sendgrid import FakeSendGrid
from newsletter.testing.mail_send_rules import validate_mail_send

TEMPLATE = MessageTemplate(
    subject="Hi -first_name-, five stretches for sciatica",
    html="<p>Hi -first_name-</p><a href='-unsubscribe_url-'>Unsubscribe</a>",
    text="Hi -first_name-\n\nUnsubscribe: -unsubscribe_url-",
    from_email="newsletter@clinic.example.org",
    from_name="Riverbend Clinic",
    reply_to="frontdesk@clinic.example.org",
    categories=("newsletter", "weekly"),
    custom_args={"issue_id": "12"},
)


def recipients(n: int) -> list[Recipient]:
    out = []
    for i in range(n):
        url = f"https://news.example.org/u/token{i}"
        subs = {"-first_name-": f"Name{i}", "-unsubscribe_url-": url}
        out.append(Recipient(f"person{i}@example.com", f"Person {i}" if i % 2 else None, subs, url))
    return out


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def test_body_shape_for_two_recipients() -> None:
    body = build_body(TEMPLATE, recipients(2), batch=7)
    first, second = body["personalizations"]
    assert first == {
        "to": [{"email": "person0@example.com"}],
        "substitutions": {
            "-first_name-": "Name0",
            "-unsubscribe_url-": "https://news.example.org/u/token0",
        },
        "headers": {
            "List-Unsubscribe": "<https://news.example.org/u/token0>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }
    assert second["to"] == [{"email": "person1@example.com", "name": "Person 1"}]
    assert body["from"] == {"email": "newsletter@clinic.example.org", "name": "Riverbend Clinic"}
    assert body["reply_to"] == {"email": "frontdesk@clinic.example.org"}
    assert body["subject"] == TEMPLATE.subject
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["content"][0]["value"] == TEMPLATE.text
    assert body["custom_args"] == {"issue_id": "12", "batch": "7"}
    assert body["categories"] == ["newsletter", "weekly"]
    # The template's own mapping is not changed by adding the batch number.
    assert dict(TEMPLATE.custom_args) == {"issue_id": "12"}


def test_optional_fields_are_left_out() -> None:
    plain = MessageTemplate("S", "<p>h</p>", "t", "a@example.org", "A")
    body = build_body(plain, recipients(1), batch=1)
    assert "reply_to" not in body
    assert "categories" not in body
    assert body["custom_args"] == {"batch": "1"}


@pytest.mark.parametrize("count", [1, 999, 1000])
def test_sizes_within_the_limit_keep_order(count: int) -> None:
    people = recipients(count)
    body = orjson.loads(encode_body(build_body(TEMPLATE, people, batch=1)))
    assert body_recipients(body) == [r.email for r in people]


@pytest.mark.parametrize("count", [0, 1001])
def test_empty_and_oversized_batches_raise(count: int) -> None:
    message = f"batch 3: .*{count if count else 'no recipients'}"
    for build in (build_body, encode_batch):
        with pytest.raises(DeliveryError, match=message):
            build(TEMPLATE, recipients(count), batch=3)


@pytest.mark.parametrize(
    ("template", "count", "staging"),
    [
        (TEMPLATE, 1, {}),
        (TEMPLATE, 1000, {}),
        (TEMPLATE, 3, {"batch_id": "sg-b1", "send_at": 1_764_000_000}),
        (TEMPLATE, 3, {"batch_id": "sg-b1", "send_at": 1_764_000_000, "personal_send_at": True}),
        (MessageTemplate("Zoë", "<p>Ångström</p>", "t", "a@example.org", "Zoë's"), 2, {}),
    ],
)
def test_encode_batch_is_the_encoded_body_byte_for_byte(
    template: MessageTemplate, count: int, staging: dict[str, object]
) -> None:
    people = recipients(count)
    expected = encode_body(build_body(template, people, batch=4, **staging))  # type: ignore[arg-type]
    assert encode_batch(template, people, batch=4, **staging) == expected  # type: ignore[arg-type]
    assert validate_mail_send(orjson.loads(expected)).personalizations == count


@pytest.mark.parametrize("count", [1, 999, 1000])
def test_every_built_body_passes_the_fakes_rules(count: int) -> None:
    summary = validate_mail_send(
        orjson.loads(encode_body(build_body(TEMPLATE, recipients(count), batch=2)))
    )
    assert summary.personalizations == count
    assert summary.custom_args == {"issue_id": "12", "batch": "2"}


@pytest.mark.parametrize("count", [1, 1000])
def test_every_built_body_is_accepted_over_http(fake: FakeSendGrid, count: int) -> None:
    sender = SendGridSender(fake.api_key, base_url=fake.url, timeout=10)
    people = recipients(count)
    result = sender.send(encode_body(build_body(TEMPLATE, people, batch=5)), batch_key=f"b{count}")
    assert result.status == 202
    accepted = next(r for r in fake.requests if r.message_id == result.message_id)
    assert accepted.recipients == tuple(r.email for r in people)
    assert accepted.custom_args == {"issue_id": "12", "batch": "5"}


def test_building_a_full_batch_is_fast() -> None:
    people = recipients(1000)
    build_body(TEMPLATE, people, batch=1)
    started = time.perf_counter()
    for _ in range(20):
        build_body(TEMPLATE, people, batch=1)
    per_body = (time.perf_counter() - started) / 20
    # About a millisecond on the reference machine; the bound leaves room for a busy CI box.
    assert per_body < 0.02


def test_substitutions_are_shared_not_copied() -> None:
    people = recipients(3)
    body = build_body(TEMPLATE, people, batch=1)
    assert body["personalizations"][1]["substitutions"] is people[1].substitutions


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"subject": ""}, "subject is empty"),
        ({"text": ""}, "text is empty"),
        ({"categories": tuple(f"c{i}" for i in range(11))}, "11 entries"),
        ({"categories": ("a", "a")}, "repeat"),
        ({"categories": ("x" * 256,)}, "1-255"),
        ({"custom_args": {"issue_id": 12}}, r"custom_args\['issue_id'\]"),
        ({"custom_args": {"batch": "1"}}, "'batch' is set per request"),
    ],
)
def test_bad_templates_are_refused_early(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "subject": "S",
        "html": "<p>h</p>",
        "text": "t",
        "from_email": "a@example.org",
        "from_name": "A",
    }
    fields.update(changes)
    with pytest.raises(DeliveryError, match=message):
        MessageTemplate(**fields)  # type: ignore[arg-type]


def test_encode_body_names_unencodable_values() -> None:
    with pytest.raises(DeliveryError, match="cannot be encoded"):
        encode_body({"x": object()})
    odd = Recipient("a@example.org", None, {"-first_name-": object()}, "https://x/u/1")  # type: ignore[dict-item]
    with pytest.raises(DeliveryError, match="cannot be encoded"):
        encode_batch(TEMPLATE, [odd], batch=1)
