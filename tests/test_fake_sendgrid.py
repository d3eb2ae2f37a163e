"""The fake SendGrid itself: spec-shaped answers, faults, control endpoints, speed."""

from __future__ import annotations

import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from newsletter.delivery.payload import MessageTemplate, Recipient, build_body, encode_body
from newsletter.testing.fake_faults import Fault, FaultPlan
from newsletter.testing.fake_sendgrid import FakeSendGrid
from newsletter.testing.loadgen import post_bodies
from newsletter.testing.mail_send_fast import fast_recipients
from newsletter.testing.mail_send_rules import MailSendInvalid, validate_mail_send

TEMPLATE = MessageTemplate(
    subject="Sciatica: when to see a doctor",
    html="<p>Hello -first_name-</p>",
    text="Hello -first_name-",
    from_email="news@clinic.example.org",
    from_name="Clinic",
    custom_args={"issue_id": "9"},
)


def make_body(n: int, start: int = 0, batch: int = 1) -> bytes:
    people = [
        Recipient(f"p{i}@example.com", None, {"-first_name-": "Sam"}, f"https://x.example/u/{i}")
        for i in range(start, start + n)
    ]
    return encode_body(build_body(TEMPLATE, people, batch=batch))


def call(
    fake: FakeSendGrid,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection(fake.host, fake.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), orjson.loads(raw) if raw else None
    finally:
        conn.close()


def send(
    fake: FakeSendGrid, body: bytes, key: str | None = None
) -> tuple[int, dict[str, str], Any]:
    headers = {
        "Authorization": f"Bearer {key or fake.api_key}",
        "Content-Type": "application/json",
    }
    return call(fake, "POST", "/v3/mail/send", body, headers)


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def test_202_with_message_id_and_rate_limit_headers(fake: FakeSendGrid) -> None:
    status, headers, data = send(fake, make_body(3))
    assert status == 202 and data is None
    assert headers["X-Message-Id"] == fake.requests[0].message_id
    assert headers["X-RateLimit-Limit"] == str(fake.rate_limit)
    assert int(headers["X-RateLimit-Remaining"]) == fake.rate_limit - 1
    assert int(headers["X-RateLimit-Reset"]) >= int(time.time())
    accepted = fake.requests[0]
    assert accepted.custom_args == {"issue_id": "9", "batch": "1"}
    assert accepted.personalizations == 3 and accepted.body is None


def test_401_body_is_the_specs(fake: FakeSendGrid) -> None:
    status, _, data = send(fake, make_body(1), key="wrong")
    assert status == 401
    assert data == {"errors": [{"message": "authorization required", "field": "null"}]}
    status, _, _ = call(
        fake, "POST", "/v3/mail/send", make_body(1), {"Content-Type": "application/json"}
    )
    assert status == 401


def test_errors_have_message_field_and_help(fake: FakeSendGrid) -> None:
    data = orjson.loads(make_body(1))
    data["personalizations"][0]["headers"]["DKIM-Signature"] = "x"
    data["from"] = {"email": "nobody"}
    status, _, answer = send(fake, orjson.dumps(data))
    assert status == 400
    fields = [e["field"] for e in answer["errors"]]
    assert fields == ["from.email", "personalizations.0.headers.DKIM-Signature"]
    assert all(e["message"] and e["help"].startswith("https://") for e in answer["errors"])


def test_non_json_and_wrong_content_type_are_400(fake: FakeSendGrid) -> None:
    assert send(fake, b"{not json")[0] == 400
    headers = {"Authorization": f"Bearer {fake.api_key}", "Content-Type": "text/plain"}
    assert call(fake, "POST", "/v3/mail/send", make_body(1), headers)[0] == 400
    assert fake.requests == []


def test_unknown_paths_and_methods(fake: FakeSendGrid) -> None:
    assert call(fake, "GET", "/v3/nothing")[0] == 404
    assert call(fake, "GET", "/v3/mail/send")[0] == 405


def test_counts_are_per_recipient_and_show_duplicates(fake: FakeSendGrid) -> None:
    send(fake, make_body(3))
    send(fake, make_body(2, start=2))
    assert fake.accepted_recipients() == {
        "p0@example.com": 1,
        "p1@example.com": 1,
        "p2@example.com": 2,
        "p3@example.com": 1,
    }
    assert fake.duplicates() == {"p2@example.com": 2}
    assert fake.accepted_total() == 5


def test_enforced_rate_limit_answers_429_with_reset() -> None:
    with FakeSendGrid(rate_limit=2, rate_window=60.0, enforce_rate_limit=True) as fake:
        assert send(fake, make_body(1))[0] == 202
        status, headers, _ = send(fake, make_body(1))
        assert status == 202 and headers["X-RateLimit-Remaining"] == "0"
        status, headers, _ = send(fake, make_body(1))
        assert status == 429 and int(headers["X-RateLimit-Reset"]) > time.time()
        assert len(fake.requests) == 2


def test_queued_faults_apply_in_order_and_only_accepted_requests_count(fake: FakeSendGrid) -> None:
    fake.add_faults("503", Fault("429", seconds=5), "500")
    statuses = [send(fake, make_body(1, start=i))[0] for i in range(4)]
    assert statuses == [503, 429, 500, 202]
    assert fake.stats["fault_503"] == 1 and fake.stats["accepted"] == 1
    assert list(fake.accepted_recipients()) == ["p3@example.com"]


def test_reset_fault_closes_without_an_answer(fake: FakeSendGrid) -> None:
    fake.add_faults("reset")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        send(fake, make_body(1))
    assert fake.requests == []


def test_random_faults_are_reproducible_with_a_seed() -> None:
    def draws(seed: int) -> list[str | None]:
        plan = FaultPlan()
        plan.set_random({"500": 0.3, "reset": 0.2}, seed=seed)
        return [f.kind if (f := plan.next()) else None for _ in range(200)]

    first = draws(7)
    assert first == draws(7) and first != draws(8)
    assert 40 < first.count("500") < 80 and 20 < first.count("reset") < 60


def test_random_fault_probabilities_are_checked() -> None:
    with pytest.raises(ValueError, match="sum to <= 1"):
        FaultPlan().set_random({"500": 0.7, "503": 0.6})
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("404")  # type: ignore[arg-type]


def test_control_endpoints_drive_the_fake_over_http(fake: FakeSendGrid) -> None:
    status, _, data = call(
        fake,
        "POST",
        "/__fake__/faults",
        orjson.dumps({"queue": ["502", {"kind": "429", "seconds": 2}]}),
    )
    assert status == 200 and data == {"pending": 2}
    assert [send(fake, make_body(1))[0] for _ in range(3)] == [502, 429, 202]
    status, _, summary = call(fake, "GET", "/__fake__/accepted")
    assert summary["requests"] == 1 and summary["recipients"] == 1 and summary["duplicates"] == {}
    assert summary["stats"]["fault_502"] == 1
    _, _, full = call(fake, "GET", "/__fake__/accepted?full=1")
    assert full["counts"] == {"p0@example.com": 1}
    assert full["requests_detail"][0]["custom_args"] == {"issue_id": "9", "batch": "1"}
    bad = orjson.dumps({"queue": [{"kind": "teapot"}]})
    assert call(fake, "POST", "/__fake__/faults", bad)[0] == 400
    assert call(fake, "POST", "/__fake__/reset", b"")[0] == 200
    assert fake.requests == [] and fake.stats == {}


def test_runs_as_a_subprocess(tmp_path: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter.testing.fake_sendgrid", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line
        remote = FakeSendGrid(port=port)  # only used as an address book for call()
        call(remote, "POST", "/__fake__/faults", orjson.dumps({"queue": ["500"]}))
        assert send(remote, make_body(2))[0] == 500
        assert send(remote, make_body(2))[0] == 202
        assert call(remote, "GET", "/__fake__/accepted")[2]["recipients"] == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_loadgen_measures_the_bare_limit(fake: FakeSendGrid) -> None:
    bodies = [make_body(1000, start=i * 1000, batch=i) for i in range(20)]
    result = post_bodies(fake.url, fake.api_key, bodies, threads=2, recipients_per_body=[1000] * 20)
    assert result.statuses == {202: 20}
    assert result.recipients == 20_000 and fake.accepted_total() == 20_000
    assert len(fake.accepted_recipients()) == 20_000
    # A few hundred per second on the reference box; a generous floor for a loaded CI.
    assert result.requests_per_second > 5


def test_loadgen_with_keep_alive(fake: FakeSendGrid) -> None:
    bodies = [make_body(10, start=i * 10) for i in range(30)]
    result = post_bodies(fake.url, fake.api_key, bodies, threads=3, keep_alive=True)
    assert result.statuses == {202: 30} and fake.accepted_total() == 300


# -- the bulk check never passes what the detailed walk rejects ----------------------------

MUTATIONS: list[tuple[str, Any]] = [
    ("email", "no-at-sign"),
    ("email", "a@lines.example.com\nb@lines.example.com"),
    ("email", "a@-bad.example.com"),
    ("email", 42),
    ("to", []),
    ("to", "x@example.com"),
    ("sub_value", 7),
    ("sub_value", "é" * 3000),
    ("header", ("Reply-To", "x")),
    ("header", ("X-Ok", 5)),
    ("custom_args", {"k": "v" * 10_001}),
    ("custom_args", {"k": 1}),
    ("cc", [{"email": "dup@example.com"}]),
    ("personalization", "not a dict"),
]


def _mutate(data: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    target = rng.randrange(len(data["personalizations"]))
    kind, value = rng.choice(MUTATIONS)
    p = data["personalizations"][target]
    if kind == "email":
        p["to"][0]["email"] = value
    elif kind == "to":
        p["to"] = value
    elif kind == "sub_value":
        p["substitutions"]["-first_name-"] = value
    elif kind == "header":
        p["headers"][value[0]] = value[1]
    elif kind == "custom_args":
        p["custom_args"] = value
    elif kind == "cc":
        p["to"] = [{"email": "dup@example.com"}]
        p["cc"] = value
    else:
        data["personalizations"][target] = value
    return data


def test_fast_path_agrees_with_the_detailed_rules() -> None:
    rng = random.Random(5)
    for round_no in range(300):
        data = orjson.loads(make_body(rng.randint(1, 30), start=round_no * 100))
        expected = [p["to"][0]["email"] for p in data["personalizations"]]
        assert fast_recipients(data, 0) == expected
        mutated = _mutate(data, rng)
        try:
            slow = _check_personalizations_only(mutated)
        except MailSendInvalid:
            assert fast_recipients(mutated, 0) is None, mutated
        else:
            fast = fast_recipients(mutated, 0)
            assert fast is None or fast == slow


def _check_personalizations_only(data: dict[str, Any]) -> list[str]:
    # The message-level fields are valid in every generated body.
    return validate_mail_send(data, fast=False).recipients
