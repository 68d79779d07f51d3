"""Date and datetime field types."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from appblocks.engine.fieldtypes.base import (
    FieldType,
    FieldValueError,
    kind_of,
    register,
    short,
)
from appblocks.engine.fieldtypes.storage import UTCDateTime

if TYPE_CHECKING:
    from appblocks.engine.spec import FieldSpec


@register
class Date(FieldType):
    name = "date"
    widget = "date"
    numeric = True  # min/max/rollup min-max apply
    options = frozenset({"min", "max", "formula", "rollup"})

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        return sa.Date()

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return {"type": "string", "format": "date"}

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if not isinstance(value, str):
            raise FieldValueError(f"expected a date (YYYY-MM-DD), got {kind_of(value)}")
        text = value.strip()
        if text == "":
            return None
        for candidate in (text, text.replace("/", "-"), text[:10]):
            try:
                day = dt.date.fromisoformat(candidate)
                break
            except ValueError:
                continue
        else:
            raise FieldValueError(f"'{short(text)}' is not a date (use YYYY-MM-DD)")
        for key, word in (("min", "on or after"), ("max", "on or before")):
            bound = field.get(key)
            if bound is not None:
                limit = dt.date.fromisoformat(str(bound))
                if (day < limit) if key == "min" else (day > limit):
                    raise FieldValueError(f"must be {word} {limit.isoformat()}")
        return day

    def to_json(self, value: Any) -> Any:
        return None if value is None else value.isoformat()


@register
class DateTime(FieldType):
    name = "datetime"
    widget = "datetime-local"
    options = frozenset({"formula"})

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        return UTCDateTime()

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, str):
            text = value.strip()
            if text == "":
                return None
            try:
                moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise FieldValueError(
                    f"'{short(text)}' is not a date and time (use YYYY-MM-DDTHH:MM)"
                ) from None
        else:
            raise FieldValueError(f"expected a date and time, got {kind_of(value)}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)

    def to_json(self, value: Any) -> Any:
        return None if value is None else value.isoformat()
