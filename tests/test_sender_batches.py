"""Every sender speaks the batch API: make ids, cancel, pause, resume, read states."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from newsletter.delivery.senders import MemorySender, OutboxSender, Sender, SendGridSender
from newsletter.errors import SendOutcomeUnknownError, SendRejectedError, SendRetryableError
from newsletter.testing.fake_faults import Fault
from newsletter.testing.fake_sendgrid import FakeSendGrid
from tests.test_fake_sendgrid import make_body


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def staged_body(batch_id: str, send_at: int, start: int = 0) -> bytes:
    data = orjson.loads(make_body(2, start=start))
    data["batch_id"], data["send_at"] = batch_id, send_at
    return orjson.dumps(data)


def senders(fake: FakeSendGrid, tmp_path: Path) -> list[Sender]:
    return [
        SendGridSender(fake.api_key, base_url=fake.url, timeout=2.0),
        MemorySender(),
        OutboxSender(tmp_path / "outbox"),
    ]


def test_the_batch_api_behaves_alike_on_every_sender(fake: FakeSendGrid, tmp_path: Path) -> None:
    send_at = int(time.time()) + 3600
    for sender in senders(fake, tmp_path):
        ids = [sender.create_batch() for _ in range(11)]
        assert len(set(ids)) == 11
        for n, batch_id in enumerate(ids):
            sender.send(staged_body(batch_id, send_at, start=2 * n), batch_key=f"k{n}")
        assert sender.batch_state(ids[0]) is None
        for batch_id in ids[:9]:
            sender.set_batch_state(batch_id, "cancel")
        sender.set_batch_state(ids[9], "pause")
        sender.set_batch_state(ids[9], "cancel")  # changing a state is allowed
        with pytest.raises(SendRejectedError, match="10"):
            sender.set_batch_state(ids[10], "pause")
        assert sender.batch_state(ids[9]) == "cancel"
        assert set(sender.batch_states()) == set(ids[:10]), sender.name
        sender.clear_batch_state(ids[0])
        assert sender.batch_state(ids[0]) is None
        sender.set_batch_state(ids[10], "pause")
        with pytest.raises(SendRejectedError, match="invalid batch id"):
            sender.set_batch_state("made-up", "cancel")


def test_sendgrid_sender_refuses_a_batch_id_sendgrid_did_not_make(fake: FakeSendGrid) -> None:
    sender = SendGridSender(fake.api_key, base_url=fake.url, timeout=2.0)
    with pytest.raises(SendRejectedError, match="batch_id"):
        sender.send(staged_body("made-up", int(time.time()) + 60), batch_key="k")


def test_batch_api_failures_translate_like_mail_sends(fake: FakeSendGrid) -> None:
    sender = SendGridSender(fake.api_key, base_url=fake.url, timeout=0.5)
    fake.batch_faults.enqueue(["503"])
    with pytest.raises(SendRetryableError, match="503"):
        sender.create_batch()
    batch_id = sender.create_batch()
    fake.batch_faults.enqueue([Fault("429", 1)])
    with pytest.raises(SendRetryableError) as limited:
        sender.batch_state(batch_id)
    assert limited.value.retry_after is not None
    # The state is read first, then the cancel is posted and its answer lost.
    fake.batch_faults.enqueue([Fault("slow", 0), Fault("hang", 2)])
    with pytest.raises(SendOutcomeUnknownError):
        sender.set_batch_state(batch_id, "cancel")
    assert sender.batch_state(batch_id) == "cancel"


def test_memory_and_outbox_record_batch_id_and_send_at(tmp_path: Path) -> None:
    memory = MemorySender()
    batch_id = memory.create_batch()
    memory.send(staged_body(batch_id, 1_800_000_000), batch_key="1-1")
    assert (memory.sent[0].batch_id, memory.sent[0].send_at) == (batch_id, 1_800_000_000)
    outbox = OutboxSender(tmp_path)
    batch_id = outbox.create_batch()
    outbox.send(staged_body(batch_id, 1_800_000_000), batch_key="1-1")
    eml = (tmp_path / "1-1.eml").read_text()
    assert f"X-Newsletter-Batch-Id: {batch_id}" in eml
    assert "X-Newsletter-Send-At: 2027-01-15T08:00:00Z" in eml
    # A later process sees the ids the send made.
    again = OutboxSender(tmp_path)
    again.set_batch_state(batch_id, "cancel")
    assert OutboxSender(tmp_path).batch_state(batch_id) == "cancel"
