"""kill -9 at random instants, resume until sent: nobody is accepted twice or lost.

This is the unstaged send (``NEWSLETTER_STAGE_SENDS=false``); the staged one, where
unknown outcomes settle themselves, is ``tests/test_crash_staged.py``.

The send runs as a real ``newsletter issue send`` subprocess against the fake SendGrid
with faults on (5xx, 429 with short resets, accept-then-hang past a short client
timeout). After each SIGKILL the same command is run again until the issue is sent.
The fake's record of accepted recipients is then compared with the ledger:

* every member the ledger calls accepted was accepted by the fake exactly once;
* members of batches the ledger calls unknown were accepted at most once, and every
  unknown batch had its request started (killed in backoff or before: pending again);
* nobody else was accepted, and nobody is missing from accepted + unknown.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TEST_SECRET_KEY
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import ISSUE_DATE, Audience, make_issue, seed_audience

from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory, transaction
from newsletter.storage.models import BatchStatus, IssueStatus
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as ledger_repo
from newsletter.testing.fake_sendgrid import FakeSendGrid

pytestmark = pytest.mark.slow

MEMBERS = 2000
BATCH_SIZE = 50
KILLS_PER_SEED = 3
MAX_RUNS = 12


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def _command() -> list[str]:
    script = shutil.which("newsletter")
    return [script] if script else [sys.executable, "-m", "newsletter"]


def _env(db_url: str, fake: FakeSendGrid, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATABASE_URL=db_url,
        NEWSLETTER_SENDER="sendgrid",
        SENDGRID_API_KEY=fake.api_key,
        NEWSLETTER_SENDGRID_API_URL=fake.url,
        NEWSLETTER_BATCH_SIZE=str(BATCH_SIZE),
        NEWSLETTER_SEND_CONCURRENCY="4",
        NEWSLETTER_REQUEST_TIMEOUT="0.5",
        NEWSLETTER_OUTBOX_DIR=str(workdir / "outbox"),
        NEWSLETTER_STAGE_SENDS="false",
        NEWSLETTER_SECRET_KEY=TEST_SECRET_KEY,
    )
    return env


def _status(sessions: sessionmaker[Session], issue_id: int) -> IssueStatus:
    with transaction(sessions) as session:
        return issue_repo.get_issue(session, issue_id).status


def _wait_for_line(path: Path, text: bytes, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if text in path.read_bytes():
            return
        time.sleep(0.01)


def _send_with_kills(
    sessions: sessionmaker[Session],
    issue_id: int,
    env: dict[str, str],
    workdir: Path,
    rng: random.Random,
) -> tuple[int, list[int]]:
    """Run the send, SIGKILL it at random instants, then rerun until sent; (kills, codes)."""
    kills = 0
    codes: list[int] = []
    for run in range(MAX_RUNS):
        if run > 0 and _status(sessions, issue_id) == IssueStatus.SENT:
            break
        log_path = workdir / f"send-{issue_id}-{run}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [*_command(), "issue", "send", str(issue_id), "--yes"],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=log,
            )
            if run < KILLS_PER_SEED:
                if rng.random() < 0.25:
                    # Sometimes during start-up: taking the lease, the snapshot, recovery.
                    time.sleep(rng.uniform(0.2, 0.9))
                else:
                    # Mostly while batches are in flight: the sending phase has begun.
                    _wait_for_line(log_path, b"in the snapshot", proc)
                    time.sleep(rng.uniform(0.0, 0.5))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
            proc.wait(timeout=120)
        codes.append(proc.returncode)
    return kills, codes


def _check_exactly_once(
    sessions: sessionmaker[Session], issue_id: int, audience: Audience, fake: FakeSendGrid
) -> int:
    with transaction(sessions) as session:
        accepted = ledger_repo.recipients_with_outcome(session, issue_id, BatchStatus.ACCEPTED)
        unknown = ledger_repo.recipients_with_outcome(session, issue_id, BatchStatus.UNKNOWN)
        unknown_batches = ledger_repo.batch_infos(session, issue_id, [BatchStatus.UNKNOWN])
    # Only a batch whose request had started may be unknown (a kill in backoff or before
    # the request leaves the batch pending, and it is sent again).
    assert all(b.request_started_at is not None for b in unknown_batches), unknown_batches
    email = dict(zip(audience.ids, audience.emails, strict=True))
    accepted_emails = {email[s] for s in accepted}
    unknown_emails = {email[s] for s in unknown}
    received = fake.accepted_recipients()
    assert accepted | unknown == set(audience.ids), "someone is neither accepted nor unknown"
    assert not accepted & unknown
    for address in accepted_emails:
        assert received[address] == 1, f"{address} accepted {received[address]} times"
    for address in unknown_emails:
        assert received[address] <= 1, f"{address} (unknown batch) accepted twice"
    assert set(received) - unknown_emails == accepted_emails
    return len(unknown)


def _crash_run(
    db_url: str,
    fake: FakeSendGrid,
    workdir: Path,
    *,
    seed: int,
    sessions: sessionmaker[Session],
    audience: Audience,
    issue_id: int,
) -> None:
    fake.reset()
    fake.set_random_faults(
        {"500": 0.04, "503": 0.04, "429": 0.03, "hang": 0.02},
        seed=seed,
        seconds={"429": 0.2, "hang": 1.0},
    )
    kills, codes = _send_with_kills(
        sessions, issue_id, _env(db_url, fake, workdir), workdir, random.Random(seed)
    )
    assert _status(sessions, issue_id) == IssueStatus.SENT, (
        codes,
        sorted(workdir.glob("send-*.log"))[-1].read_text(errors="replace")[-3000:],
    )
    unknown = _check_exactly_once(sessions, issue_id, audience, fake)
    assert kills >= 1, codes
    if codes[-1] != -signal.SIGKILL:
        # A run that finishes exits 1 when something is unknown, 0 when all was accepted.
        assert codes[-1] == (1 if unknown else 0), codes


@pytest.fixture(scope="module")
def crash_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Audience]]:
    workdir = tmp_path_factory.mktemp("crash")
    url = f"sqlite:///{workdir / 'crash.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    audience = seed_audience(session_factory(engine), MEMBERS)
    engine.dispose()
    yield url, audience


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_kill_9_and_resume_sends_everyone_once_sqlite(
    crash_db: tuple[str, Audience], fake: FakeSendGrid, tmp_path: Path, seed: int
) -> None:
    url, audience = crash_db
    engine = make_engine(url)
    sessions = session_factory(engine)
    day = ISSUE_DATE.replace(day=seed)
    issue_id = make_issue(sessions, audience.list_id, issue_date=day, tag=f" #{seed}")
    _crash_run(
        url, fake, tmp_path, seed=seed, sessions=sessions, audience=audience, issue_id=issue_id
    )
    engine.dispose()


def test_kill_9_and_resume_on_each_backend(
    db_url: str, sessions: sessionmaker[Session], fake: FakeSendGrid, tmp_path: Path
) -> None:
    started = time.monotonic()
    audience = seed_audience(sessions, MEMBERS)
    issue_id = make_issue(sessions, audience.list_id)
    _crash_run(
        db_url, fake, tmp_path, seed=11, sessions=sessions, audience=audience, issue_id=issue_id
    )
    assert time.monotonic() - started < 90
