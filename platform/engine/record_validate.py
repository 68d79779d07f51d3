"""Coercion and validation of record input: every error of a record (or batch) at once.

`Validator.prepare` turns a JSON-ish mapping into a `Prepared` tree (column values, link ids,
nested line items) and collects `FieldError`s with their path (`lines.2.quantity`) and batch
row; `check_refs` then verifies, one query per target entity, that every linked id exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from appblocks.engine.fieldtypes import FieldValueError
from appblocks.engine.query import system_fields
from appblocks.engine.record_errors import FieldError
from appblocks.engine.record_plan import IGNORED_INPUT, RECORD_IDS, EntityPlan, Plans
from appblocks.engine.record_read import Record, chunks


@dataclass(slots=True)
class Prepared:
    """One record's coerced input; for an update, only the keys that were given."""

    plan: EntityPlan
    columns: dict[str, Any] = field(default_factory=dict)
    links: dict[str, list[int]] = field(default_factory=dict)
    lines: dict[str, list[Prepared]] = field(default_factory=dict)
    id: int | None = None  # an existing line item being updated
    old: Record | None = None  # the record (or line item) as it was, for an update
    index: int | None = None  # row of a batch
    path: str = ""  # where nested: `lines.2.`


@dataclass
class Collected:
    """Errors, and the linked ids still to check, gathered over a record or a batch."""

    errors: list[FieldError] = field(default_factory=list)
    refs: list[tuple[str, int, int | None, str]] = field(default_factory=list)

    def error(self, code: str, path: str, name: str, index: int | None, **params: Any) -> None:
        self.errors.append(FieldError.of(code, f"{path}{name}", index, name=name, **params))


def _unchanged(plan: EntityPlan, key: str, value: Any, old: Record) -> bool:
    if value is None:
        return old.get(key) is None
    field = plan.field(key)
    target = field.resolved_lookup if field.resolved_lookup is not None else field
    try:
        return bool(target.ftype.from_json(value, target) == old.get(key))
    except FieldValueError:
        return False


