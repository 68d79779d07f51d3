"""The platform tables: Alembic migrations match the models, and upgrading is idempotent."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from appblocks.engine.models import Base
from appblocks.engine.platform_db import upgrade


def test_migrations_build_exactly_the_models(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "ab_alembic_version"})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_twice_changes_nothing(engine: sa.Engine) -> None:
    before = sorted(sa.inspect(engine).get_table_names())
    upgrade(engine)
    assert sorted(sa.inspect(engine).get_table_names()) == before
    assert {"ab_document", "ab_audit", "ab_user", "ab_task", "ab_job"} <= set(before)
