"""Test harness: real PostgreSQL (embedded by default, NCHAT_TEST_DATABASE_URL for an external
server), one database per xdist worker, tables emptied between tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.app import create_app
from nchat.config import Settings
from nchat.db import migrate
from nchat.db.embedded import EmbeddedPostgres
from nchat.db.engine import create_engine
from nchat.tables import metadata
from tests.fixtures.databases import create_database, drop_database, with_database
from tests.fixtures.factories import UserFactory
from tests.messaging.helpers import Api

# The S3 server fixture, for the files and storage command tests; the SMTP server, for mail.
pytest_plugins = ["tests.fixtures.s3", "tests.fixtures.smtp", "tests.fixtures.push_service"]

SERVER_ENV = "NCHAT_TEST_DATABASE_URL"

# The embedded server this run started (on the controller process only), if any.
_started: list[EmbeddedPostgres] = []


def pytest_configure(config: pytest.Config) -> None:
    """On the controller only: start the embedded server the workers will share.

    Each run gets a server of its own in a fresh temp dir, so runs side by side (two
    terminals, an editor's test runner) never stop each other's server."""
    if hasattr(config, "workerinput") or os.environ.get(SERVER_ENV):
        return
    data_dir = Path(tempfile.mkdtemp(prefix="nchat-test-server-"))
    embedded = EmbeddedPostgres(data_dir, database="postgres")
    _started.append(embedded)
    os.environ[SERVER_ENV] = embedded.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    while _started:
        embedded = _started.pop()
        embedded.stop()
        shutil.rmtree(embedded.data_dir, ignore_errors=True)


# Live delivery shows an event once every older write transaction in the whole server has
# ended (the event log's horizon), other test databases' included: one left open anywhere
# stalls every stream. A failed test's report names those open the longest.
_OLDEST_WRITERS = """
    SELECT pid, datname, application_name, state, now() - xact_start AS open_for,
           left(query, 200) AS query
    FROM pg_stat_activity
    WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
    ORDER BY xact_start LIMIT 5
"""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    if report.failed and os.environ.get(SERVER_ENV):
        report.sections.append(("open write transactions in the test server", _writers()))
    return report


def _writers() -> str:
    try:
        with psycopg.connect(os.environ[SERVER_ENV], connect_timeout=5) as conn:
            rows = conn.execute(_OLDEST_WRITERS).fetchall()
    except psycopg.Error as exc:
        return f"(not read: {exc})"
    return "\n".join(" | ".join(str(v) for v in row) for row in rows) or "(none)"


def pytest_report_header(config: pytest.Config) -> str:
    kind = "embedded" if _started else "external"
    return f"nchat test database server: {kind} ({os.environ.get(SERVER_ENV, '?')})"


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of the test server's maintenance database (used to create and drop databases)."""
    return os.environ[SERVER_ENV]


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """This worker's database, migrated to head once."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"nchat_test_{worker}_{os.getpid()}"
    create_database(server_url, name)
    url = with_database(server_url, name)
    migrate.upgrade(url)
    yield url
    drop_database(server_url, name)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url, pool_size=5)
    yield eng
    await eng.dispose()


# The one-row tables stay (the notifier's position only moves forward, as the log does);
# the job queue's jobs go with everything else.
KEPT = {"nchat_app_config", "nchat_notifier_position"}
TRUNCATED = [t.name for t in metadata.sorted_tables if t.name not in KEPT] + [
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
]


@pytest.fixture
async def clean_db(engine: AsyncEngine) -> None:
    """Every test starts from an empty, migrated database with default configuration."""
    # A previous test's app may still be finishing a background write (housekeeping, the
    # presence keeper) whose locks cross the TRUNCATE's: PostgreSQL then aborts one of the
    # two as a deadlock. Ours is the one to try again.
    for attempt in range(5):
        try:
            await _reset(engine)
            return
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == 4:
                raise


DEADLOCK = "40P01"


async def _reset(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {', '.join(TRUNCATED)} RESTART IDENTITY CASCADE"))
        await conn.execute(
            sa.text(
                "UPDATE nchat_app_config SET setup = '{}', owner = '{}', branding = '{}', "
                "theme = '{}', features = '{}', integrations = '{}', mobile = NULL, files = '{}', "
                "auth_providers = '{}'"
            )
        )


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": tmp_path,
        "secret_key": "test-secret-key-that-is-long-enough-for-hs256",
        "log_level": "warning",
        # Volume limits that never refuse (still checked) unless a test sets its own: many
        # tests send hundreds of messages as one user. tests/limits/ uses the real ones.
        **dict.fromkeys(
            (
                "rate_send_per_min",
                "rate_send_burst",
                "rate_sync_ops_per_min",
                "rate_sync_ops_burst",
                "rate_signals_per_min",
                "rate_signals_burst",
            ),
            100_000_000,
        ),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def app(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url, tmp_path_factory.mktemp("data")))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI, clean_db: None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def make_user(app: FastAPI, engine: AsyncEngine, clean_db: None) -> UserFactory:
    return UserFactory(engine, app.state.settings)


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)
