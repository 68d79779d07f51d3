"""The field type base class and its registry (the hook plugins register through)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

if TYPE_CHECKING:
    from appblocks.engine.spec import FieldSpec


class FieldValueError(ValueError):
    """A value that a field cannot hold; the message is for the person who typed it."""


class FieldType:
    """One kind of value: how it is stored, described, coerced and edited."""

    name: ClassVar[str]
    widget: ClassVar[str] = "text"
    #: stored as one column of the entity's own table
    has_column: ClassVar[bool] = True
    #: its value is computed by the engine, never accepted as input
    computed: ClassVar[bool] = False
    #: `formula` / `rollup` may stand on it
    numeric: ClassVar[bool] = False
    #: searched by `q`
    searchable: ClassVar[bool] = False
    #: keys of the field document this type understands (besides the common ones)
    options: ClassVar[frozenset[str]] = frozenset()

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        """The SQL type of the column."""
        raise NotImplementedError

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        """JSON Schema of the value in a record (without null)."""
        return {"type": "string"}

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        """A JSON value as the Python value stored; raises FieldValueError."""
        return value

    def from_text(self, text: str, field: FieldSpec) -> Any:
        """A text cell (CSV, form input) as the Python value stored."""
        return self.from_json(text, field)

    def to_json(self, value: Any) -> Any:
        """A stored value as JSON."""
        return value

    def to_text(self, value: Any) -> str:
        """A stored value as a text cell."""
        if value is None:
            return ""
        return str(value)


class Registry:
    """Field types by name; plugins register theirs through `register`."""

    def __init__(self) -> None:
        self._types: dict[str, FieldType] = {}

    def register(self, cls: type[FieldType]) -> type[FieldType]:
        """Add a field type (usable as a class decorator)."""
        if cls.name in self._types:
            raise ValueError(f"field type {cls.name!r} is registered twice")
        self._types[cls.name] = cls()
        return cls

    def get(self, name: str) -> FieldType:
        """The field type called `name`; KeyError when unknown."""
        return self._types[name]

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def names(self) -> list[str]:
        """Every registered type name, in registration order."""
        return list(self._types)


registry = Registry()
register = registry.register


def bounded(schema: dict[str, Any], field: FieldSpec) -> dict[str, Any]:
    if field.get("min") is not None:
        schema["minimum"] = field.get("min")
    if field.get("max") is not None:
        schema["maximum"] = field.get("max")
    return schema


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return f"'{short(value)}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"{type(value).__name__} {short(value)}"


def short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def storable_text(text: str) -> bool:
    """Whether a database can store this text: no NUL and no unpaired surrogate halves."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
