"""Choice and multi_choice field types, and their options."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from appblocks.engine.fieldtypes.base import (
    FieldType,
    FieldValueError,
    kind_of,
    register,
    short,
)

if TYPE_CHECKING:
    from appblocks.engine.spec import FieldSpec


def option_values(field: FieldSpec) -> list[str]:
    """The stored values of a choice field's options (options may be strings or maps)."""
    values = []
    for option in field.get("options") or []:
        values.append(str(option["value"]) if isinstance(option, Mapping) else str(option))
    return values


def _match_option(value: Any, field: FieldSpec) -> str:
    text = str(value).strip()
    values = option_values(field)
    if text in values:
        return text
    for option in field.get("options") or []:
        if isinstance(option, Mapping):
            labels = option.get("label")
            names = labels.values() if isinstance(labels, Mapping) else [labels]
            if text in [str(n) for n in names if n is not None]:
                return str(option["value"])
    shown = ", ".join(values[:12])
    raise FieldValueError(f"'{short(text)}' is not one of the options: {shown}")


@register
class Choice(FieldType):
    name = "choice"
    widget = "select"
    options = frozenset({"options", "formula"})

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        return sa.String(64)

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return {"type": "string", "enum": option_values(field)}

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise FieldValueError(f"expected one of the options, got {kind_of(value)}")
        if str(value).strip() == "":
            return None
        return _match_option(value, field)


@register
class MultiChoice(FieldType):
    name = "multi_choice"
    widget = "multiselect"
    options = frozenset({"options"})

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        return sa.JSON(none_as_null=True)

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "enum": option_values(field)}}

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if not isinstance(value, list):
            raise FieldValueError(f"expected a list of options, got {kind_of(value)}")
        chosen: list[str] = []
        for item in value:
            option = _match_option(item, field)
            if option not in chosen:
                chosen.append(option)
        return chosen

    def from_text(self, text: str, field: FieldSpec) -> Any:
        parts = [p for p in re.split(r"[;,，；|]", text) if p.strip()]
        return self.from_json(parts, field)

    def to_text(self, value: Any) -> str:
        return "; ".join(value or [])
