"""What one caller may see of records: hidden fields stripped everywhere they can surface.

A record reaches a caller in many shapes: its own fields, its line items, linked records
inlined by `expand`, its history. Each shape passes through here, with the scope of the
entity the data belongs to, so a field hidden from a role stays hidden in all of them; and
filters, sorts and searches cannot name a hidden field to probe its value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from appblocks.engine.access import Scope
from appblocks.engine.catalog import Catalog
from appblocks.engine.query import find_field
from appblocks.engine.users import Identity
from appblocks.server.problems import Problem
from appblocks.server.runtime import Loaded

MAX_HOPS = 4


class Viewer:
    """One identity's view of one catalog generation."""

    def __init__(self, loaded: Loaded, identity: Identity) -> None:
        self.loaded = loaded
        self.identity = identity
        self.catalog: Catalog = loaded.catalog

    def scope(self, entity: str) -> Scope | None:
        """The read scope of `entity` for this identity (None: may not read it)."""
        return self.loaded.scope(self.identity, entity, "read")

    def hidden(self, entity: str) -> frozenset[str]:
        """Fields of `entity` this identity may not see (all of them, if it may not read it)."""
        scope = self.scope(entity)
        if scope is None:
            return frozenset(self.catalog.entity(entity).fields)
        return scope.hidden

    # --- records out -------------------------------------------------------------------------

    def strip(self, entity: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON record without the hidden fields of it, its lines and its inlined links."""
        spec = self.catalog.entity(entity)
        hidden = self.hidden(entity)
        out: dict[str, Any] = {}
        for key, value in record.items():
            if key in hidden:
                continue
            field = spec.fields.get(key)
            if field is not None and field.target and field.type in ("lines", "link", "links"):
                value = self._strip_related(field.type, field.target, value)
            out[key] = value
        return out

    def _strip_related(self, kind: str, target: str, value: Any) -> Any:
        if kind == "lines" and isinstance(value, list):
            # Line items belong to the record: shown under the parent's rule, minus the
            # line entity's hidden fields for this role.
            scope = self.scope(target)
            hidden = scope.hidden if scope is not None else frozenset()
            return [
                {k: v for k, v in line.items() if k not in hidden}
                if isinstance(line, dict)
                else line
                for line in value
            ]
        if isinstance(value, dict):
            return self.strip(target, value)
        if isinstance(value, list):
            return [self.strip(target, v) if isinstance(v, dict) else v for v in value]
        return value

    def restrict_expanded(
        self, conn: sa.Connection, entity: str, records: list[dict[str, Any]], expand: Iterable[str]
    ) -> None:
        """Replace inlined linked records the caller may not read by their bare id (in place)."""
        spec = self.catalog.entity(entity)
        for name in expand:
            field = spec.fields.get(name)
            if field is None or field.type not in ("link", "links") or not field.target:
                continue
            scope = self.scope(field.target)
            inlined: list[Any] = []
            for r in records:
                value = r.get(name)
                for v in value if isinstance(value, list) else [value]:
                    if isinstance(v, dict) and "id" in v:
                        inlined.append(v["id"])
            if not inlined:
                continue
            if scope is None:
                visible: set[int] = set()
            elif scope.predicate is None:
                continue
            else:
                table = self.catalog.table(field.target)
                query = sa.select(table.c.id).where(table.c.id.in_(inlined), scope.predicate)
                visible = set(conn.execute(query).scalars())
            for record in records:
                value = record.get(name)
                if isinstance(value, dict) and value.get("id") not in visible:
                    record[name] = value.get("id")
                elif isinstance(value, list):
                    record[name] = [
                        v if not isinstance(v, dict) or v.get("id") in visible else v.get("id")
                        for v in value
                    ]

    def strip_history(self, entity: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Audit entries without hidden values (in `before`, `after` and their lines)."""
        for item in items:
            for key in ("before", "after"):
                if isinstance(item.get(key), dict):
                    item[key] = self.strip(entity, item[key])
        return items

    # --- queries in --------------------------------------------------------------------------

    def check_path(self, entity: str, path: str, what: str) -> None:
        """Refuse a field path (`supplier.name`) that passes a hidden or unreadable field."""
        current = entity
        parts = path.split(".")
        for index, part in enumerate(parts[: MAX_HOPS + 1]):
            spec = self.catalog.entity(current)
            field = find_field(spec, part)
            if field is None:
                return  # unknown names are the query compiler's to report
            if part in self.hidden(current):
                raise Problem(
                    422,
                    f"cannot {what} on '{path}': a field you may not see",
                    errors=[{"field": what, "message": f"'{path}' is not visible to you"}],
                )
            if index < len(parts) - 1:
                if not field.target:
                    return
                current = field.target

    def check_filter(self, entity: str, spec: Any, depth: int = 0) -> None:
        """Check every field path a filter names (through and/or/not)."""
        if depth > 16 or not isinstance(spec, Mapping):
            return
        for key, value in spec.items():
            if key in ("and", "or") and isinstance(value, list):
                for part in value:
                    self.check_filter(entity, part, depth + 1)
            elif key == "not":
                self.check_filter(entity, value, depth + 1)
            else:
                self.check_path(entity, str(key), "filter")

    def check_sort(self, entity: str, sort: str | None) -> None:
        """Refuse sorting by a hidden field (the order would reveal its values)."""
        for key in (sort or "").split(","):
            key = key.strip().lstrip("-+")
            if key:
                self.check_path(entity, key, "sort")

    def search_columns(self, entity: str) -> frozenset[str]:
        """Searchable fields this identity may see (search must not match hidden text)."""
        hidden = self.hidden(entity)
        spec = self.catalog.entity(entity)
        return frozenset(
            f.name for f in spec.columns() if f.ftype.searchable and f.name not in hidden
        )
