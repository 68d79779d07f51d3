"""Reading records: rows to dicts, and the batch loads of links, lines and expands.

Every related load takes one query per field for a whole page of records (never one per
record), so a list costs the same number of queries for 5 rows as for 500.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from appblocks.engine.fieldtypes import FieldType
from appblocks.engine.record_errors import QueryError
from appblocks.engine.record_plan import EntityPlan, Plans

STAMPS = frozenset({"_version", "_created_at", "_updated_at", "_created_by", "_updated_by"})
CHUNK = 1000  # ids per IN list: far below every database's bound-parameter limit

Record = dict[str, Any]
Converter = Callable[[Any], Any]


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """`values` in slices of at most `size`."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Reader:
    """Loads records and their related records in batches; converts them to JSON."""

    def __init__(self, plans: Plans) -> None:
        self.plans = plans
        self._converters: dict[EntityPlan, dict[str, tuple[Converter | None, str | None]]] = {}

    # --- rows ---------------------------------------------------------------------------------

    def records(self, plan: EntityPlan, rows: Iterable[Sequence[Any]]) -> list[Record]:
        """Rows selected with `plan.select` as record dicts."""
        keys = plan.out_keys
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def fetch(self, conn: sa.Connection, plan: EntityPlan, ids: Sequence[int]) -> dict[int, Record]:
        """The column values of the records with these ids, by id."""
        out: dict[int, Record] = {}
        for part in chunks(list(dict.fromkeys(ids))):
            rows = conn.execute(plan.select.where(plan.table.c.id.in_(part)))
            for record in self.records(plan, rows):
                out[record["id"]] = record
        return out

    # --- related records ----------------------------------------------------------------------

    def check_expand(self, plan: EntityPlan, expand: Sequence[str]) -> None:
        """Refuse expands that are not link, links or lines fields of the entity."""
        for name in expand:
            field = plan.spec.fields.get(name) if isinstance(name, str) else None
            if field is None:
                raise QueryError(
                    "query_bad_expand", field=name, detail=f"not a field of {plan.name}"
                )
            if field.type not in ("link", "links", "lines"):
                raise QueryError(
                    "query_bad_expand", field=name, detail="only links and lines expand"
                )

    def attach(
        self,
        conn: sa.Connection,
        plan: EntityPlan,
        records: list[Record],
        *,
        lines: bool,
        expand: Sequence[str] = (),
    ) -> None:
        """Add links (ids), lines (all when `lines`, else only expanded) and expands in place."""
        self.check_expand(plan, expand)
        if not records:
            return
        ids = [r["id"] for r in records]
        for field in plan.links:
            targets = self._link_ids(conn, plan, field.name, ids)
            for record in records:
                record[field.name] = targets.get(record["id"], [])
        for field in plan.lines:
            if lines or field.name in expand:
                children = self._children(conn, plan, field.name, ids)
                for record in records:
                    record[field.name] = children.get(record["id"], [])
        for name in dict.fromkeys(expand):
            field = plan.field(name)
            if field.type == "lines":
                continue
            assert field.target is not None
            target = self.plans[field.target]
            if field.type == "link":
                wanted = [r[name] for r in records if r[name] is not None]
                found = self.fetch(conn, target, wanted)
                for record in records:
                    if record[name] is not None:
                        record[name] = found.get(record[name], record[name])
            else:
                wanted = [i for r in records for i in r[name]]
                found = self.fetch(conn, target, wanted)
                for record in records:
                    record[name] = [found[i] for i in record[name] if i in found]

    def _link_ids(
        self, conn: sa.Connection, plan: EntityPlan, field: str, ids: Sequence[int]
    ) -> dict[int, list[int]]:
        table = plan.link_tables[field]
        out: dict[int, list[int]] = {}
        for part in chunks(ids):
            query = (
                sa.select(table.c.source_id, table.c.target_id)
                .where(table.c.source_id.in_(part))
                .order_by(table.c.source_id, table.c._position, table.c.target_id)
            )
            for source, target in conn.execute(query):
                out.setdefault(source, []).append(target)
        return out

    def _children(
        self, conn: sa.Connection, plan: EntityPlan, field: str, ids: Sequence[int]
    ) -> dict[int, list[Record]]:
        target = plan.field(field).target
        assert target is not None
        child = self.plans[target]
        table = child.table
        found: list[Record] = []
        for part in chunks(ids):
            query = child.select.where(table.c._parent_id.in_(part)).order_by(
                table.c._parent_id, table.c._position, table.c.id
            )
            found.extend(self.records(child, conn.execute(query)))
        # Children are whole records: their own links and lines come along (batched too).
        self.attach(conn, child, found, lines=True)
        out: dict[int, list[Record]] = {}
        for record in found:
            out.setdefault(record["_parent_id"], []).append(record)
        return out

    # --- JSON ---------------------------------------------------------------------------------

    def _json_map(self, plan: EntityPlan) -> dict[str, tuple[Converter | None, str | None]]:
        """Per field: its type's to_json (None when it is the identity) and, for links and
        lines, the entity whose records may be nested in the value."""
        # By plan (hashed by identity): a new catalog version brings new plans.
        found = self._converters.get(plan)
        if found is None:
            found = {}
            for field in plan.spec.fields.values():
                plain = type(field.ftype).to_json is FieldType.to_json
                nested = field.target if field.type in ("link", "links", "lines") else None
                found[field.name] = (None if plain else field.ftype.to_json, nested)
            self._converters[plan] = found
        return found

    def to_json(
        self,
        plan: EntityPlan,
        record: Mapping[str, Any],
        *,
        audit: bool = False,
        sparse: bool = False,
    ) -> dict[str, Any]:
        """A record (as the store returns it) as JSON-able values, by each field's type.

        `audit` leaves out the stamps (`_version`, `_created_at`, ...) that the audit row
        itself records, at every level; `sparse` leaves out fields without a value."""
        # The hot path of every response (each row of a page): calls and ABC checks inlined.
        fields = self._json_map(plan)
        out: dict[str, Any] = {}
        for key, value in record.items():
            entry = fields.get(key)
            if entry is None:  # a system column
                if not (audit and key in STAMPS):
                    out[key] = value.isoformat() if isinstance(value, dt.datetime) else value
                continue
            if value is None:
                if not sparse:
                    out[key] = None
                continue
            convert, nested = entry
            if (
                nested is not None
                and not isinstance(value, int)  # a link's id: the common case
                and isinstance(value, Mapping | list)
            ):
                target = self.plans[nested]
                if isinstance(value, Mapping):
                    out[key] = self.to_json(target, value, audit=audit, sparse=sparse)
                else:
                    out[key] = [
                        self.to_json(target, v, audit=audit, sparse=sparse)
                        if isinstance(v, Mapping)
                        else v
                        for v in value
                    ]
                continue
            out[key] = convert(value) if convert is not None else value
        return out
