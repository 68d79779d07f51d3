"""Column types as a migration sees them, and which type changes keep every stored value.

Types are compared as stored (what the database holds), not as field types: `email` and
`text` of the same length are the same column, while `text(255)` -> `text(100)` is a change.
The table of safe conversions (anything not listed is refused):

| from              | to                                   | condition                       |
|-------------------|--------------------------------------|---------------------------------|
| any type          | text without a length (long_text)    | always                          |
| text(n)           | text(m)                              | m >= n                          |
| integer           | decimal(p, s) (decimal, money, ...)  | always (an overflow fails loudly on PostgreSQL) |
| integer(32-bit)   | integer                              | always                          |
| decimal(p, s)     | decimal(q, t)                        | t >= s                          |
| date              | datetime                             | always (midnight UTC)           |
| integer, decimal, boolean, date, datetime | text(m)      | m fits the longest text form    |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator, TypeEngine

from appblocks.engine.fieldtypes import DecimalType, UTCDateTime

MAY_NOT_CONVERT = "existing values may not convert"


@dataclass(frozen=True)
class SqlType:
    """A column's stored type: kind plus length (text), bits (integer) or precision and scale."""

    kind: str  # integer, decimal, text, boolean, date, datetime, json, float, or another name
    length: int | None = None  # text: longest value (None: unlimited); integer: bits
    precision: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.kind == "text" and self.length is not None:
            return f"text({self.length})"
        if self.kind == "integer" and self.length == 32:
            return "integer(32-bit)"
        return self.kind

    def text_width(self) -> int | None:
        """Characters of the longest text form of a value, or None when unbounded."""
        if self.kind == "integer":
            return 11 if self.length == 32 else 20  # digits plus sign
        if self.kind == "decimal" and self.precision is not None:
            return self.precision + 2  # plus sign and point
        # isoformat; a datetime with microseconds and a UTC offset is 32 characters
        return {"boolean": 5, "date": 10, "datetime": 32}.get(self.kind)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (backup files record the type of what they hold)."""
        return {k: v for k, v in vars(self).items() if v is not None}

    def to_sa(self) -> TypeEngine[Any]:
        """An SQLAlchemy type that binds values of this kind on both databases."""
        if self.kind == "integer":
            return sa.Integer() if self.length == 32 else sa.BigInteger()
        if self.kind == "decimal":
            return DecimalType(self.precision or 20, self.scale if self.scale is not None else 4)
        if self.kind == "text":
            return sa.String(self.length) if self.length else sa.Text()
        simple: dict[str, TypeEngine[Any]] = {
            "boolean": sa.Boolean(create_constraint=False),
            "date": sa.Date(),
            "datetime": UTCDateTime(),
            "json": sa.JSON(),
            "float": sa.Float(),
        }
        return simple.get(self.kind, sa.Text())


def sql_type(type_: TypeEngine[Any]) -> SqlType:
    """The stored type of an SQLAlchemy column type."""
    if isinstance(type_, DecimalType):
        precision = getattr(type_.impl_instance, "precision", None)
        return SqlType("decimal", precision=precision, scale=type_.scale)
    if isinstance(type_, UTCDateTime | sa.DateTime):
        return SqlType("datetime")
    if isinstance(type_, TypeDecorator):
        return sql_type(type_.impl_instance)
    if isinstance(type_, sa.Date):
        return SqlType("date")
    if isinstance(type_, sa.Boolean):
        return SqlType("boolean")
    if isinstance(type_, sa.JSON):
        return SqlType("json")
    if isinstance(type_, sa.BigInteger):
        return SqlType("integer")
    if isinstance(type_, sa.Integer):
        return SqlType("integer", length=32)
    if isinstance(type_, sa.Float):
        return SqlType("float")
    if isinstance(type_, sa.Numeric):
        return SqlType("decimal", precision=type_.precision, scale=type_.scale)
    if isinstance(type_, sa.String):
        return SqlType("text", length=type_.length)
    return SqlType(type(type_).__name__.lower())


def conversion_problem(old: SqlType, new: SqlType) -> str | None:
    """Why converting stored values from `old` to `new` could lose data, or None when safe."""
    if old == new or (new.kind == "text" and new.length is None):
        return None
    if new.kind == "text":
        assert new.length is not None
        width = old.length if old.kind == "text" else old.text_width()
        if width is None or width > new.length:
            return f"values longer than {new.length} characters would be cut"
        return None
    if old.kind == "integer" and new.kind == "integer":
        return None if (new.length or 64) >= (old.length or 64) else "values may not fit"
    if old.kind == "integer" and new.kind == "decimal":
        return None
    if old.kind == "decimal" and new.kind == "decimal":
        if (new.scale or 0) < (old.scale or 0):
            return f"values with more than {new.scale} decimal places would be cut"
        return None
    if old.kind == "date" and new.kind == "datetime":
        return None
    return MAY_NOT_CONVERT
