"""The three senders; the SendGrid one against the project's fake over real HTTP."""

from __future__ import annotations

import copy
import email
import email.policy
import http.client
import random
import socket
import threading
import time
import urllib.error
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest

from newsletter.delivery.payload import MessageTemplate, Recipient, build_body, encode_body
from newsletter.delivery.retry import RetryPolicy, send_with_retry
from newsletter.delivery.senders import (
    MemorySender,
    OutboxSender,
    SendGridSender,
    make_sender,
)
from newsletter.delivery.senders.sendgrid import translate_error
from newsletter.errors import (
    DeliveryError,
    SendAuthError,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendRetryableError,
    SettingsError,
)
from newsletter.settings import load_settings
from newsletter.testing.fake_faults import Fault
from newsletter.testing.fake_sendgrid import FakeSendGrid

TEMPLATE = MessageTemplate(
    subject="Hi -first_name-: heat or ice for back pain?",
    html="<p>Hi -first_name-, ice first.</p><a href='-unsubscribe_url-'>Unsubscribe</a>",
    text="Hi -first_name-, ice first.\nUnsubscribe: -unsubscribe_url-",
    from_email="newsletter@clinic.example.org",
    from_name="Riverbend Clinic",
    custom_args={"issue_id": "3"},
)


def people(n: int, start: int = 0) -> list[Recipient]:
    out = []
    for i in range(start, start + n):
        url = f"https://news.example.org/u/t{i}"
        subs = {"-first_name-": f"Ana{i}", "-unsubscribe_url-": url}
        out.append(Recipient(f"r{i}@example.com", f"Ana {i}", subs, url))
    return out


def body_dict(n: int = 2) -> dict[str, Any]:
    return build_body(TEMPLATE, people(n), batch=1)


def body(n: int = 2) -> bytes:
    return encode_body(body_dict(n))


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


@pytest.fixture
def sender(fake: FakeSendGrid) -> SendGridSender:
    return SendGridSender(fake.api_key, base_url=fake.url, timeout=5)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


# -- success --------------------------------------------------------------------------------


def test_accepted_request_reports_id_and_rate_limit(
    fake: FakeSendGrid, sender: SendGridSender
) -> None:
    result = sender.send(body(3), batch_key="3-1")
    assert result.status == 202
    assert result.message_id and result.message_id == fake.requests[0].message_id
    assert result.rate_limit_remaining == fake.rate_limit - 1
    assert result.rate_limit_reset is not None and result.rate_limit_reset >= time.time() - 1
    assert fake.accepted_recipients() == {
        "r0@example.com": 1,
        "r1@example.com": 1,
        "r2@example.com": 1,
    }


