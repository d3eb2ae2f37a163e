"""A sender that writes requests to disk instead of the network (the default without a key).

For each batch it writes ``<batch_key>.json`` (the exact body SendGrid would receive) and
``<batch_key>.eml`` (the message as the batch's first recipient would see it, substitutions
applied, with ``X-Newsletter-Batch-Id`` and ``X-Newsletter-Send-At`` headers saying which
SendGrid batch it is staged in and when SendGrid would deliver it), so a person can open
one email and a script can check every request. Both are written to a temp file and
renamed, so a reader never sees half a file. Batch ids and their cancel/pause states live
in ``batches/scheduled_sends.json`` under the same directory.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import uuid
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import orjson

from newsletter.delivery.senders.base import SendResult
from newsletter.delivery.senders.local_batches import LocalBatchApi, LocalBatches
from newsletter.errors import DeliveryError

_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class OutboxSender(LocalBatchApi):
    """Writes each request under ``directory``; never fails except on disk errors."""

    name: str = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        # In a folder of its own, so "every *.json here is a request" stays true.
        state = self.directory / "batches" / "scheduled_sends.json"
        self.batches = LocalBatches("outbox", path=state)

    def send(self, body: bytes, *, batch_key: str) -> SendResult:
        if not _SAFE_KEY.match(batch_key):
            # The key becomes a file name: refuse anything that could leave the directory.
            raise DeliveryError(f"outbox: batch key {batch_key!r} is not a safe file name")
        try:
            data: dict[str, Any] = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise DeliveryError(f"outbox: batch {batch_key}: body is not JSON: {exc}") from exc
        self.batches.note_send(data.get("batch_id"), data.get("send_at"))
        message_id = f"outbox-{uuid.uuid4().hex}"
        eml = render_first_message(data, message_id=message_id)
        json_path = self.directory / f"{batch_key}.json"
        self._write(json_path, body)
        self._write(self.directory / f"{batch_key}.eml", eml)
        return SendResult(status=202, message_id=message_id)

    def _write(self, path: Path, content: bytes) -> None:
        tmp_name: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp_name, path)
        except OSError as exc:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)
            raise DeliveryError(f"outbox: cannot write {path}: {exc.strerror or exc}") from exc


def mailbox(name: str | None, email: str) -> Address:
    """``email`` as a header address: the domain in IDNA (ASCII), the local part as is."""
    local, at, domain = email.rpartition("@")
    if not at or not local:
        raise DeliveryError(f"outbox: {email!r} is not an email address")
    try:
        ascii_domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise DeliveryError(f"outbox: the domain of {email!r} cannot be encoded: {exc}") from exc
    return Address(display_name=name or "", username=local, domain=ascii_domain)


def render_first_message(body: dict[str, Any], *, message_id: str) -> bytes:
    """The first personalization of ``body`` as an RFC 5322 message (text, then HTML)."""
    personalizations = body.get("personalizations") or [{}]
    first: dict[str, Any] = personalizations[0]
    subs: dict[str, str] = first.get("substitutions") or {}

    def fill(value: str) -> str:
        for tag, replacement in subs.items():
            value = value.replace(tag, replacement)
        return value

    sender = body.get("from") or {}
    reply_to = body.get("reply_to")
    people = {
        "From": [sender] if sender else [],
        "To": list(first.get("to", [])),
        "Reply-To": [reply_to] if reply_to else [],
    }
    boxes = {
        field: [mailbox(person.get("name"), person["email"]) for person in group]
        for field, group in people.items()
    }
    # RFC 6532: a non-ASCII local part (josé@…) can only be written as UTF-8 headers.
    utf8 = any(not box.username.isascii() for group in boxes.values() for box in group)
    msg = EmailMessage(policy=policy.SMTPUTF8 if utf8 else policy.default)
    for field, group in boxes.items():
        if group:
            msg[field] = group
    msg["Subject"] = fill(first.get("subject") or body.get("subject") or "")
    msg["Message-ID"] = make_msgid(idstring=message_id, domain="outbox.invalid")
    for name, value in {**(body.get("headers") or {}), **(first.get("headers") or {})}.items():
        msg[name] = value
    custom_args = {**(body.get("custom_args") or {}), **(first.get("custom_args") or {})}
    if custom_args:
        msg["X-Newsletter-Custom-Args"] = orjson.dumps(custom_args).decode()
    if body.get("batch_id"):
        msg["X-Newsletter-Batch-Id"] = str(body["batch_id"])
    send_at = first.get("send_at", body.get("send_at"))
    if isinstance(send_at, int):
        when = dt.datetime.fromtimestamp(send_at, dt.UTC)
        msg["X-Newsletter-Send-At"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")

    parts = {c["type"]: fill(c["value"]) for c in body.get("content", [])}
    msg.set_content(parts.get("text/plain", ""))
    if "text/html" in parts:
        msg.add_alternative(parts["text/html"], subtype="html")
    return msg.as_bytes()
