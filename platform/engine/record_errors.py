"""Errors of the record and query paths, with every message text kept here.

Each error carries a `code` and `params`; the English text comes from `MESSAGES`, so a later
translation layer can render the same code in the user's language without touching callers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

MESSAGES: dict[str, str] = {
    # field errors
    "invalid": "{detail}",
    "unknown_field": "'{name}' is not a field of {entity}",
    "computed": "is computed and cannot be set",
    "state": "is set by workflow transitions and cannot be set",
    "system": "is set by the platform and cannot be set",
    "required": "is required",
    "link_missing": "no {target} record has id {id}",
    "unique": "another record already has this value",
    "unique_together": "another record already has these values of {fields}",
    "foreign_line": "line {id} does not belong to this record",
    "bad_line_id": "a line's id must be a whole number",
    "not_a_record": "expected an object of field values",
    # business rules: the blueprint's own message; params carry it in both locales as
    # message_en and message_zh, and i18n.translate picks the caller's (see rules.py)
    "rule": "{message}",
    "rule_failed": "{message} (the rule could not be checked: {detail})",
    # record errors
    "not_found": "{entity} {id} does not exist",
    "unknown_entity": "there is no entity {entity}",
    "version_conflict": (
        "{entity} {id} was changed by someone else (it is now at version {current}); "
        "reload it and try again"
    ),
    "missing_version": "say which version of {entity} {id} you are changing (_version)",
    "restricted": (
        "cannot delete {entity} {id}: {count} {by_entity} record(s) still point at it "
        "through '{by_field}'"
    ),
    "restricted_cascade": (
        "cannot delete {entity} {id}: {count} {by_entity} record(s) still point through "
        "'{by_field}' at a record that would be deleted with it"
    ),
    "invalid_record": "the record has {count} error(s)",
    # query errors
    "query_unknown_field": "'{path}' is not a field of {entity}",
    "query_not_a_link": "'{field}' of {entity} is not a link, so '{path}' cannot follow it",
    "query_path_too_long": "'{path}' follows too many links (at most {limit})",
    "query_unknown_operator": "'{op}' is not a filter operator (use one of: {ops})",
    "query_bad_operator": "operator '{op}' does not apply to '{path}' ({ftype})",
    "query_bad_value": "filter on '{path}': {detail}",
    "query_bad_shape": "{detail}",
    "query_too_deep": "the filter nests too deeply (at most {limit} levels)",
    "query_bad_sort": "cannot sort on '{key}': {detail}",
    "query_bad_cursor": "the cursor is not valid for this list; start again from the first page",
    "query_bad_limit": "limit must be between 1 and {max}",
    "query_bad_search": "the search text is too long (at most {max} characters)",
    "query_bad_search_text": "the search text contains characters that cannot be searched",
    "query_bad_expand": "cannot expand '{field}': {detail}",
}


def render(code: str, params: Mapping[str, Any]) -> str:
    """The English message of `code` with `params` filled in."""
    return MESSAGES[code].format(**params)


class RecordError(Exception):
    """Base of the errors the record store raises on purpose (not bugs, not DB outages)."""

    code: str = "record_error"

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(render(code, params))

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of one record: `lines.2.quantity`, row `index` of a batch."""

    field: str
    message: str
    index: int | None = None
    code: str = "invalid"
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)

    @classmethod
    def of(cls, code: str, field: str, index: int | None = None, **params: Any) -> FieldError:
        """A field error whose message is rendered from `code`."""
        return cls(field, render(code, {"field": field, **params}), index, code, params)

    def at(self, index: int | None = None, prefix: str = "") -> FieldError:
        """The same error placed at row `index` and/or under a path prefix."""
        return FieldError(
            f"{prefix}{self.field}",
            self.message,
            self.index if index is None else index,
            self.code,
            self.params,
        )


class RecordErrors(RecordError):
    """Every field error of a record (or of a batch, with row indexes), reported together."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        super().__init__("invalid_record", count=len(self.errors))

    def __str__(self) -> str:
        parts = []
        for e in self.errors:
            where = f"[{e.index}] " if e.index is not None else ""
            parts.append(f"{where}{e.field}: {e.message}")
        return "; ".join(parts)


class NotFound(RecordError):
    """No record with that id (or not one the caller may see)."""

    def __init__(self, entity: str, id: object = None) -> None:
        if id is None:
            super().__init__("unknown_entity", entity=entity)
        else:
            super().__init__("not_found", entity=entity, id=id)


class VersionConflict(RecordError):
    """The record changed since the caller read it: `current_version` is its version now."""

    def __init__(self, entity: str, id: object, current_version: int) -> None:
        self.current_version = current_version
        super().__init__("version_conflict", entity=entity, id=id, current=current_version)


class MissingVersion(RecordError):
    """An update without the version the caller read."""

    def __init__(self, entity: str, id: object) -> None:
        super().__init__("missing_version", entity=entity, id=id)


class Restricted(RecordError):
    """A delete refused because `count` records of `by_entity` still link here by `by_field`."""

    def __init__(
        self,
        entity: str,
        id: object,
        by_entity: str,
        by_field: str,
        count: int,
        *,
        indirect: bool = False,
    ) -> None:
        self.entity = entity
        self.by_entity = by_entity
        self.by_field = by_field
        self.count = count
        code = "restricted_cascade" if indirect else "restricted"
        super().__init__(
            code, entity=entity, id=id, by_entity=by_entity, by_field=by_field, count=count
        )


class QueryError(RecordError):
    """A filter, sort, cursor, search or expand the engine refuses (bad input, not a bug)."""