def test_sender_is_safe_from_many_threads(fake: FakeSendGrid, sender: SendGridSender) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for b in range(5):
                payload = encode_body(
                    build_body(TEMPLATE, people(10, start=t * 100 + b * 10), batch=b)
                )
                sender.send(payload, batch_key=f"t{t}-{b}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    counts = fake.accepted_recipients()
    assert len(counts) == 400 and set(counts.values()) == {1}


# -- 401, 400, 413 --------------------------------------------------------------------------


def test_wrong_key_is_an_auth_error_with_sendgrids_message(fake: FakeSendGrid) -> None:
    bad = SendGridSender("SG.wrong", base_url=fake.url, timeout=5)
    with pytest.raises(SendAuthError, match="401: authorization required"):
        bad.send(body(), batch_key="3-1")
    assert fake.requests == []


def _without(key: str) -> dict[str, Any]:
    data = body_dict()
    del data[key]
    return data


def _edited(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(body_dict())
    for path, value in changes.items():
        target: Any = data
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return data


def _many_personalizations(n: int) -> dict[str, Any]:
    data = body_dict(1)
    data["personalizations"] = data["personalizations"] * n
    return data


def _many_to(n: int) -> dict[str, Any]:
    data = body_dict(1)
    data["personalizations"][0]["to"] = [{"email": f"x{i}@example.com"} for i in range(n)]
    return data


INVALID_BODIES = {
    "no personalizations": (_without("personalizations"), "personalizations", "at least one"),
    "no from": (_without("from"), "from.email", "from"),
    "no subject": (_without("subject"), "subject", "subject is required"),
    "no content": (_without("content"), "content", "content parameter is required"),
    "1001 personalizations": (_many_personalizations(1001), "personalizations", "limit is 1000"),
    "1001 recipients": (_many_to(1001), "personalizations", "1001 recipients"),
    "html before text": (
        _edited(
            content=[
                {"type": "text/html", "value": "<p>x</p>"},
                {"type": "text/plain", "value": "x"},
            ]
        ),
        "content",
        "text/plain content must come first",
    ),
    "custom_args too big": (
        _edited(custom_args={"k": "v" * 10_001}),
        "custom_args",
        "limit is 10000",
    ),
    "substitutions too big": (
        _edited(personalizations__0__substitutions={"-x-": "y" * 10_001}),
        "personalizations.0.substitutions",
        "exceed 10000 bytes",
    ),
    "reserved header": (
        _edited(personalizations__1__headers={"Subject": "hijack"}),
        "personalizations.1.headers.Subject",
        "reserved",
    ),
    "invalid to": (
        _edited(personalizations__1__to=[{"email": "not-an-address"}]),
        "personalizations.1.to.0.email",
        "valid address",
    ),
}


@pytest.mark.parametrize("case", list(INVALID_BODIES))
def test_invalid_bodies_are_rejected_with_field_and_message(
    fake: FakeSendGrid, sender: SendGridSender, case: str
) -> None:
    data, field, message = INVALID_BODIES[case]
    with pytest.raises(SendRejectedError, match=message) as caught:
        sender.send(orjson.dumps(data), batch_key="3-1")
    assert caught.value.status == 400
    assert caught.value.field == field
    assert fake.requests == [] and fake.stats["status_400"] == 1


def test_oversized_body_is_rejected_with_413() -> None:
    with FakeSendGrid(max_body_bytes=50_000) as small:
        sender = SendGridSender(small.api_key, base_url=small.url, timeout=5)
        big = body(400)
        assert len(big) > 50_000
        with pytest.raises(SendRejectedError, match="content too large") as caught:
            sender.send(big, batch_key="3-1")
        assert caught.value.status == 413 and caught.value.field is None
        assert small.requests == []


# -- retryable and unknown ------------------------------------------------------------------


@pytest.mark.parametrize("status", ["500", "502", "503"])
def test_server_errors_are_retryable_then_succeed(
    fake: FakeSendGrid, sender: SendGridSender, status: str
) -> None:
    fake.add_faults(status)  # type: ignore[arg-type]
    with pytest.raises(SendRetryableError, match=f"answered {status}") as caught:
        sender.send(body(), batch_key="3-1")
    assert caught.value.retry_after is None
    fake.add_faults(status)  # type: ignore[arg-type]
    sleeps = Sleeps()
    result = send_with_retry(
        sender, body(), batch_key="3-1", policy=RetryPolicy(), sleep=sleeps, rng=random.Random(1)
    )
    assert result.status == 202 and len(sleeps.calls) <= 1
    assert fake.stats[f"fault_{status}"] == 2 and len(fake.requests) == 1


def test_429_waits_until_the_reset_then_succeeds(
    fake: FakeSendGrid, sender: SendGridSender
) -> None:
    fake.add_faults(Fault("429", seconds=3))
    with pytest.raises(SendRetryableError, match="429") as caught:
        sender.send(body(), batch_key="3-1")
    assert caught.value.retry_after is not None and 2.0 <= caught.value.retry_after <= 4.0
    fake.add_faults(Fault("429", seconds=3))
    sleeps = Sleeps()
    policy = RetryPolicy(jitter=0.0, poll_interval=60)
    result = send_with_retry(sender, body(), batch_key="3-1", policy=policy, sleep=sleeps)
    assert result.status == 202
    assert len(sleeps.calls) == 1 and 2.0 <= sleeps.calls[0] <= 4.0
    assert len(fake.requests) == 1


def test_connection_refused_is_retryable_because_nothing_was_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = SendGridSender("SG.k", base_url=f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(SendRetryableError, match="not sent, connection failed"):
        sender.send(body(), batch_key="3-1")


def test_reset_after_sending_is_unknown_and_never_retried(
    fake: FakeSendGrid, sender: SendGridSender
) -> None:
    fake.add_faults("reset")
    sleeps = Sleeps()
    with pytest.raises(SendOutcomeUnknownError, match="no answer came back"):
        send_with_retry(sender, body(), batch_key="3-1", policy=RetryPolicy(), sleep=sleeps)
    assert sleeps.calls == []
    assert fake.stats["fault_reset"] == 1 and fake.requests == []


def test_accept_then_hang_is_unknown_within_the_timeout(fake: FakeSendGrid) -> None:
    sender = SendGridSender(fake.api_key, base_url=fake.url, timeout=0.5)
    fake.add_faults(Fault("hang", seconds=5))
    started = time.monotonic()
    with pytest.raises(SendOutcomeUnknownError, match="timed out"):
        sender.send(body(), batch_key="3-1")
    assert time.monotonic() - started < 2.0
    # The fake did accept it: resending would deliver twice.
    assert len(fake.requests) == 1


def test_slow_answer_within_the_timeout_succeeds(fake: FakeSendGrid) -> None:
    sender = SendGridSender(fake.api_key, base_url=fake.url, timeout=2)
    fake.add_faults(Fault("slow", seconds=0.3))
    started = time.monotonic()
    assert sender.send(body(), batch_key="3-1").status == 202
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (urllib.error.URLError(TimeoutError("timed out")), SendRetryableError),
        (
            urllib.error.URLError(socket.gaierror(-2, "Name or service not known")),
            SendRetryableError,
        ),
        (urllib.error.URLError(ConnectionResetError(104, "reset")), SendRetryableError),
        (TimeoutError("timed out"), SendOutcomeUnknownError),
        (http.client.RemoteDisconnected("closed"), SendOutcomeUnknownError),
        (http.client.IncompleteRead(b"x", 5), SendOutcomeUnknownError),
        (ConnectionResetError(104, "reset"), SendOutcomeUnknownError),
    ],
)
def test_network_errors_are_classified_by_whether_the_request_left(
    error: Exception, expected: type[DeliveryError]
) -> None:
    assert type(translate_error(error, what="batch 1")) is expected


def test_unrelated_exceptions_are_not_disguised() -> None:
    bug = KeyError("oops")
    assert translate_error(bug, what="batch 1") is bug


# -- outbox ---------------------------------------------------------------------------------


def test_outbox_writes_json_and_a_readable_eml(tmp_path: Path) -> None:
    sender = OutboxSender(tmp_path / "outbox")
    raw = body(3)
    result = sender.send(raw, batch_key="3-1")
    assert result.status == 202 and result.message_id and result.message_id.startswith("outbox-")
    assert (tmp_path / "outbox" / "3-1.json").read_bytes() == raw
    with (tmp_path / "outbox" / "3-1.eml").open("rb") as handle:
        msg = email.message_from_binary_file(handle, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["To"] == "Ana 0 <r0@example.com>"
    assert msg["From"] == "Riverbend Clinic <newsletter@clinic.example.org>"
    assert msg["Subject"] == "Hi Ana0: heat or ice for back pain?"
    assert msg["List-Unsubscribe"] == "<https://news.example.org/u/t0>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert "Unsubscribe: https://news.example.org/u/t0" in parts[0].get_content()
    assert "Hi Ana0" in parts[1].get_content()
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == ["3-1.eml", "3-1.json"]


def test_outbox_refuses_unsafe_batch_keys(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="not a safe file name"):
        OutboxSender(tmp_path).send(body(), batch_key="../escape")


def test_outbox_disk_errors_name_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(DeliveryError, match="not-a-dir"):
        OutboxSender(blocker).send(body(), batch_key="3-1")


# -- memory ---------------------------------------------------------------------------------


def test_memory_sender_records_and_scripts_faults() -> None:
    sender = MemorySender()
    sender.fail_next(SendRetryableError("503"))
    sender.fail_batch("3-2", SendOutcomeUnknownError("lost"), accepted=True)
    with pytest.raises(SendRetryableError):
        sender.send(body(), batch_key="3-1")
    assert sender.sent == []
    with pytest.raises(SendOutcomeUnknownError):
        sender.send(body(1), batch_key="3-2")
    result = sender.send(body(2), batch_key="3-1")
    assert result.status == 202 and result.message_id
    assert [s.batch_key for s in sender.sent] == ["3-2", "3-1"]
    assert sender.accepted_recipients() == {"r0@example.com": 2, "r1@example.com": 1}
    assert sender.attempts == 3


def test_memory_sender_is_thread_safe() -> None:
    sender = MemorySender()
    threads = [
        threading.Thread(
            target=lambda i=i: [sender.send(body(1), batch_key=f"{i}-{j}") for j in range(50)]
        )
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sender.sent) == 400
    assert len({s.message_id for s in sender.sent}) == 400


# -- make_sender ----------------------------------------------------------------------------


def test_make_sender_follows_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(make_sender(load_settings()), OutboxSender)
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.abc")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_URL", "http://127.0.0.1:9")
    made = make_sender(load_settings())
    assert isinstance(made, SendGridSender) and made.base_url == "http://127.0.0.1:9"
    monkeypatch.delenv("SENDGRID_API_KEY")
    monkeypatch.setenv("NEWSLETTER_SENDER", "sendgrid")
    with pytest.raises(SettingsError, match="SENDGRID_API_KEY"):
        make_sender(load_settings())
