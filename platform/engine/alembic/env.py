"""Alembic environment for the platform tables (`ab_*`); run through `platform_db.upgrade`."""

from __future__ import annotations

from alembic import context

from appblocks.engine.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table="ab_alembic_version",
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
