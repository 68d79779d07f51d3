"""Links given by a record's title (CSV cells, seed data) resolved to ids, with a cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.spec import FieldSpec


class UnknownReference(ValueError):
    """A link value that names no record."""


#: The rows of an entity a caller may read: a predicate, None for all, False for none.
Visible = Callable[[str], "sa.ColumnElement[bool] | None | bool"]


class TitleResolver:
    """Turns `"Acme"` into the id of the supplier titled Acme (or keeps an id as it is).

    With `visible`, titles are looked up only among the records the caller may read: an
    import must not tell a user whether a record they cannot see exists."""

    def __init__(
        self, connection: sa.Connection, catalog: Catalog, visible: Visible | None = None
    ) -> None:
        self.connection = connection
        self.catalog = catalog
        self.visible = visible
        self._cache: dict[str, dict[str, int]] = {}

    def _titles(self, entity: str) -> dict[str, int]:
        if entity not in self._cache:
            spec = self.catalog.entity(entity)
            table = self.catalog.table(entity)
            titles: dict[str, int] = {}
            rule = self.visible(entity) if self.visible is not None else None
            if spec.title and rule is not False:
                # One query per target entity, not per cell: imports resolve many rows.
                column = table.c[spec.title]
                query = sa.select(table.c.id, column)
                if rule is not None and rule is not True:
                    query = query.where(rule)
                for record_id, title in self.connection.execute(query):
                    if title is not None:
                        titles.setdefault(str(title), record_id)
            self._cache[entity] = titles
        return self._cache[entity]

    def remember(self, entity: str, title: Any, record_id: int) -> None:
        """Tell the cache about a record created after it was filled."""
        if entity in self._cache and title is not None:
            self._cache[entity].setdefault(str(title), record_id)

    def resolve(self, field: FieldSpec, value: Any) -> Any:
        """The id for one link value: an int id, a digit string, or the target's title."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text == "":
            return None
        assert field.target is not None
        titles = self._titles(field.target)
        if text in titles:
            return titles[text]
        if text.isdigit():
            return int(text)
        target = self.catalog.entity(field.target)
        raise UnknownReference(f"no {target.label()} titled '{text}'")

    def resolve_row(self, entity: str, row: dict[str, Any]) -> list[tuple[str, str]]:
        """Resolve every link, links and nested lines value of `row` in place; the problems."""
        spec = self.catalog.entity(entity)
        problems: list[tuple[str, str]] = []
        for name, value in list(row.items()):
            field = spec.fields.get(name)
            if field is None:
                continue
            try:
                if field.type == "link":
                    row[name] = self.resolve(field, value)
                elif field.type == "links" and isinstance(value, list):
                    row[name] = [self.resolve(field, v) for v in value]
            except UnknownReference as exc:
                problems.append((name, str(exc)))
            if field.type == "lines" and isinstance(value, list) and field.target:
                for i, child in enumerate(value):
                    if isinstance(child, dict):
                        for cname, msg in self.resolve_row(field.target, child):
                            problems.append((f"{name}.{i}.{cname}", msg))
        return problems
