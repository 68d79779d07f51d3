"""Seed records shipped in a blueprint's `data` section (`blueprint import --with-data`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.compute import build_store
from appblocks.engine.records import RecordErrors, RecordStore
from appblocks.engine.references import TitleResolver
from appblocks.engine.spec import qualify

STATE = "_state"


class SeedDataError(ValueError):
    """Seed data that does not fit its entities; every problem with its record."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def load_seed_data(
    connection: sa.Connection,
    catalog: Catalog,
    app: str,
    data: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    actor: str | None = None,
    store: RecordStore | None = None,
) -> dict[str, int]:
    """Create the seed records in order; links given by title. Counts by entity. `store` is
    the record store to save through (default: one that computes fields, `build_store`)."""
    if store is None:
        store = build_store(catalog)
    resolver = TitleResolver(connection, catalog)
    counts: dict[str, int] = {}
    problems: list[str] = []
    for entity_name, rows in data.items():
        entity = qualify(app, entity_name)
        spec = catalog.entity(entity)
        for index, raw in enumerate(rows or []):
            row = dict(raw)
            state = row.pop(STATE, None) if spec.has_state else None
            where = f"data.{entity_name}.{index}"
            unresolved = resolver.resolve_row(entity, row)
            if unresolved:
                problems += [f"{where}.{f}: {m}" for f, m in unresolved]
                continue
            try:
                record = store.create(connection, entity, row, actor=actor)
            except RecordErrors as exc:
                problems += [f"{where}.{e.field}: {e.message}" for e in exc.errors]
                continue
            if state is not None and state != record.get(STATE):
                # The state the demo's story has the record in: set as history, no transition
                # (the blueprint's validation checked it is a state of the workflow).
                table = catalog.table(entity)
                connection.execute(
                    sa.update(table).where(table.c.id == record["id"]).values({STATE: state})
                )
            if spec.title:
                resolver.remember(entity, record.get(spec.title), record["id"])
            counts[entity] = counts.get(entity, 0) + 1
    if problems:
        raise SeedDataError(problems)
    return counts
