"""Field types: small registered classes (SQL type, JSON Schema, coercion, widget).

The built-in types register themselves through `registry.register`, the same hook a plugin
uses. A type knows nothing about tables or records; it maps one value.
"""

from __future__ import annotations

from appblocks.engine.fieldtypes import choices, computed, dates, numbers, relations, text
from appblocks.engine.fieldtypes.base import (
    FieldType,
    FieldValueError,
    Registry,
    register,
    registry,
)
from appblocks.engine.fieldtypes.choices import option_values
from appblocks.engine.fieldtypes.storage import ID_TYPE, DecimalType, UTCDateTime

__all__ = [
    "ID_TYPE",
    "DecimalType",
    "FieldType",
    "FieldValueError",
    "Registry",
    "UTCDateTime",
    "option_values",
    "register",
    "registry",
]
# The modules above register the built-in types on import.
_BUILTIN = (choices, computed, dates, numbers, relations, text)
