"""Shared fixtures: a database per test on SQLite and, where a URL is given, PostgreSQL.

CI sets APPBLOCKS_TEST_PG_URL and CI=true; there a skipped test fails the run (see
`pytest_terminal_summary`), so PostgreSQL tests can never quietly stop running.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from appblocks.engine.db import create_engine
from appblocks.engine.platform_db import upgrade

PG_URL = os.environ.get("APPBLOCKS_TEST_PG_URL")


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file in `folder`, or a PostgreSQL schema of its
    own (dropped afterwards) reached through search_path, so every test starts clean."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'test.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need APPBLOCKS_TEST_PG_URL")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a PostgreSQL schema of its own."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An Engine on a fresh database whose platform tables are created."""
    eng = create_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    """On CI, a skipped test is a failure: everything must run there."""
    if os.environ.get("CI") != "true":
        return
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"CI: {len(skipped)} test(s) were skipped; on CI every test must run.", red=True
        )
        terminalreporter._session.exitstatus = pytest.ExitCode.TESTS_FAILED  # type: ignore[attr-defined]
