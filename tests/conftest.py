"""Shared fixtures.

Storage tests take the ``db_url`` fixture, which runs each test once on SQLite (a
temp file) and once on PostgreSQL (a database created for this test run). Set
``NEWSLETTER_TEST_POSTGRES_URL`` to point at a server; ``.ci/run`` also sets
``NEWSLETTER_TEST_REQUIRE_POSTGRES=1`` so a missing server fails CI instead of
skipping half the suite.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory
from newsletter.storage.models import Base
from newsletter.testing.databases import scratch_postgres

REPO_ROOT = Path(__file__).resolve().parent.parent
# Commands refuse to make tokens without a proper key; tests that check the refusal
# remove or replace this one.
TEST_SECRET_KEY = "tests-only-secret-key-0123456789-abcdefghijklmnop"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env or environment, or writes into the repo."""
    for name in list(os.environ):
        if name.startswith("NEWSLETTER_") and not name.startswith("NEWSLETTER_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSLETTER_CONTENT_DIR", str(REPO_ROOT / "content"))
    monkeypatch.setenv("NEWSLETTER_TEMPLATES_DIR", str(REPO_ROOT / "templates"))
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", TEST_SECRET_KEY)
    # ``newsletter status`` keeps its cache files here (newsletter.cache), not in ~/.cache.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _pg_admin_url() -> str:
    return os.environ.get("NEWSLETTER_TEST_POSTGRES_URL", DEFAULT_PG_ADMIN_URL)


@pytest.fixture(scope="session")
def _postgresql_url() -> Iterator[str]:
    admin_url = _pg_admin_url()
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        if os.environ.get("NEWSLETTER_TEST_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL not reachable at {admin_url}: {exc.__class__.__name__}")
    admin.dispose()
    with scratch_postgres(admin_url, "nl_test") as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def _sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "contract.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def _empty_all_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated, empty database: once on SQLite, once on PostgreSQL."""
    url: str = request.getfixturevalue(f"_{request.param}_url")
    engine = make_engine(url)
    _empty_all_tables(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