class Validator:
    """Coerces input for the entities of a catalog (plans supply the prebuilt coercers)."""

    def __init__(self, plans: Plans) -> None:
        self.plans = plans

    def prepare(
        self,
        plan: EntityPlan,
        values: Any,
        out: Collected,
        *,
        creating: bool,
        index: int | None = None,
        old: Record | None = None,
        path: str = "",
        nested: bool = False,
    ) -> Prepared:
        """Coerce one record's input; errors go to `out`, never raised here."""
        prepared = Prepared(plan, {}, {}, {}, None, old, index, path)
        start = len(out.errors)
        if not isinstance(values, Mapping):
            out.error("not_a_record", path, path.rstrip(".") or "record", index)
            return prepared
        kinds, coercers, columns, scalars = (
            plan.kinds,
            plan.coercers,
            prepared.columns,
            plan.scalars,
        )
        for key, value in values.items():
            scalar = scalars.get(key)
            if scalar is not None:  # most keys: one call of the field type's from_json
                if value is None:
                    columns[key] = None
                    continue
                from_json, field_spec, target = scalar
                try:
                    columns[key] = coerced = from_json(value, field_spec)
                except FieldValueError as exc:
                    out.error("invalid", path, key, index, detail=str(exc))
                    continue
                if target is not None and coerced is not None:
                    out.refs.append((target, coerced, index, path + key))
                continue
            kind = kinds.get(key)
            if kind == "links":
                try:
                    ids = coercers[key](value) if value is not None else []
                except FieldValueError as exc:
                    out.error("invalid", path, key, index, detail=str(exc))
                    continue
                prepared.links[key] = ids
                target = plan.field(key).target or ""
                out.refs.extend((target, i, index, path + key) for i in ids)
            elif kind == "lines":
                children = self._lines(plan, key, value, out, index, old, path)
                if children is not None:
                    prepared.lines[key] = children
            elif kind == "computed":
                # A record read and written back carries its computed values: the unchanged
                # ones pass; a value that differs would be lost, so it is an error.
                if old is None or not _unchanged(plan, key, value, old):
                    out.error("computed", path, key, index)
            else:
                self._system(plan, key, value, prepared, out, creating=creating, nested=nested)
        if creating and plan.spec.parent and not nested and "_parent_id" not in values:
            out.error("required", path, "_parent_id", index)  # a line item needs its parent
        if creating:
            for key, default in plan.defaults.items():
                if key not in values:
                    columns[key] = default
        failed = {e.field for e in out.errors[start:]} if len(out.errors) > start else ()
        for key in plan.required:
            kind = kinds[key]
            if kind == "links":
                given, empty = key in prepared.links, not prepared.links.get(key)
            elif kind == "lines":
                given, empty = key in prepared.lines, not prepared.lines.get(key)
            else:
                given, empty = key in columns, columns.get(key) is None
            if (creating or given) and empty and path + key not in failed:
                out.error("required", path, key, index)
        return prepared

    def _system(
        self,
        plan: EntityPlan,
        key: str,
        value: Any,
        prepared: Prepared,
        out: Collected,
        *,
        creating: bool,
        nested: bool,
    ) -> None:
        path, index = prepared.path, prepared.index
        if key in IGNORED_INPUT:
            return
        if key == "id":
            # A record read and written back carries its id; only a create may not choose one.
            if creating and not nested:
                out.error("system", path, key, index)
            return
        if key in ("_parent_id", "_position") and plan.spec.parent:
            if nested:
                return  # the nesting decides a line's parent and position
            spec = system_fields(plan.spec)[key]
            try:
                coerced = spec.ftype.from_json(value, spec) if value is not None else None
            except FieldValueError as exc:
                out.error("invalid", path, key, index, detail=str(exc))
                return
            prepared.columns[key] = coerced
            if key == "_parent_id":
                if coerced is None:
                    out.error("required", path, key, index)
                else:
                    out.refs.append((plan.spec.parent, coerced, index, path + key))
            return
        if key == "_state" and plan.spec.has_state:
            out.error("state", path, key, index)
            return
        out.error("unknown_field", path, key, index, entity=plan.name)

    def _lines(
        self,
        plan: EntityPlan,
        key: str,
        value: Any,
        out: Collected,
        index: int | None,
        old: Record | None,
        path: str,
    ) -> list[Prepared] | None:
        try:
            items = plan.coercers[key](value) if value is not None else []
        except FieldValueError as exc:
            out.error("invalid", path, key, index, detail=str(exc))
            return None
        child_plan = self.plans[plan.field(key).target or ""]
        old_children = {c["id"]: c for c in (old or {}).get(key) or []}
        children: list[Prepared] = []
        for position, item in enumerate(items):
            where = f"{path}{key}.{position}."
            child_id = item.get("id")
            if child_id is None:
                child = self.prepare(
                    child_plan, item, out, creating=True, index=index, path=where, nested=True
                )
            elif isinstance(child_id, bool) or not isinstance(child_id, int):
                out.error("bad_line_id", where, "id", index)
                continue
            elif child_id not in old_children:
                out.error("foreign_line", where, "id", index, id=child_id)
                continue
            else:
                child = self.prepare(
                    child_plan,
                    item,
                    out,
                    creating=False,
                    index=index,
                    old=old_children[child_id],
                    path=where,
                    nested=True,
                )
                child.id = child_id
            children.append(child)
        return children

    def check_refs(self, conn: sa.Connection, out: Collected) -> None:
        """Report every linked id that has no record, with one query per target entity."""
        by_target: dict[str, set[int]] = {}
        for target, ref_id, _index, _path in out.refs:
            by_target.setdefault(target, set()).add(ref_id)
        missing: set[tuple[str, int]] = set()
        for target, ids in by_target.items():
            query = self.plans[target].ids_in
            found: set[int] = set()
            for part in chunks(sorted(ids)):
                found.update(conn.execute(query, {RECORD_IDS: list(part)}).scalars())
            missing.update((target, i) for i in ids - found)
        for target, ref_id, index, path in out.refs:
            if (target, ref_id) in missing:
                out.errors.append(
                    FieldError.of("link_missing", path, index, target=target, id=ref_id)
                )
        out.refs.clear()
