"""Helpers for the web tests: an app on a migrated database, signed webhook requests, rows.

Plain functions, imported by the test modules (pytest collects this file but it holds
no tests).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.tokens import TokenSigner
from newsletter.delivery.senders import MemorySender
from newsletter.services import audience
from newsletter.services.limits import Window
from newsletter.settings import Settings, load_settings
from newsletter.storage.db import make_engine, session_factory, transaction
from newsletter.storage.models import (
    BatchStatus,
    Delivery,
    DeliveryStatus,
    Issue,
    IssueStatus,
    SendBatch,
)
from newsletter.web import create_app
from newsletter.web.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER

REPO = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "preview-token-for-tests-0123456789"
LIST_SLUG = "back-care"
LIST_NAME = "Back Care Weekly"


def new_keypair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-256 key pair; the public half as the bare base64 text SendGrid shows."""
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(der).decode()


def sign(private: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str) -> str:
    signature = private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


def signed_headers(
    private: ec.EllipticCurvePrivateKey, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        SIGNATURE_HEADER: sign(private, body, stamp),
        TIMESTAMP_HEADER: stamp,
        "content-type": "application/json",
    }


@dataclass
class Web:
    """One app under test and what the test needs to poke at it."""

    client: TestClient
    settings: Settings
    sessions: sessionmaker[Session]
    sender: MemorySender
    signer: TokenSigner
    private_key: ec.EllipticCurvePrivateKey
    list_id: int

    def post_events(self, events: Sequence[dict[str, Any]]) -> Any:
        body = orjson.dumps(list(events))
        return self.client.post(
            "/webhooks/sendgrid", content=body, headers=signed_headers(self.private_key, body)
        )

    def confirm_links(self) -> list[str]:
        """Confirm tokens in the confirmation emails sent so far, oldest first."""
        tokens = []
        for request in self.sender.sent:
            text = request.decoded()["content"][0]["value"]
            tokens.extend(re.findall(r"/confirm/([A-Za-z0-9_-]+)", text))
        return tokens


def web_settings(db_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "outbox_dir": tmp_path / "outbox",
        "templates_dir": REPO / "templates",
        "content_dir": REPO / "content",
        "secret_key": "web-tests-secret-key-0123456789-abcdefgh",
        "public_url": "https://newsletter.example.org",
    }
    values.update(overrides)
    return load_settings(**values)


@contextmanager
def open_web(
    db_url: str,
    tmp_path: Path,
    *,
    limit: int = 1000,
    with_key: bool = True,
    **overrides: Any,
) -> Iterator[Web]:
    """An app on ``db_url`` with one list, a memory sender and a webhook key pair."""
    private, public = new_keypair()
    if with_key:
        overrides.setdefault("sendgrid_webhook_public_key", public)
    overrides.setdefault("admin_token", ADMIN_TOKEN)
    cfg = web_settings(db_url, tmp_path, **overrides)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    info = audience.create_list(sessions, LIST_SLUG, LIST_NAME)
    sender = MemorySender()
    app = create_app(cfg, sender=sender, signup_windows=(Window(60.0, limit),))
    try:
        with TestClient(app) as client:
            yield Web(
                client=client,
                settings=cfg,
                sessions=sessions,
                sender=sender,
                signer=TokenSigner.from_settings(cfg),
                private_key=private,
                list_id=info.id,
            )
    finally:
        engine.dispose()


def subscribed(web: Web, email: str, *, slug: str = LIST_SLUG) -> int:
    """Put ``email`` on ``slug`` as a confirmed subscriber; returns the subscriber id."""
    result = audience.add_subscriber(web.sessions, slug, email, confirmed=True)
    assert result.subscriber_id is not None
    return result.subscriber_id


def make_issue(
    sessions: sessionmaker[Session],
    list_id: int,
    *,
    recipients: Sequence[tuple[int, str]] = (),
    message_id: str | None = None,
    html: str = "<p>Hi -first_name-, <a href='-unsubscribe_url-'>Unsubscribe</a></p>",
    text: str = "Hi -first_name-,\nUnsubscribe: -unsubscribe_url-\n",
    started: dt.datetime | None = None,
    issue_date: dt.date = dt.date(2025, 3, 4),
) -> int:
    """An issue that was sent to ``recipients`` (subscriber id, email) in batch 1."""
    now = dt.datetime.now(dt.UTC)
    with transaction(sessions) as session:
        issue = Issue(
            list_id=list_id,
            issue_date=issue_date,
            status=IssueStatus.SENT,
            subject="Sciatica: what helps",
            preheader="Three things to try",
            html=html,
            text=text,
            content_hash="0" * 64,
            recipients=len(recipients),
            batch_count=1,
            snapshot_done=True,
            send_started_at=started or now - dt.timedelta(hours=1),
            sent_at=now,
        )
        session.add(issue)
        session.flush()
        session.add(
            SendBatch(
                issue_id=issue.id,
                batch_no=1,
                status=BatchStatus.ACCEPTED,
                recipients=len(recipients),
                message_id=message_id,
            )
        )
        for subscriber_id, email in recipients:
            session.add(
                Delivery(
                    issue_id=issue.id,
                    subscriber_id=subscriber_id,
                    batch_no=1,
                    email=email,
                    status=DeliveryStatus.QUEUED,  # the outcome is the batch's
                )
            )
        return issue.id


def event(
    kind: str,
    email: str,
    *,
    n: int,
    issue_id: int | str | None = None,
    message_id: str = "msg1",
    timestamp: int = 1_741_000_000,
    **extra: Any,
) -> dict[str, Any]:
    """One SendGrid event as posted; ``n`` makes its ids unique."""
    item: dict[str, Any] = {
        "email": email,
        "event": kind,
        "timestamp": timestamp + n,
        "sg_event_id": f"evt-{n}",
        "sg_message_id": f"{message_id}.filter0001-{n}",
        "batch": "1",
    }
    if issue_id is not None:
        item["issue_id"] = str(issue_id)
    item.update(extra)
    return item


@contextmanager
def open_cli_web(db_url: str, tmp_path: Path, monkeypatch: Any) -> Iterator[Web]:
    """``open_web`` with the CLI's environment pointing at the same database and keys."""
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    with open_web(db_url, tmp_path) as opened:
        key = opened.settings.sendgrid_webhook_public_key
        assert key is not None
        monkeypatch.setenv("NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY", key)
        monkeypatch.setenv("NEWSLETTER_SECRET_KEY", opened.settings.secret_key.get_secret_value())
        yield opened
