"""The SendGrid sender posts the encoded body as it is: same bytes, same headers, no copies."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace

import pytest

from newsletter.delivery.payload import MessageTemplate, Recipient, build_body, encode_body
from newsletter.delivery.senders import SendGridSender
from newsletter.delivery.senders.sendgrid import library_client
from newsletter.errors import SendRetryableError
from newsletter.testing.fake_sendgrid import FakeSendGrid

TEMPLATE = MessageTemplate(
    subject="Zoë's notes: heat or ice?",
    html="<p>Hi -first_name-, ice first. Ångström.</p>",
    text="Hi -first_name-, ice first.",
    from_email="newsletter@clinic.example.org",
    from_name="Riverbend Clinic",
    custom_args={"issue_id": "3"},
)


def payload(html: str = TEMPLATE.html) -> bytes:
    people = [
        Recipient("zoe@example.com", "Zoë Ångström", {"-first_name-": "Zoë"}, "https://x/u/1")
    ]
    return encode_body(build_body(replace(TEMPLATE, html=html), people, batch=7))


def test_body_goes_out_byte_for_byte_with_the_librarys_headers() -> None:
    # Non-ASCII in the names and the HTML: a json.dumps on the way would escape them.
    body = payload()
    with FakeSendGrid(keep_bodies=True) as fake:
        result = SendGridSender(fake.api_key, base_url=fake.url, timeout=5).send(
            body, batch_key="3-7"
        )
    assert result.status == 202 and result.message_id == fake.requests[0].message_id
    request = fake.requests[0]
    assert request.body == body
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    assert headers["authorization"] == f"Bearer {fake.api_key}"
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["content-length"] == str(len(body))
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith("sendgrid/")


def test_errors_still_come_through_the_library() -> None:
    with FakeSendGrid() as fake:
        fake.add_faults("503")
        sender = SendGridSender(fake.api_key, base_url=fake.url, timeout=5)
        with pytest.raises(SendRetryableError, match="SendGrid answered 503"):
            sender.send(payload(), batch_key="3-7")


class _Sink:
    """A bare HTTP server that reads each request in small pieces and answers 202.

    Not the fake: its own reading of the body would show in this process's tracemalloc.
    """

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            header, _, rest = head.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in header.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            self.received = len(rest)
            while self.received < length:
                self.received += len(conn.recv(65536))
            conn.sendall(b"HTTP/1.1 202 Accepted\r\nX-Message-Id: m1\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def sink() -> Iterator[_Sink]:
    server = _Sink()
    yield server
    server.sock.close()


def test_a_large_body_is_sent_without_another_copy(sink: _Sink) -> None:
    body = payload("<p>" + "Ångström -first_name- " * 200_000 + "</p>")
    assert len(body) > 4_000_000
    sender = SendGridSender("SG.k", base_url=sink.url, timeout=10)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = sender.send(body, batch_key="3-7")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.message_id == "m1" and sink.received == len(body)
    # A decoded str or a re-encoded bytes would each add the body's size again.
    assert peak - before < len(body) // 4


def test_the_client_is_the_one_the_library_would_make() -> None:
    from sendgrid import SendGridAPIClient

    ours = library_client("SG.key", "http://127.0.0.1:9", 7)
    theirs = SendGridAPIClient(api_key="SG.key", host="http://127.0.0.1:9").client
    assert ours.request_headers == theirs.request_headers
    assert ours.mail.send._build_url(None) == theirs.mail.send._build_url(None)
    assert ours.mail.send._build_url(None) == "http://127.0.0.1:9/v3/mail/send"
    assert ours.timeout == 7


SEND_WITHOUT_THE_PACKAGE = """
import sys
from newsletter.delivery.senders.sendgrid import SendGridSender
from newsletter.testing.fake_sendgrid import FakeSendGrid
with FakeSendGrid() as fake:
    sender = SendGridSender(fake.api_key, base_url=fake.url, timeout=5)
    sender.send(sys.stdin.buffer.read(), batch_key="3-7")
    sender.batch_state(sender.create_batch())
    assert fake.accepted_total() == 1, fake.stats()
print(sorted({m.split(".")[0] for m in sys.modules} & {"sendgrid", "cryptography"}))
"""


def test_sending_imports_neither_the_sendgrid_package_nor_cryptography() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SEND_WITHOUT_THE_PACKAGE],
        input=payload(),
        capture_output=True,
        check=True,
    )
    assert done.stdout.decode().strip() == "[]"
