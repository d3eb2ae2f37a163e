"""Structured logs: one line per event, as ``key=value`` pairs or as JSON.

``NEWSLETTER_LOG_FORMAT`` picks the shape. Structured fields travel in the record's
``fields`` extra (use :func:`log_event`), so a log shipper can index ``job``,
``run_id`` or ``duration_ms`` without parsing prose. A handler-level filter masks
secrets in messages, fields and tracebacks, because a key pasted into an exception
message must never reach a log file.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, TextIO

import orjson
from pydantic import SecretStr

if TYPE_CHECKING:
    from newsletter.settings import Settings

LogFormat = Literal["kv", "json"]
MASK = "***"

# Field names whose values are never logged, whatever they contain.
_SECRET_FIELD = re.compile(r"(pass(word)?|secret|token|api_?key|authorization|cookie)", re.I)
TOKEN_PATH = re.compile(r"(/(?:u|confirm|set-password)/)([A-Za-z0-9_%.-]{6})[A-Za-z0-9_%.=-]+")
# Shapes of secrets that can hide inside free text (exception messages, URLs).
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"SG\.[\w-]{6,}\.[\w-]{6,}"), MASK),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1" + MASK),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)[^\s\"',]+"), r"\1" + MASK),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1" + MASK + "@"),
    (re.compile(r"(?i)([?&](?:token|key|signature|api_key)=)[^&\s\"']+"), r"\1" + MASK),
    # Link tokens in paths (/u/…, /confirm/…, /admin/set-password/…): a short prefix is
    # enough to correlate log lines and far too little to use.
    (TOKEN_PATH, r"\1\2…"),
)
_known_secrets: set[str] = set()
_known_lock = threading.Lock()

HANDLER_NAME = "newsletter-structured"


def register_secrets(values: Iterable[str | None]) -> None:
    """Add literal values (API keys, signing keys) that must be masked wherever they appear."""
    with _known_lock:
        # Very short values would mask ordinary words; they are not real secrets anyway.
        _known_secrets.update(v for v in values if v and len(v) >= 8)


def mask_text(text: str) -> str:
    """``text`` with every known secret and secret-looking token replaced by ``***``."""
    with _known_lock:
        known = sorted(_known_secrets, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``fields`` with secret-named keys hidden and string values masked."""
    masked: dict[str, Any] = {}
    for key, value in fields.items():
        if _SECRET_FIELD.search(key) and value not in (None, ""):
            masked[key] = MASK
        elif isinstance(value, str):
            masked[key] = mask_text(value)
        else:
            masked[key] = value
    return masked


class SecretFilter(logging.Filter):
    """Masks secrets in a record before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = mask_text(record.getMessage())
        record.msg = message
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            record.fields = mask_fields(fields)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    stamp = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _base(record: logging.LogRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ts": _timestamp(record),
        "level": record.levelname.lower(),
        "logger": record.name,
    }
    fields = getattr(record, "fields", None)
    event = fields.get("event") if isinstance(fields, Mapping) else None
    if event:
        data["event"] = event
    data["msg"] = record.getMessage()
    if isinstance(fields, Mapping):
        data.update({k: v for k, v in fields.items() if k != "event"})
    return data


def _kv_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".")
    elif isinstance(value, dt.datetime | dt.date):
        text = value.isoformat()
    elif isinstance(value, list | tuple | dict):
        text = orjson.dumps(value, default=str).decode()
    else:
        text = str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return text


class KeyValueFormatter(logging.Formatter):
    """``ts=… level=info logger=… event=job.end job=send sent=120 duration_ms=53``."""

    def format(self, record: logging.LogRecord) -> str:
        data = _base(record)
        error = mask_text(self.formatException(record.exc_info)) if record.exc_info else None
        # A multi-line message (every content problem of a ContentError, say) becomes one
        # log line per line of text, each with the same keys, so people and grep read
        # one problem per line instead of one long string of "\n" escapes.
        parts = [line.strip() for line in str(data.pop("msg")).splitlines() if line.strip()]
        lines = []
        for index, part in enumerate(parts or [""]):
            row = dict(data, msg=part) if part else dict(data)
            if error is not None and index == max(len(parts) - 1, 0):
                row["error"] = error  # the traceback once, on the last line
            lines.append(" ".join(f"{key}={_kv_value(value)}" for key, value in _ordered(row)))
        return "\n".join(lines)


def _ordered(row: dict[str, Any]) -> list[tuple[str, Any]]:
    # ts, level, logger, event, then msg, then the fields: the order _base builds.
    head = [k for k in ("ts", "level", "logger", "event", "msg") if k in row]
    return [(k, row[k]) for k in head] + [(k, v) for k, v in row.items() if k not in head]


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the same keys as the key=value format."""

    def format(self, record: logging.LogRecord) -> str:
        data = _base(record)
        if record.exc_info:
            data["error"] = mask_text(self.formatException(record.exc_info))
        return orjson.dumps(data, default=str).decode()


