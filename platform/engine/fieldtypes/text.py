"""Text-like field types: text, long_text, email, phone, url, user, file."""

from __future__ import annotations

import decimal
import re
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from appblocks.engine.fieldtypes.base import (
    FieldType,
    FieldValueError,
    kind_of,
    register,
    short,
    storable_text,
)

if TYPE_CHECKING:
    from appblocks.engine.spec import FieldSpec


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
            raise FieldValueError(f"expected {self.what}, got {kind_of(value)}")
        text = str(value).strip()
        if text == "":
            return None
        if not storable_text(text):
            raise FieldValueError("contains characters that cannot be stored (NUL or a broken one)")
        length = self.max_length(field)
        if length and len(text) > length:
            raise FieldValueError(f"is {len(text)} characters long; at most {length} allowed")
        if self.pattern is not None and not self.pattern.match(text):
            raise FieldValueError(f"'{short(text)}' is not a valid {self.what}")
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
