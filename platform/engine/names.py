"""Naming rules for apps, entities and fields: one pattern, no SQL keywords, no `_` prefix."""

from __future__ import annotations

import re

from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as _PG_RESERVED
from sqlalchemy.dialects.sqlite.base import SQLiteIdentifierPreparer
from sqlalchemy.sql.compiler import RESERVED_WORDS as _ANSI_RESERVED

APP_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# PostgreSQL truncates identifiers past 63 bytes; a table is `<app>_<entity>`.
MAX_IDENTIFIER = 63

SQL_KEYWORDS: frozenset[str] = frozenset(
    w.lower() for w in (_PG_RESERVED | _ANSI_RESERVED | SQLiteIdentifierPreparer.reserved_words)
)


def name_problem(name: object, *, app: bool = False) -> str | None:
    """Why `name` cannot be an app, entity or field name, or None when it can."""
    if not isinstance(name, str):
        return "a name must be a string"
    if name.startswith("_"):
        return f"'{name}' starts with '_', which is reserved for system columns"
    pattern = APP_PATTERN if app else NAME_PATTERN
    if not pattern.match(name):
        limit = 31 if app else 63
        return (
            f"'{name}' is not a valid name: use lower-case letters, digits and '_', "
            f"starting with a letter, at most {limit} characters"
        )
    if name in SQL_KEYWORDS:
        return f"'{name}' is an SQL keyword; choose another name"
    return None


def table_name(app: str, entity: str) -> str:
    """The table that holds an entity's records."""
    return f"{app}_{entity}"


def link_table_name(app: str, entity: str, field: str) -> str:
    """The table behind a many-to-many `links` field."""
    return f"{app}_{entity}__{field}"
