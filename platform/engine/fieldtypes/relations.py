"""Relation field types: link (many-to-one), links (many-to-many), lines (line items)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from appblocks.engine.fieldtypes.base import (
    FieldType,
    FieldValueError,
    kind_of,
    register,
    registry,
    short,
)
from appblocks.engine.fieldtypes.storage import ID_TYPE

if TYPE_CHECKING:
    from appblocks.engine.spec import FieldSpec


@register
class Link(FieldType):
    name = "link"
    widget = "link"
    options = frozenset({"to", "on_delete"})

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        return ID_TYPE

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1}

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if isinstance(value, bool):
            raise FieldValueError("expected the id of a record")
        if isinstance(value, Mapping) and "id" in value:
            value = value["id"]
        if isinstance(value, str):
            if value.strip() == "":
                return None
            if not value.strip().isdigit():
                raise FieldValueError(f"'{short(value)}' is not a record id")
            value = int(value)
        if not isinstance(value, int) or value < 1 or value >= 2**63:
            raise FieldValueError(f"expected the id of a record, got {kind_of(value)}")
        return value


@register
class Links(FieldType):
    name = "links"
    widget = "links"
    has_column = False
    options = frozenset({"to"})

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "integer", "minimum": 1}}

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if not isinstance(value, list):
            raise FieldValueError(f"expected a list of record ids, got {kind_of(value)}")
        ids: list[int] = []
        for item in value:
            one = registry.get("link").from_json(item, field)
            if one is not None and one not in ids:
                ids.append(one)
        return ids

    def from_text(self, text: str, field: FieldSpec) -> Any:
        return self.from_json([p.strip() for p in re.split(r"[;,]", text) if p.strip()], field)

    def to_text(self, value: Any) -> str:
        return "; ".join(str(v) for v in value or [])


@register
class Lines(FieldType):
    name = "lines"
    widget = "lines"
    has_column = False
    options = frozenset({"to"})

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "object"}}

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise FieldValueError("expected a list of line items (objects)")
        return value

    def from_text(self, text: str, field: FieldSpec) -> Any:
        try:
            return self.from_json(json.loads(text), field)
        except json.JSONDecodeError:
            raise FieldValueError("line items in a text cell must be a JSON list") from None
