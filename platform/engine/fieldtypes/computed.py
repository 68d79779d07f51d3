"""Computed and free-form field types: autonumber, lookup, json."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from appblocks.engine.fieldtypes.base import (
    FieldType,
    FieldValueError,
    register,
    registry,
)

if TYPE_CHECKING:
    from appblocks.engine.spec import FieldSpec


@register
class Autonumber(FieldType):
    name = "autonumber"
    computed = True
    searchable = True
    widget = "readonly"
    options = frozenset({"format"})

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        return sa.String(64)


@register
class Lookup(FieldType):
    """A stored copy of a linked record's field; its column takes that field's type."""

    name = "lookup"
    computed = True
    widget = "readonly"
    options = frozenset({"via", "field"})

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        target = field.resolved_lookup
        if target is None:
            return sa.Text()
        return registry.get(target.type).column_type(target)

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        target = field.resolved_lookup
        if target is None:
            return {}
        return registry.get(target.type).value_schema(target)

    def to_json(self, value: Any) -> Any:
        if isinstance(value, decimal.Decimal):
            return float(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        return value


@register
class Json(FieldType):
    name = "json"
    widget = "json"

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        return sa.JSON(none_as_null=True)

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return {}

    def from_text(self, text: str, field: FieldSpec) -> Any:
        if text.strip() == "":
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise FieldValueError(f"is not valid JSON ({exc.msg})") from None

    def to_text(self, value: Any) -> str:
        return "" if value is None else json.dumps(value, ensure_ascii=False)
