"""``/metrics`` on the web app and on the scheduler's port, read from the database."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from test_web_support import ADMIN_TOKEN, LIST_SLUG, Web, event, make_issue, open_web, subscribed

from newsletter.scheduling import metrics_server
from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus, JobRun, JobRunStatus, SendBatch
from newsletter.web import create_app

METRICS_TOKEN = "metrics-token-for-tests-0123456789"
FORM = {"email": "ana@example.org", "name": "Ana Lopez", "list": LIST_SLUG, "website": ""}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _scrape(client: TestClient, token: str = METRICS_TOKEN) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


def _fill(web: Web) -> int:
    emails = [f"reader{i}@example.org" for i in range(3)]
    recipients = [(subscribed(web, e), e) for e in emails]
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    issue = make_issue(web.sessions, web.list_id, recipients=recipients, started=started)
    with transaction(web.sessions) as session:
        session.add(SendBatch(issue_id=issue, batch_no=2, status=BatchStatus.UNKNOWN, recipients=7))
        session.add(JobRun(job_id="send", status=JobRunStatus.OK, counts={}))
        session.add(JobRun(job_id="send", status=JobRunStatus.FAILED, counts={}))
    events = [event("delivered", e, n=i, issue_id=issue) for i, e in enumerate(emails)]
    events.append(event("open", emails[0], n=9, issue_id=issue))
    assert web.post_events(events).status_code == 200
    return issue


def test_metrics_need_a_token(db_url: str, tmp_path: Path) -> None:
    with open_web(db_url, tmp_path, metrics_token=METRICS_TOKEN) as web:
        unset = web.settings.model_copy(update={"admin_token": None, "metrics_token": None})
        with TestClient(create_app(unset)) as closed:
            assert closed.get("/metrics").status_code == 403
        assert web.client.get("/metrics").status_code == 401
        wrong = web.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        _scrape(web.client, METRICS_TOKEN)
        _scrape(web.client, ADMIN_TOKEN)  # the admin credentials work too


def test_every_worker_reports_the_database_figures(db_url: str, tmp_path: Path) -> None:
    with open_web(db_url, tmp_path, metrics_token=METRICS_TOKEN) as web:
        _fill(web)
        assert web.client.post("/subscribe", data=FORM).status_code == 200
        first = _scrape(web.client)
        # A second app on the same database: another worker, same truth.
        with TestClient(create_app(web.settings)) as other:
            second = _scrape(other)
    shared = {k: v for k, v in first.items() if not k[0].startswith("newsletter_signups")}
    for key, value in shared.items():
        if key[0] not in ("newsletter_metrics_scrape_seconds",) and "age" not in key[0]:
            assert second[key] == value, key
    assert first[("newsletter_batches", (("status", "accepted"),))] == 1
    assert first[("newsletter_batches", (("status", "unknown"),))] == 1
    assert first[("newsletter_recipients", (("status", "accepted"),))] == 3
    assert first[("newsletter_recipients", (("status", "unknown"),))] == 7
    assert first[("newsletter_issues", (("status", "sent"),))] == 1
    assert first[("newsletter_webhook_events_total", (("event", "delivered"),))] == 3
    assert first[("newsletter_webhook_events_total", (("event", "open"),))] == 1
    assert first[("newsletter_webhook_events_pending", ())] == 0
    assert first[("newsletter_job_runs_total", (("job", "send"), ("status", "failed")))] == 1
    assert first[("newsletter_members", (("list", "back-care"), ("status", "subscribed")))] == 3
    assert first[("newsletter_members", (("list", "back-care"), ("status", "pending")))] == 1
    age = first[("newsletter_last_successful_send_age_seconds", (("list", "back-care"),))]
    assert 0 <= age < 60
    took = first[("newsletter_last_send_duration_seconds", (("list", "back-care"),))]
    assert 1790 <= took <= 1810
    assert first[("newsletter_signups_total", (("outcome", "created"),))] >= 1
    assert ("newsletter_scheduler_leader", ()) not in first  # only a scheduler knows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("token", [None, METRICS_TOKEN])
def test_the_scheduler_serves_the_same_plus_its_lease(
    db_url: str, tmp_path: Path, token: str | None
) -> None:
    with open_web(db_url, tmp_path) as web:
        _fill(web)
        port = _free_port()
        server = metrics_server.start(web.sessions, port, is_leader=lambda: True, token=token)
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if token:
                assert httpx.get(url, timeout=5).status_code == 401
            response = httpx.get(url, headers=headers, timeout=5)
        finally:
            server.shutdown()
            server.server_close()
    assert response.status_code == 200
    samples = _samples(response.text)
    assert samples[("newsletter_scheduler_leader", ())] == 1
    assert samples[("newsletter_batches", (("status", "unknown"),))] == 1
