"""The app as a whole: factory, health, OpenAPI, security headers, serve; small parts."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_web_support import Web, new_keypair, open_web, sign, web_settings
from typer.testing import CliRunner

from newsletter.cli import app as cli_app
from newsletter.cli import serve_cmd
from newsletter.errors import SchemaError, SettingsError, WebhookError
from newsletter.web import create_app
from newsletter.web.security import TokenPathFilter, mask_token_paths
from newsletter.web.signature import WebhookVerifier


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        yield app


def test_healthz_reports_ok(web: Web) -> None:
    answer = web.client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_an_unreachable_database_without_its_details(
    web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    web.client.app.state.web.engine.dispose()  # type: ignore[attr-defined]
    from newsletter.storage.db import make_engine

    web.client.app.state.web.engine = make_engine(  # type: ignore[attr-defined]
        "postgresql+psycopg://nobody@127.0.0.1:1/none"
    )
    with caplog.at_level(logging.ERROR, logger="newsletter.web"):
        answer = web.client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "unhealthy"}
    # The host, port and role are for ops, in the log; never in the public answer.
    assert "127.0.0.1" not in answer.text and "nobody" not in answer.text
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "127.0.0.1" in logged and "1" in logged


def test_openapi_schema_lists_every_route(web: Web) -> None:
    schema = web.client.get("/openapi.json").json()
    assert set(schema["paths"]) >= {
        "/healthz",
        "/signup",
        "/subscribe",
        "/confirm/{token}",
        "/u/{token}",
        "/webhooks/sendgrid",
        "/issues/{issue_id}/preview",
        "/issues/{issue_id}/preview.txt",
    }
    body = schema["paths"]["/subscribe"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-www-form-urlencoded"}
    assert web.client.get("/docs").status_code == 404


@pytest.mark.parametrize("path", ["/healthz", "/signup", "/nowhere", "/static/style.css"])
def test_security_headers_on_every_response(web: Web, path: str) -> None:
    headers = web.client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    # Scripts only from the app's own files (the sign-up form's time-zone filler).
    assert "script-src 'self';" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]


def test_stylesheet_is_served(web: Web) -> None:
    answer = web.client.get("/static/style.css")
    assert answer.status_code == 200
    assert ".nl-hp" in answer.text


def test_create_app_refuses_a_database_without_schema(tmp_path: Path) -> None:
    cfg = web_settings(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path)
    with pytest.raises(SchemaError, match="newsletter db upgrade"):
        create_app(cfg)


def test_create_app_with_sendgrid_sender_needs_a_key(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SENDGRID_API_KEY"):
        create_app(web_settings(db_url, tmp_path, sender="sendgrid"))


def test_app_without_overrides_uses_the_outbox(db_url: str, tmp_path: Path) -> None:
    app = create_app(web_settings(db_url, tmp_path))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
    assert app.state.web.sender.name == "outbox"


# ------------------------------------------------------------------ serve


def test_serve_refuses_a_missing_schema_with_exit_1() -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--port", "8765"])
    assert result.exit_code == 1
    assert "newsletter db upgrade" in result.output


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_serve_rejects_a_bad_port_with_exit_2(port: str) -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--port", port])
    assert result.exit_code == 2


def test_serve_is_a_top_level_command() -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output
    assert "--workers" in result.output
    # Each worker builds its app through the shared logging set-up first.
    assert serve_cmd.WEB_APP_FACTORY == "newsletter.web:serve_app"


# ------------------------------------------------------------------ small parts


def test_verifier_accepts_a_fresh_signature_and_refuses_others() -> None:
    private, public = new_keypair()
    verifier = WebhookVerifier(public, clock=lambda: 1_000_000.0)
    body = b'[{"event":"open"}]'
    verifier.verify(body, sign(private, body, "1000000"), "1000000")
    with pytest.raises(WebhookError, match="does not match"):
        verifier.verify(body + b" ", sign(private, body, "1000000"), "1000000")
    with pytest.raises(WebhookError, match="away from now"):
        verifier.verify(body, sign(private, body, "990000"), "990000")
    with pytest.raises(WebhookError, match="missing"):
        verifier.verify(body, None, "1000000")
    # A body that is not UTF-8 is still checked, on its bytes.
    verifier.verify(b"\xff\xfe", sign(private, b"\xff\xfe", "1000000"), "1000000")
    with pytest.raises(WebhookError, match="does not match"):
        verifier.verify(b"\xff\xfe", sign(private, b"\xff", "1000000"), "1000000")
    with pytest.raises(WebhookError, match="cannot be checked"):
        verifier.verify(body, "A", "1000000")


def _rsa_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    der = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


@pytest.mark.parametrize(
    "key",
    ["", "  ", "bm90IGEga2V5", base64.b64encode(b"x" * 91).decode(), _rsa_public_key()],
    # Stable ids: the RSA key is generated at collection, and xdist workers must agree.
    ids=["empty", "blank", "not-der", "wrong-length", "rsa-not-ec"],
)
def test_verifier_refuses_a_bad_key_naming_the_variable(key: str) -> None:
    with pytest.raises(SettingsError, match="NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY"):
        WebhookVerifier(key)


def test_logs_never_show_full_tokens(web: Web, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    token = web.signer.unsubscribe_token(1, web.list_id)
    web.client.get(f"/confirm/{token}")  # wrong kind of token: logged as invalid
    web.client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click")
    logged = " ".join(
        f"{r.getMessage()} {getattr(r, 'fields', '')}"
        for r in caplog.records
        if r.name.startswith("newsletter")
    )
    assert token[:6] in logged
    assert token not in logged


def test_access_log_paths_show_only_a_token_prefix() -> None:
    token = "AAAAAAAAAAEAAAABS3IWgE8_kItAS-khzuTv"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/u/{token}?x=1", "1.1", 200),
        None,
    )
    TokenPathFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "POST /u/AAAAAA…?x=1 HTTP/1.1" 200'
    assert mask_token_paths(f"GET /confirm/{token}") == "GET /confirm/AAAAAA…"
    assert mask_token_paths("GET /healthz") == "GET /healthz"
