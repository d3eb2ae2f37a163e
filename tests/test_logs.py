"""Structured logs: both formats, job spans, and secrets that never reach the output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.errors import ContentError, ContentProblem
from newsletter.logs import (
    MASK,
    configure_logging,
    job_span,
    log_event,
    mask_text,
    register_secrets,
)

FAKE_KEY = "SG.abcdefghijklmnop.qrstuvwxyz0123456789ABCDEFGH"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = configure_logging("kv", "INFO", stream=buffer)
    yield buffer
    logging.getLogger().removeHandler(handler)


def _json_stream() -> tuple[io.StringIO, logging.Handler]:
    buffer = io.StringIO()
    return buffer, configure_logging("json", "INFO", stream=buffer)


def test_kv_line_has_event_and_fields(stream: io.StringIO) -> None:
    log_event(logging.getLogger("t"), "job.end", "send ok", job="send", sent=12, note="two words")
    line = stream.getvalue().strip()
    assert "\n" not in line
    assert "level=info" in line
    assert "event=job.end" in line
    assert "job=send" in line
    assert "sent=12" in line
    assert 'note="two words"' in line
    assert 'msg="send ok"' in line


def test_json_line_parses_with_the_same_keys() -> None:
    buffer, handler = _json_stream()
    try:
        log_event(logging.getLogger("t"), "job.start", "go", job="assemble", run_id=7)
    finally:
        logging.getLogger().removeHandler(handler)
    data = json.loads(buffer.getvalue())
    assert data["event"] == "job.start"
    assert data["job"] == "assemble"
    assert data["run_id"] == 7
    assert data["level"] == "info"
    assert data["ts"].endswith("Z")


def test_configure_is_idempotent(stream: io.StringIO) -> None:
    configure_logging("kv", "INFO", stream=stream)
    logging.getLogger("t").info("once")
    assert stream.getvalue().count("once") == 1


def test_sendgrid_key_in_message_and_args_is_masked(stream: io.StringIO) -> None:
    logging.getLogger("t").warning("request failed with key %s", FAKE_KEY)
    out = stream.getvalue()
    assert FAKE_KEY not in out
    assert "SG.abcdef" not in out
    assert MASK in out


def test_secret_named_fields_and_url_passwords_are_masked(stream: io.StringIO) -> None:
    log_event(
        logging.getLogger("t"),
        "db.connect",
        "connecting",
        api_key="plain-value-123",
        admin_token="tok-123456",
        url="postgresql://app:hunter2secret@db.internal/news",
        header="Authorization: Bearer abc.def.ghi",
    )
    out = stream.getvalue()
    for secret in ("plain-value-123", "tok-123456", "hunter2secret", "abc.def.ghi"):
        assert secret not in out
    assert "postgresql://app:***@db.internal/news" in out


def test_registered_secret_is_masked_even_in_tracebacks(stream: io.StringIO) -> None:
    register_secrets(["my-signing-key-0042", None, "short"])
    try:
        raise RuntimeError("bad signature for my-signing-key-0042")
    except RuntimeError:
        logging.getLogger("t").exception("webhook failed")
    out = stream.getvalue()
    assert "my-signing-key-0042" not in out
    assert "RuntimeError" in out
    # Values too short to be real secrets are not masked (they would hide ordinary words).
    assert mask_text("a short word") == "a short word"


def test_job_span_logs_start_and_end_with_counts(stream: io.StringIO) -> None:
    logger = logging.getLogger("newsletter.scheduler")
    with job_span(logger, "send", run_id=3) as counts:
        counts["sent"] = 120
        counts["issues"] = 1
    start, end = stream.getvalue().strip().splitlines()
    assert "event=job.start" in start
    assert "job=send" in start
    assert "run_id=3" in start
    assert "event=job.end" in end
    assert "status=ok" in end
    assert "sent=120" in end
    assert "duration_ms=" in end


def test_job_span_marks_failure_and_reraises(stream: io.StringIO) -> None:
    logger = logging.getLogger("newsletter.scheduler")
    with pytest.raises(ValueError), job_span(logger, "assemble") as counts:
        counts["lists"] = 2
        raise ValueError("boom")
    end = stream.getvalue().strip().splitlines()[-1]
    assert "level=error" in end
    assert "status=failed" in end
    assert "error_type=ValueError" in end
    assert "lists=2" in end


def test_job_span_status_can_be_set_by_the_body(stream: io.StringIO) -> None:
    with job_span(logging.getLogger("t"), "send") as counts:
        counts["status"] = "skipped"
    end = stream.getvalue().strip().splitlines()[-1]
    assert "status=skipped" in end
    assert "level=info" in end


def test_a_multi_line_content_error_is_one_kv_line_per_problem(stream: io.StringIO) -> None:
    problems = [
        ContentProblem(Path("content/tips/a.md"), "'wintr' is not a season", field="season"),
        ContentProblem(Path("content/articles/b.md"), "YAML syntax error: x", line=2),
    ]
    log_event(
        logging.getLogger("t"),
        "assemble.failed",
        f"back-care: {ContentError(problems)}",
        level=logging.ERROR,
        list="back-care",
    )
    lines = stream.getvalue().strip().splitlines()
    assert len(lines) == 3
    assert all("event=assemble.failed" in line and "list=back-care" in line for line in lines)
    assert 'msg="back-care: 2 content problems:"' in lines[0]
    assert "msg=\"content/tips/a.md: season: 'wintr' is not a season\"" in lines[1]
    assert 'msg="content/articles/b.md:2: YAML syntax error: x"' in lines[2]
    assert "\\n" not in stream.getvalue()
