"""Schema migrations of record tables: plan the steps, show them, apply them in one transaction.

    old, new = Catalog(installed), Catalog(changed)
    steps = plan(old, new, connection)          # what would change, counted on the database
    print(steps.render())                       # + create table ..., ~ retype ..., - drop ...
    with begin_migration(engine) as connection:
        report = apply(steps, connection, allow_data_loss=False)

Installing a blueprint and upgrading it to a newer version are the same plan
(`plan_blueprint`). The pieces: `migrations_steps` (steps, plans and how they read),
`migrations_plan` (comparing two catalogs' tables), `migrations_types` (stored types and the
safe conversions), `migrations_apply` (Alembic operations, batch mode on SQLite) and
`migrations_backup` (what a drop saves, and `restore`). `apply` here also keeps the search
indexes in step with the new catalog (`search.sync_search_indexes`): import it from this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.migrations_apply import ApplyReport, begin_migration
from appblocks.engine.migrations_apply import apply as apply_steps
from appblocks.engine.migrations_backup import restore
from appblocks.engine.migrations_plan import plan
from appblocks.engine.migrations_steps import (
    NO_CHANGES,
    DataLossRefused,
    MigrationError,
    MigrationFailed,
    MigrationRefused,
    Plan,
    Step,
)
from appblocks.engine.migrations_types import SqlType, conversion_problem, sql_type
from appblocks.engine.search import prepare_search_indexes, sync_search_indexes

__all__ = [
    "NO_CHANGES",
    "ApplyReport",
    "DataLossRefused",
    "MigrationError",
    "MigrationFailed",
    "MigrationRefused",
    "Plan",
    "SqlType",
    "Step",
    "apply",
    "begin_migration",
    "conversion_problem",
    "plan",
    "plan_blueprint",
    "restore",
    "sql_type",
]


def plan_blueprint(connection: sa.Connection, blueprint: Mapping[str, Any]) -> Plan:
    """The plan that installs `blueprint`, or upgrades the installed version of its app."""
    installed = Catalog.load(connection)
    return plan(installed, installed.with_blueprint(blueprint), connection)


def apply(
    plan: Plan,
    connection: sa.Connection,
    *,
    allow_data_loss: bool = False,
    backup_dir: Path | None = None,
) -> ApplyReport:
    """Run `plan` in the caller's transaction (open it with `begin_migration`); never commits.
    Then make the search indexes match the new catalog, in the same transaction."""
    if not plan.refused and (allow_data_loss or not plan.data_loss):
        retyped = [
            (s.table, str(s.old_column or s.column)) for s in plan.steps if s.kind == "alter_type"
        ]
        prepare_search_indexes(connection, retyped)
    report = apply_steps(plan, connection, allow_data_loss=allow_data_loss, backup_dir=backup_dir)
    sync_search_indexes(connection, plan.new)
    return report
