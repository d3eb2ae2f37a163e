"""kill -9 during staging and during settling: everyone is delivered exactly once.

``newsletter issue send`` runs as a subprocess against the fake SendGrid with faults on
both the mail API and the batch API (5xx, 429, connection resets, accept-then-hang). It
is SIGKILLed at random instants, some while batches are in flight and some early in a
resumed run, which is when unknown batches are being cancelled and confirmed. After the
issue is sent, the fake's clock is moved past ``send_at``: every member must have been
*delivered* exactly once (cancelled copies do not count) and no batch may be unknown.

One SQLite seed and one run per backend keep this near half a minute; set
``NEWSLETTER_TEST_CRASH_SEEDS=20`` for a heavier run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from test_crash import _command, _status, _wait_for_line
from test_crash import _env as unstaged_env
from test_issues_support import ISSUE_DATE, Audience, make_issue, seed_audience

from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory, transaction
from newsletter.storage.models import BatchStatus, IssueStatus
from newsletter.storage.repositories import ledger as ledger_repo
from newsletter.testing.fake_sendgrid import FakeSendGrid

pytestmark = pytest.mark.slow

MEMBERS = 1000
BATCH_SIZE = 50
KILLS = 3
MAX_RUNS = 12
SEEDS = int(os.environ.get("NEWSLETTER_TEST_CRASH_SEEDS", "1"))


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def _env(db_url: str, fake: FakeSendGrid, workdir: Path) -> dict[str, str]:
    env = unstaged_env(db_url, fake, workdir)
    del env["NEWSLETTER_STAGE_SENDS"]  # the default: staged
    # Fewer requests in flight per kill keeps the unknown batches within SendGrid's 10 holds.
    env["NEWSLETTER_SEND_CONCURRENCY"] = "2"
    return env


def _run_with_kills(
    sessions: sessionmaker[Session], issue_id: int, env: dict[str, str], workdir: Path, seed: int
) -> tuple[int, list[int]]:
    rng = random.Random(seed)
    kills = 0
    codes: list[int] = []
    for run in range(MAX_RUNS):
        # Done once the issue is sent and the last run ended on its own: a run killed just
        # after it finished the send (a fast send can) is followed by one more, which must
        # find nothing left to do and exit 0.
        if (
            run > 0
            and codes[-1] >= 0
            and _status(sessions, issue_id) == IssueStatus.SENT
            and not _unknown(sessions, issue_id)
        ):
            break
        log_path = workdir / f"staged-{issue_id}-{run}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [*_command(), "issue", "send", str(issue_id), "--yes"],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=log,
            )
            if run < KILLS:
                if run > 0 and rng.random() < 0.5:
                    # Early in a resumed run: recovery and settling (cancel, confirm).
                    time.sleep(rng.uniform(0.3, 1.2))
                else:
                    _wait_for_line(log_path, b"in the snapshot", proc)
                    time.sleep(rng.uniform(0.0, 0.6))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
            proc.wait(timeout=120)
        codes.append(proc.returncode)
    return kills, codes


def _unknown(sessions: sessionmaker[Session], issue_id: int) -> list[int]:
    with transaction(sessions) as session:
        return ledger_repo.batch_numbers(session, issue_id, [BatchStatus.UNKNOWN])


def _staged_crash_run(
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
        {"500": 0.03, "503": 0.03, "429": 0.03, "reset": 0.015, "hang": 0.015},
        seed=seed,
        seconds={"429": 0.2, "hang": 1.0},
    )
    fake.batch_faults.set_random(
        {"500": 0.03, "429": 0.02, "reset": 0.01, "hang": 0.01},
        seed=seed + 1000,
        seconds={"429": 0.2, "hang": 1.0},
    )
    kills, codes = _run_with_kills(sessions, issue_id, _env(db_url, fake, workdir), workdir, seed)
    last_log = sorted(workdir.glob("staged-*.log"))[-1].read_text(errors="replace")[-3000:]
    assert _status(sessions, issue_id) == IssueStatus.SENT, (codes, last_log)
    assert _unknown(sessions, issue_id) == [], (codes, last_log)
    assert kills >= 1, codes
    assert codes[-1] == 0, (codes, last_log)
    # Nothing is delivered before send_at; then everyone exactly once.
    assert fake.delivered_recipients() == Counter()
    fake.advance_clock(2 * 3600)
    delivered = fake.delivered_recipients()
    assert delivered == Counter({e: 1 for e in audience.emails}), {
        "twice": fake.delivered_duplicates(),
        "missing": len(set(audience.emails) - set(delivered)),
        "codes": codes,
    }


@pytest.fixture(scope="module")
def staged_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Audience]]:
    workdir = tmp_path_factory.mktemp("staged-crash")
    url = f"sqlite:///{workdir / 'staged.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    audience = seed_audience(session_factory(engine), MEMBERS)
    engine.dispose()
    yield url, audience


@pytest.mark.parametrize("seed", range(1, SEEDS + 1))
def test_kill_9_while_staging_and_settling_delivers_everyone_once_sqlite(
    staged_db: tuple[str, Audience], fake: FakeSendGrid, tmp_path: Path, seed: int
) -> None:
    url, audience = staged_db
    engine = make_engine(url)
    sessions = session_factory(engine)
    day = ISSUE_DATE.replace(day=seed % 28 + 1)
    issue_id = make_issue(sessions, audience.list_id, issue_date=day, tag=f" staged {seed}")
    _staged_crash_run(
        url, fake, tmp_path, seed=seed, sessions=sessions, audience=audience, issue_id=issue_id
    )
    engine.dispose()


def test_kill_9_while_staging_and_settling_on_each_backend(
    db_url: str, sessions: sessionmaker[Session], fake: FakeSendGrid, tmp_path: Path
) -> None:
    audience = seed_audience(sessions, MEMBERS)
    issue_id = make_issue(sessions, audience.list_id)
    _staged_crash_run(
        db_url, fake, tmp_path, seed=21, sessions=sessions, audience=audience, issue_id=issue_id
    )
