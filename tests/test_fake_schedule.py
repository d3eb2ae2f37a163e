"""The fake SendGrid's batch ids and scheduled sends, checked against the published specs."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from newsletter.testing.fake_faults import Fault
from newsletter.testing.fake_sendgrid import FakeSendGrid
from tests.test_fake_sendgrid import call, make_body


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def api(fake: FakeSendGrid, method: str, path: str, data: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {fake.api_key}", "Content-Type": "application/json"}
    body = None if data is None else orjson.dumps(data)
    status, _, answer = call(fake, method, path, body, headers)
    return status, answer


def staged(n: int, batch_id: str | None, send_at: int | None, start: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(make_body(n, start=start))
    if batch_id is not None:
        data["batch_id"] = batch_id
    if send_at is not None:
        data["send_at"] = send_at
    return data


def new_batch(fake: FakeSendGrid) -> str:
    status, answer = api(fake, "POST", "/v3/mail/batch")
    assert status == 201
    batch_id: str = answer["batch_id"]
    return batch_id


def test_batch_ids_are_issued_and_validated(fake: FakeSendGrid) -> None:
    batch_id = new_batch(fake)
    assert api(fake, "GET", f"/v3/mail/batch/{batch_id}") == (200, {"batch_id": batch_id})
    status, answer = api(fake, "GET", "/v3/mail/batch/madeup123")
    assert status == 400
    assert answer == {"errors": [{"message": "invalid batch id", "field": "null"}]}
    assert call(fake, "POST", "/v3/mail/batch")[0] == 401


def test_mail_send_refuses_a_batch_id_it_did_not_issue_and_send_at_past_72h(
    fake: FakeSendGrid,
) -> None:
    status, answer = api(fake, "POST", "/v3/mail/send", staged(1, "notissued", None))
    assert status == 400 and answer["errors"][0]["field"] == "batch_id"
    later = int(time.time()) + 72 * 3600 + 120
    status, answer = api(fake, "POST", "/v3/mail/send", staged(1, new_batch(fake), later))
    assert status == 400 and answer["errors"][0]["field"] == "send_at"
    assert "72 hours" in answer["errors"][0]["message"]
    assert fake.requests == []


def test_scheduled_mail_waits_for_its_send_at_then_is_delivered(fake: FakeSendGrid) -> None:
    batch_id = new_batch(fake)
    send_at = int(fake.now()) + 3600
    assert api(fake, "POST", "/v3/mail/send", staged(3, batch_id, send_at))[0] == 202
    assert fake.accepted_total() == 3 and fake.delivered_recipients() == {}
    assert fake.requests[0].batch_id == batch_id and fake.requests[0].send_at == send_at
    fake.advance_clock(3601)
    assert fake.delivered_recipients().total() == 3


def test_a_cancelled_batch_is_discarded_and_confirmed_by_get(fake: FakeSendGrid) -> None:
    batch_id = new_batch(fake)
    send_at = int(fake.now()) + 3600
    api(fake, "POST", "/v3/mail/send", staged(2, batch_id, send_at))
    status, answer = api(
        fake, "POST", "/v3/user/scheduled_sends", {"batch_id": batch_id, "status": "cancel"}
    )
    assert (status, answer) == (201, {"batch_id": batch_id, "status": "cancel"})
    assert api(fake, "GET", f"/v3/user/scheduled_sends/{batch_id}") == (
        200,
        [{"batch_id": batch_id, "status": "cancel"}],
    )
    again = api(fake, "POST", "/v3/user/scheduled_sends", {"batch_id": batch_id, "status": "pause"})
    assert again[0] == 400
    fake.advance_clock(4000)
    assert fake.delivered_recipients() == {} and fake.cancelled_recipients().total() == 2
    assert fake.accepted_total() == 2


def test_cancel_under_ten_minutes_before_send_at_is_not_honoured(fake: FakeSendGrid) -> None:
    batch_id = new_batch(fake)
    send_at = int(fake.now()) + 300
    api(fake, "POST", "/v3/mail/send", staged(1, batch_id, send_at))
    api(fake, "POST", "/v3/user/scheduled_sends", {"batch_id": batch_id, "status": "cancel"})
    fake.advance_clock(400)
    assert fake.delivered_recipients().total() == 1


def test_pause_holds_mail_past_send_at_until_resumed_and_patch_turns_it_to_cancel(
    fake: FakeSendGrid,
) -> None:
    first, second = new_batch(fake), new_batch(fake)
    send_at = int(fake.now()) + 3600
    api(fake, "POST", "/v3/mail/send", staged(1, first, send_at))
    api(fake, "POST", "/v3/mail/send", staged(1, second, send_at, start=1))
    for batch_id in (first, second):
        api(fake, "POST", "/v3/user/scheduled_sends", {"batch_id": batch_id, "status": "pause"})
    fake.advance_clock(4000)
    assert fake.delivered_recipients() == {}
    assert api(fake, "DELETE", f"/v3/user/scheduled_sends/{first}") == (204, None)
    assert fake.delivered_recipients() == {"p0@example.com": 1}
    assert api(fake, "PATCH", f"/v3/user/scheduled_sends/{second}", {"status": "cancel"})[0] == 204
    # Past send_at, the cancel was set late: the fake takes the worst case and delivers.
    assert fake.delivered_recipients().total() == 2
    assert api(fake, "DELETE", f"/v3/user/scheduled_sends/{first}")[0] == 404


def test_at_most_ten_batches_paused_or_cancelled_at_once(fake: FakeSendGrid) -> None:
    send_at = int(fake.now()) + 3600
    ids = [new_batch(fake) for _ in range(11)]
    for n, batch_id in enumerate(ids):
        api(fake, "POST", "/v3/mail/send", staged(1, batch_id, send_at, start=n))
    statuses = [
        api(fake, "POST", "/v3/user/scheduled_sends", {"batch_id": b, "status": "cancel"})[0]
        for b in ids
    ]
    assert statuses == [201] * 10 + [400]
    assert len(api(fake, "GET", "/v3/user/scheduled_sends")[1]) == 10
    fake.advance_clock(3601)
    # The cancelled messages were discarded at send_at: their places are free again.
    assert api(fake, "GET", "/v3/user/scheduled_sends")[1] == []
    assert fake.cancelled_recipients().total() == 10 and fake.delivered_recipients().total() == 1


def test_bad_scheduled_send_requests_get_spec_shaped_errors(fake: FakeSendGrid) -> None:
    status, answer = api(fake, "POST", "/v3/user/scheduled_sends", {"status": "cancel"})
    assert status == 400 and answer["errors"][0]["field"] == "batch_id"
    batch_id = new_batch(fake)
    status, answer = api(
        fake, "POST", "/v3/user/scheduled_sends", {"batch_id": batch_id, "status": "stop"}
    )
    assert status == 400 and answer["errors"][0]["field"] == "status"
    assert api(fake, "GET", "/v3/user/scheduled_sends/nope")[0] == 400
    assert api(fake, "GET", f"/v3/user/scheduled_sends/{batch_id}") == (200, [])
    assert api(fake, "PATCH", f"/v3/user/scheduled_sends/{batch_id}", {"status": "pause"})[0] == 404


def test_batch_faults_are_apart_from_mail_faults(fake: FakeSendGrid) -> None:
    batch_id = new_batch(fake)
    fake.batch_faults.enqueue(["503"])
    send_at = int(fake.now()) + 3600
    assert api(fake, "POST", "/v3/mail/send", staged(1, batch_id, send_at))[0] == 202
    assert api(fake, "POST", "/v3/mail/batch")[0] == 503
    assert api(fake, "POST", "/v3/mail/batch")[0] == 201


def test_hang_on_cancel_applies_it_without_an_answer(fake: FakeSendGrid) -> None:
    batch_id = new_batch(fake)
    fake.batch_faults.enqueue([Fault("hang", 0.2)])
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        api(fake, "POST", "/v3/user/scheduled_sends", {"batch_id": batch_id, "status": "cancel"})
    assert api(fake, "GET", f"/v3/user/scheduled_sends/{batch_id}")[1] == [
        {"batch_id": batch_id, "status": "cancel"}
    ]


def test_clock_and_batch_faults_over_http(fake: FakeSendGrid) -> None:
    before = fake.now()
    status, _, answer = call(fake, "POST", "/__fake__/clock", orjson.dumps({"advance": 7200}))
    assert status == 200 and answer["now"] >= before + 7200
    faults = orjson.dumps({"api": "batch", "queue": ["500"]})
    assert call(fake, "POST", "/__fake__/faults", faults)[2] == {"pending": 1}
    assert fake.faults.pending() == 0
    assert api(fake, "POST", "/v3/mail/batch")[0] == 500
    _, _, summary = call(fake, "GET", "/__fake__/accepted")
    assert summary["delivered"] == 0 and summary["scheduled"] == 0
