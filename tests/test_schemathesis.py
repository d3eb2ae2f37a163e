"""Schemathesis against the app's own OpenAPI schema: no generated request may cause a 5xx.

The webhook would refuse every generated body at the signature check, so its cases are
also sent signed, which drives the generated events through parsing and storage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from test_web_support import ADMIN_TOKEN, Web, make_issue, open_web, signed_headers

EXAMPLES = 25


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        make_issue(app.sessions, app.list_id, message_id="XMSG1")
        yield app


@pytest.fixture
def api_schema(web: Web) -> Any:
    app = web.client.app
    assert isinstance(app, FastAPI)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_generated_request_causes_a_server_error(case: Any, web: Web) -> None:
    case.call_and_validate(checks=[not_a_server_error])
    if case.operation.path == "/webhooks/sendgrid" and case.body is not NOT_SET:
        body = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
        answer = web.client.post(
            "/webhooks/sendgrid", content=body, headers=signed_headers(web.private_key, body)
        )
        assert answer.status_code in (200, 400), answer.text
    if case.operation.path.startswith("/issues/"):
        answer = case.call(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert answer.status_code < 500, answer.text
