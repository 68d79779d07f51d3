"""Field types: small registered classes (SQL type, JSON Schema, coercion, widget).

The built-in types register themselves through `registry.register`, the same hook a plugin
uses. A type knows nothing about tables or records; it maps one value.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from appblocks.engine.spec import FieldSpec


class FieldValueError(ValueError):
    """A value that a field cannot hold; the message is for the person who typed it."""


# --- storage types that behave the same on SQLite and PostgreSQL -----------------------------


class DecimalType(TypeDecorator[decimal.Decimal]):
    """Exact decimals: NUMERIC on PostgreSQL, REAL on SQLite (which has no decimal storage)."""

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int = 20, scale: int = 4) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.scale = scale
        self._quantum = decimal.Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Float())
        return dialect.type_descriptor(sa.Numeric(self.impl_instance.precision, self.scale))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return float(value)
        return decimal.Decimal(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> decimal.Decimal | None:
        if value is None:
            return None
        return decimal.Decimal(str(value)).quantize(self._quantum)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored as naive UTC and read back as aware UTC, alike on both databases."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value  # type: ignore[no-any-return]

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]


ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# --- the base class ------------------------------------------------------------------------------


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


# --- text-like ----------------------------------------------------------------------------------


class _Text(FieldType):
    default_length: ClassVar[int | None] = 255
    searchable = True
    options = frozenset({"max_length", "formula"})
    pattern: ClassVar[re.Pattern[str] | None] = None
    what: ClassVar[str] = "text"

    def max_length(self, field: FieldSpec) -> int | None:
        value = field.get("max_length", self.default_length)
        return int(value) if value is not None else None

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        length = self.max_length(field)
        return sa.String(length) if length else sa.Text()

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        length = self.max_length(field)
        if length:
            schema["maxLength"] = length
        return schema

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float | decimal.Decimal):
            raise FieldValueError(f"expected {self.what}, got {_kind(value)}")
        text = str(value).strip()
        if text == "":
            return None
        length = self.max_length(field)
        if length and len(text) > length:
            raise FieldValueError(f"is {len(text)} characters long; at most {length} allowed")
        if self.pattern is not None and not self.pattern.match(text):
            raise FieldValueError(f"'{_short(text)}' is not a valid {self.what}")
        return text


@register
class Text(_Text):
    name = "text"


@register
class LongText(_Text):
    name = "long_text"
    widget = "textarea"
    default_length = None


@register
class Email(_Text):
    name = "email"
    widget = "email"
    default_length = 254
    what = "e-mail address"
    pattern = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@register
class Phone(_Text):
    name = "phone"
    widget = "tel"
    default_length = 40
    what = "phone number"
    pattern = re.compile(r"^\+?[0-9 ()./\-]{3,39}(?:\s*(?:x|ext\.?)\s*[0-9]{1,6})?$")


@register
class Url(_Text):
    name = "url"
    widget = "url"
    default_length = 2048
    what = "web address (http:// or https://)"
    pattern = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


@register
class UserRef(_Text):
    name = "user"
    widget = "user"
    default_length = 150
    what = "user name"
    options = frozenset()


@register
class File(_Text):
    name = "file"
    widget = "file"
    default_length = 500
    what = "file key"
    searchable = False
    options = frozenset()


# --- numbers ------------------------------------------------------------------------------------


class _Number(FieldType):
    numeric = True
    widget = "number"
    options = frozenset({"min", "max", "formula", "rollup"})

    def _bounds(self, value: Any, field: FieldSpec) -> Any:
        low, high = field.get("min"), field.get("max")
        if low is not None and value < low:
            raise FieldValueError(f"must be at least {low}")
        if high is not None and value > high:
            raise FieldValueError(f"must be at most {high}")
        return value


@register
class Integer(_Number):
    name = "integer"

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return _bounded({"type": "integer"}, field)

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if isinstance(value, bool):
            raise FieldValueError("expected a whole number, got true/false")
        if isinstance(value, str):
            value = value.strip().replace(",", "")
            if value == "":
                return None
        try:
            number = decimal.Decimal(str(value)) if not isinstance(value, int) else value
        except (decimal.InvalidOperation, ValueError):
            raise FieldValueError(f"'{_short(value)}' is not a whole number") from None
        if isinstance(number, decimal.Decimal):
            if not number.is_finite() or number != number.to_integral_value():
                raise FieldValueError(f"'{_short(value)}' is not a whole number")
            number = int(number)
        if abs(number) >= 2**63:
            raise FieldValueError("is too large")
        return self._bounds(number, field)


class _Decimal(_Number):
    default_scale: ClassVar[int] = 4
    precision: ClassVar[int] = 20

    def scale(self, field: FieldSpec) -> int:
        return int(field.get("scale", self.default_scale))

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        return DecimalType(self.precision, self.scale(field))

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return _bounded({"type": ["number", "string"], "format": "decimal"}, field)

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if isinstance(value, bool) or value is None:
            raise FieldValueError(f"expected a number, got {_kind(value)}")
        if isinstance(value, str):
            value = value.strip().replace(",", "")
            if value == "":
                return None
        try:
            number = decimal.Decimal(str(value))
        except (decimal.InvalidOperation, ValueError):
            raise FieldValueError(f"'{_short(value)}' is not a number") from None
        if not number.is_finite():
            raise FieldValueError(f"'{_short(value)}' is not a number")
        scale = self.scale(field)
        try:
            number = number.quantize(decimal.Decimal(1).scaleb(-scale), decimal.ROUND_HALF_EVEN)
        except decimal.InvalidOperation:
            raise FieldValueError("is too large") from None
        if number.adjusted() >= self.precision - scale:
            raise FieldValueError("is too large")
        return self._bounds(number, field)

    def to_json(self, value: Any) -> Any:
        # JSON numbers keep money readable; float is exact enough for display at these scales.
        return None if value is None else float(value)


@register
class DecimalNumber(_Decimal):
    name = "decimal"
    options = _Decimal.options | {"scale"}


@register
class Money(_Decimal):
    name = "money"
    widget = "money"
    default_scale = 2
    precision = 18
    options = _Decimal.options | {"scale", "currency"}


@register
class Percent(_Decimal):
    name = "percent"
    widget = "percent"
    default_scale = 2
    precision = 9
    options = _Decimal.options | {"scale"}

    def from_text(self, text: str, field: FieldSpec) -> Any:
        return self.from_json(text.strip().rstrip("%"), field)


@register
class Boolean(FieldType):
    name = "boolean"
    widget = "checkbox"
    options = frozenset({"formula"})
    TRUE: ClassVar[frozenset[str]] = frozenset({"true", "yes", "y", "1", "on", "是", "真", "x"})
    FALSE: ClassVar[frozenset[str]] = frozenset({"false", "no", "n", "0", "off", "否", "假", ""})

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        return sa.Boolean(create_constraint=False)

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return {"type": "boolean"}

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise FieldValueError(f"expected true or false, got {_kind(value)}")

    def from_text(self, text: str, field: FieldSpec) -> Any:
        word = text.strip().lower()
        if word in self.TRUE:
            return True
        if word in self.FALSE:
            return False
        raise FieldValueError(f"'{_short(text)}' is not yes/no (use true or false)")


# --- dates --------------------------------------------------------------------------------------


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
            raise FieldValueError(f"expected a date (YYYY-MM-DD), got {_kind(value)}")
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
            raise FieldValueError(f"'{_short(text)}' is not a date (use YYYY-MM-DD)")
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
                    f"'{_short(text)}' is not a date and time (use YYYY-MM-DDTHH:MM)"
                ) from None
        else:
            raise FieldValueError(f"expected a date and time, got {_kind(value)}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)

    def to_json(self, value: Any) -> Any:
        return None if value is None else value.isoformat()


# --- choices ------------------------------------------------------------------------------------


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
    raise FieldValueError(f"'{_short(text)}' is not one of the options: {shown}")


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
            raise FieldValueError(f"expected one of the options, got {_kind(value)}")
        if str(value).strip() == "":
            return None
        return _match_option(value, field)


@register
class MultiChoice(FieldType):
    name = "multi_choice"
    widget = "multiselect"
    options = frozenset({"options"})

    def column_type(self, field: FieldSpec) -> sa.types.TypeEngine[Any]:
        return sa.JSON()

    def value_schema(self, field: FieldSpec) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "enum": option_values(field)}}

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if not isinstance(value, list):
            raise FieldValueError(f"expected a list of options, got {_kind(value)}")
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


# --- relations ----------------------------------------------------------------------------------


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
                raise FieldValueError(f"'{_short(value)}' is not a record id")
            value = int(value)
        if not isinstance(value, int) or value < 1:
            raise FieldValueError(f"expected the id of a record, got {_kind(value)}")
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
            raise FieldValueError(f"expected a list of record ids, got {_kind(value)}")
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


# --- computed -----------------------------------------------------------------------------------


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
        return sa.JSON()

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


# --- small shared pieces ------------------------------------------------------------------------


def _bounded(schema: dict[str, Any], field: FieldSpec) -> dict[str, Any]:
    if field.get("min") is not None:
        schema["minimum"] = field.get("min")
    if field.get("max") is not None:
        schema["maximum"] = field.get("max")
    return schema


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return f"'{_short(value)}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"{type(value).__name__} {_short(value)}"


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