def make_formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else KeyValueFormatter()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def secret_values(settings: Settings) -> list[str]:
    """Every secret setting (keys, tokens, fallbacks), to be masked wherever it appears."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        items = value if isinstance(value, list) else [value]
        found.extend(v.get_secret_value() for v in items if isinstance(v, SecretStr))
    return found


def setup_logging(
    settings: Settings, *, floor: str | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """The one logging set-up that serve, the CLI and the scheduler share.

    ``floor`` raises the level (the CLI prints its own summaries and shows warnings and
    errors only); every secret setting is registered for masking.
    """
    level = settings.log_level
    if floor is not None and logging.getLevelName(floor) > logging.getLevelName(level):
        level = floor  # type: ignore[assignment]
    return configure_logging(
        settings.log_format, level, stream=stream, secrets=secret_values(settings)
    )


def configure_logging(
    log_format: LogFormat = "kv",
    level: str = "INFO",
    *,
    stream: TextIO | None = None,
    secrets: Iterable[str | None] = (),
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) in the chosen format; idempotent."""
    register_secrets(secrets)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(SecretFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # These narrate every wakeup or schema check at INFO; their warnings and errors still show.
    for chatty in ("apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    return handler


def log_event(
    logger: logging.Logger,
    event: str,
    message: str = "",
    *,
    level: int = logging.INFO,
    exc_info: bool = False,
    **fields: Any,
) -> None:
    """Log one structured event: ``event`` names it, ``fields`` become keys."""
    logger.log(level, message, extra={"fields": {"event": event, **fields}}, exc_info=exc_info)


@contextmanager
def job_span(logger: logging.Logger, job: str, **ids: Any) -> Iterator[dict[str, Any]]:
    """Log ``job.start`` and ``job.end`` (with ``duration_ms``) around a block.

    The block fills the yielded dict with counts and may set ``status`` (default
    ``ok``); an exception ends the span as ``failed`` and propagates.
    """
    counts: dict[str, Any] = {}
    ids = {key: value for key, value in ids.items() if value is not None}
    started = time.monotonic()
    log_event(logger, "job.start", f"{job} started", job=job, **ids)
    try:
        yield counts
    except BaseException as exc:
        duration_ms = round((time.monotonic() - started) * 1000)
        log_event(
            logger,
            "job.end",
            f"{job} failed: {exc}",
            level=logging.ERROR,
            **{
                **ids,
                **counts,
                "job": job,
                "status": "failed",
                "duration_ms": duration_ms,
                "error_type": type(exc).__name__,
            },
        )
        raise
    status = counts.pop("status", "ok")
    duration_ms = round((time.monotonic() - started) * 1000)
    log_event(
        logger,
        "job.end",
        f"{job} {status}",
        level=logging.WARNING if status not in ("ok", "skipped", "standby") else logging.INFO,
        **{**ids, **counts, "job": job, "status": status, "duration_ms": duration_ms},
    )
