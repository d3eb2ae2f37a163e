"""A sign-up's answer does the same work whatever the address's state (no timing oracle).

The test records every SQL statement run between the request arriving and the last byte
of its answer; a new, pending, subscribed, unsubscribed or suppressed address must
produce the same statements. What differs by state happens after the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from starlette.types import Message, Receive, Scope, Send
from test_web_support import LIST_SLUG, open_web, subscribed

from newsletter.services import audience
from newsletter.storage.models import SuppressionReason


def test_every_address_state_runs_the_same_statements_before_the_answer(
    db_url: str, tmp_path: Path
) -> None:
    with open_web(db_url, tmp_path) as web:
        app = web.client.app
        recording = False
        statements: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if recording:
                statements.append(statement)

        async def answered(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal recording
            recording = scope["type"] == "http"

            async def watch(message: Message) -> None:
                nonlocal recording
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    recording = False  # background work runs after this
                await send(message)

            await app(scope, receive, watch)

        subscribed(web, "known@example.org")
        web.client.post("/subscribe", json={"email": "waiting@example.org"})
        subscribed(web, "left@example.org")
        audience.unsubscribe_email(web.sessions, "left@example.org", None, source="test")
        audience.add_suppression(
            web.sessions, "gone@example.org", SuppressionReason.BOUNCE, source="test"
        )
        engine = web.client.app.state.web.engine  # type: ignore[attr-defined]
        event.listen(engine, "before_cursor_execute", record)
        seen: dict[str, list[str]] = {}
        with TestClient(answered) as client:
            for email in (
                "new@example.org",
                "waiting@example.org",
                "known@example.org",
                "left@example.org",
                "gone@example.org",
            ):
                statements.clear()
                answer = client.post("/subscribe", json={"email": email, "list": LIST_SLUG})
                assert answer.status_code == 200
                seen[email] = list(statements)
        event.remove(engine, "before_cursor_execute", record)
        assert seen["new@example.org"], "no statement recorded: the test would prove nothing"
        for email, done in seen.items():
            assert done == seen["new@example.org"], email
