"""Numeric field types: integer, decimal, money, percent, and boolean."""

from __future__ import annotations

import decimal
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from appblocks.engine.fieldtypes.base import (
    FieldType,
    FieldValueError,
    bounded,
    kind_of,
    register,
    short,
)
from appblocks.engine.fieldtypes.storage import DecimalType

if TYPE_CHECKING:
    from appblocks.engine.spec import FieldSpec


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
        return bounded({"type": "integer"}, field)

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
            raise FieldValueError(f"'{short(value)}' is not a whole number") from None
        if isinstance(number, decimal.Decimal):
            if not number.is_finite() or number != number.to_integral_value():
                raise FieldValueError(f"'{short(value)}' is not a whole number")
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
        return bounded({"type": ["number", "string"], "format": "decimal"}, field)

    def from_json(self, value: Any, field: FieldSpec) -> Any:
        if isinstance(value, bool) or value is None:
            raise FieldValueError(f"expected a number, got {kind_of(value)}")
        if isinstance(value, str):
            value = value.strip().replace(",", "")
            if value == "":
                return None
        try:
            number = decimal.Decimal(str(value))
        except (decimal.InvalidOperation, ValueError):
            raise FieldValueError(f"'{short(value)}' is not a number") from None
        if not number.is_finite():
            raise FieldValueError(f"'{short(value)}' is not a number")
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
        raise FieldValueError(f"expected true or false, got {kind_of(value)}")

    def from_text(self, text: str, field: FieldSpec) -> Any:
        word = text.strip().lower()
        if word in self.TRUE:
            return True
        if word in self.FALSE:
            return False
        raise FieldValueError(f"'{short(text)}' is not yes/no (use true or false)")
