"""SIGKILL while batches wait (in backoff, or before their request) -> pending, not unknown.

Issue #10, item 4. ``newsletter issue send`` runs as a subprocess against the fake
SendGrid, which answers every request 429 with a reset 30 s ahead: the first worker is
refused and waits out its backoff, and the others, claimed, wait for the pacer's pause
before their request starts. The process is SIGKILLed there. None of those batches
had a request out, so the rerun sends them all again (``back_to_pending``), none is
unknown, and everyone is accepted exactly once. Staged and unstaged, on both databases.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from test_crash import _command, _env
from test_issues_support import make_issue, seed_audience

from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus
from newsletter.storage.repositories import ledger as ledger_repo
from newsletter.testing.fake_faults import Fault
from newsletter.testing.fake_sendgrid import FakeSendGrid

pytestmark = pytest.mark.slow

CONCURRENCY = 3


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def _wait_for(
    condition: Callable[[], bool], proc: subprocess.Popen[bytes], seconds: float = 30
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"never happened (exit {proc.poll()})")


@pytest.mark.parametrize("staged", [False, True], ids=["unstaged", "staged"])
def test_kill_9_in_backoff_sends_those_batches_again_and_none_is_unknown(
    db_url: str,
    sessions: sessionmaker[Session],
    fake: FakeSendGrid,
    tmp_path: Path,
    staged: bool,
) -> None:
    audience = seed_audience(sessions, 60)
    issue_id = make_issue(sessions, audience.list_id)
    env = _env(db_url, fake, tmp_path)
    env.update(NEWSLETTER_BATCH_SIZE="10", NEWSLETTER_SEND_CONCURRENCY=str(CONCURRENCY))
    env["NEWSLETTER_STAGE_SENDS"] = "true" if staged else "false"
    fake.faults.storm(Fault("429", 30.0), 3600.0)
    command = [*_command(), "issue", "send", str(issue_id), "--yes"]
    log = tmp_path / "first.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=out)
        try:
            _wait_for(lambda: fake.stats["fault_429"] >= 1, proc)
            time.sleep(1.0)  # the refused try is cleared; the others wait for the pause
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    with transaction(sessions) as session:
        claimed = ledger_repo.batch_infos(session, issue_id, [BatchStatus.SENDING])
    assert len(claimed) == CONCURRENCY, log.read_text(errors="replace")
    assert all(b.request_started_at is None for b in claimed)
    assert fake.accepted_total() == 0

    fake.faults.clear()
    second = subprocess.run(
        [*command, "--json"], env=env, cwd=tmp_path, capture_output=True, check=False
    )
    assert second.returncode == 0, second.stderr.decode(errors="replace")
    report = json.loads(second.stdout)
    assert report["recovered"]["became_unknown"] == []
    assert report["recovered"]["back_to_pending"] == sorted(b.batch_no for b in claimed)
    assert report["unknown"] == 0 and report["accepted"] == 60
    assert fake.accepted_recipients() == Counter({e: 1 for e in audience.emails})
