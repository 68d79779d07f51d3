"""Turning a unique violation into field errors, the same way on every database.

The store writes inside a SAVEPOINT; when the database reports a unique violation it rolls
the savepoint back (the caller's transaction lives on, also on PostgreSQL) and asks here which
values collided: duplicates within the batch, then values other records already hold. Asking
the data rather than parsing driver messages keeps this independent of the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from appblocks.engine.record_errors import FieldError, RecordErrors
from appblocks.engine.record_plan import EntityPlan
from appblocks.engine.record_validate import Prepared

_CHUNK = 200  # composite keys per OR-list
T = TypeVar("T")


def _walk(item: Prepared, out: dict[str, list[Prepared]], gone: dict[str, set[int]]) -> None:
    out.setdefault(item.plan.name, []).append(item)
    for name, children in item.lines.items():
        kept = {c.id for c in children}
        old_ids = {o["id"] for o in (item.old or {}).get(name) or []}
        if children:
            gone.setdefault(children[0].plan.name, set()).update(old_ids - kept)
        for child in children:
            _walk(child, out, gone)


def _existing(
    conn: sa.Connection, plan: EntityPlan, names: tuple[str, ...], keys: list[tuple[Any, ...]]
) -> dict[tuple[Any, ...], set[int]]:
    table = plan.table
    cols = [table.c[n] for n in names]
    found: dict[tuple[Any, ...], set[int]] = {}
    unique_keys = list(dict.fromkeys(keys))
    for start in range(0, len(unique_keys), _CHUNK):
        part = unique_keys[start : start + _CHUNK]
        where: sa.ColumnElement[bool]
        if len(cols) == 1:
            where = cols[0].in_([k[0] for k in part])
        else:
            where = sa.or_(
                *(sa.and_(*(c == v for c, v in zip(cols, k, strict=True))) for k in part)
            )
        for row in conn.execute(sa.select(table.c.id, *cols).where(where)):
            found.setdefault(tuple(row[1:]), set()).add(row[0])
    return found


def unique_conflicts(conn: sa.Connection, roots: Sequence[Prepared]) -> list[FieldError]:
    """Field errors for every record in `roots` (and their lines) whose unique values collide."""
    by_entity: dict[str, list[Prepared]] = {}
    gone: dict[str, set[int]] = {}
    for root in roots:
        _walk(root, by_entity, gone)
    errors: list[FieldError] = []
    for items in by_entity.values():
        plan = items[0].plan
        for names in plan.unique_sets:
            candidates: list[tuple[Prepared, tuple[Any, ...]]] = []
            for item in items:
                full = {**(item.old or {}), **item.columns}
                key = tuple(full.get(n) for n in names)
                if all(v is not None for v in key):
                    candidates.append((item, key))
            if not candidates:
                continue
            existing = _existing(conn, plan, names, [k for _, k in candidates])
            seen: set[tuple[Any, ...]] = set()
            skip = gone.get(plan.name, set())
            for item, key in candidates:
                own = (item.old or {}).get("id")
                others = existing.get(key, set()) - {own} - skip
                if others or key in seen:
                    errors.append(_error(item, names))
                seen.add(key)
    return errors


def _error(item: Prepared, names: tuple[str, ...]) -> FieldError:
    if len(names) == 1:
        return FieldError.of("unique", item.path + names[0], item.index)
    return FieldError.of(
        "unique_together", item.path + names[0], item.index, fields=", ".join(names)
    )


def _nodes(item: Prepared) -> list[Prepared]:
    out = [item]
    for children in item.lines.values():
        for child in children:
            out.extend(_nodes(child))
    return out


def guarded_write(conn: sa.Connection, items: Sequence[Prepared], write: Callable[[], T]) -> T:
    """Run `write` in a savepoint when a unique value could collide; report collisions as
    `RecordErrors` and leave the caller's transaction usable."""
    if not any(node.plan.unique_sets for item in items for node in _nodes(item)):
        return write()
    try:
        with conn.begin_nested():
            return write()
    except sa.exc.IntegrityError:
        errors = unique_conflicts(conn, items)
        if errors:
            raise RecordErrors(errors) from None
        raise
