"""A record's computed values before it is saved: the engine's own formulas, nothing written.

The line-item editor shows line amounts and totals as the user types. Formulas are never
re-implemented in the browser: the form is sent here, coerced by the store's validator and
computed by the store's compute hook (formulas, rollups over lines, lookups: reads only),
exactly as a save would, and the values after the change come back. Form rules are checked
over the same values on save.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from appblocks.engine.record_errors import FieldError
from appblocks.engine.record_read import Record
from appblocks.engine.record_validate import Collected
from appblocks.engine.record_write import values_after
from appblocks.engine.records import RecordStore
from appblocks.engine.rules import check_form_rules
from appblocks.engine.sandbox_values import UserContext
from appblocks.forms.layout import Form


def computed_values(
    conn: sa.Connection,
    store: RecordStore,
    entity: str,
    values: Mapping[str, Any],
    *,
    old: Record | None = None,
    user: UserContext | None = None,
) -> dict[str, Any]:
    """The record's values after applying `values` (to `old`, for an edit), computed fields
    included; input the engine would refuse is left out rather than reported."""
    plan = store.plans[entity]
    item = store.validator.prepare(plan, dict(values), Collected(), creating=old is None, old=old)
    store.writer.compute(conn, item, user)
    return values_after(item)


def form_rule_errors(
    form: Form,
    values: Mapping[str, Any],
    *,
    user: UserContext | None = None,
    locale: str = "en",
) -> list[FieldError]:
    """The errors of the form document's own rules over the computed values."""
    if not form.rules:
        return []
    return check_form_rules({"rules": list(form.rules)}, values, user=user, locale=locale)
