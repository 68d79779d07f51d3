"""Saving a submitted form: the store's create or update, the form's rules, all in one
transaction that commits only when nothing at all is wrong.

Every problem ends up in the `Submission` (at its input, or on top): the form's own coercion
messages, the engine's field and rule errors, the form document's rules, a version conflict,
a record that would leave the caller's record rule. The caller re-renders the form with them
and with everything that was typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from appblocks.engine.record_errors import MissingVersion, NotFound, RecordErrors, VersionConflict
from appblocks.engine.record_read import Record
from appblocks.engine.records import RecordStore
from appblocks.engine.sandbox_values import UserContext
from appblocks.forms.files import claim_files
from appblocks.forms.layout import Form
from appblocks.forms.preview import computed_values, form_rule_errors
from appblocks.forms.submit import Gettext, Submission, add_engine_errors

Scope = sa.ColumnElement[bool] | None


class Refused(Exception):
    """The save found problems: roll everything back."""


@dataclass(frozen=True)
class Writer:
    """Who saves, and the record rules the saved record must stay within."""

    actor: str
    user: UserContext
    write_scope: Scope = None  # the update rule (outside it the record is not found)
    read_scope: Scope = None  # the caller's read rule: the result must stay inside it
    owner_fields: frozenset[str] = frozenset()


def _file_keys(form: Form, values: dict[str, Any]) -> list[str]:
    keys = [str(values[f.name]) for f in form.fields() if f.type == "file" and values.get(f.name)]
    for name, table in form.tables.items():
        columns = [c.name for c in table.columns if c.type == "file"]
        for line in values.get(name) or []:
            keys += [str(line[c]) for c in columns if line.get(c)]
    return keys


def save(
    engine: sa.Engine,
    store: RecordStore,
    form: Form,
    sub: Submission,
    writer: Writer,
    *,
    record_id: int | None = None,
    locale: str = "en",
    gettext: Gettext,
    outside_rule: Callable[[], str],
) -> Record | None:
    """Create (no `record_id`) or update the record from `sub`; the record saved, or None
    with every problem noted in `sub`."""
    entity = form.entity.qualified
    values = dict(sub.values)
    if record_id is None:
        for owner in writer.owner_fields:
            values[owner] = writer.actor
    try:
        with engine.begin() as conn:
            old = None
            if record_id is not None:
                old = store.get(conn, entity, record_id, scope=writer.write_scope)
                if sub.version is None:
                    raise MissingVersion(entity, record_id)
                if old["_version"] != sub.version:
                    raise VersionConflict(entity, record_id, old["_version"])
            if form.rules:
                after = computed_values(conn, store, entity, values, old=old, user=writer.user)
                rule_errors = form_rule_errors(form, after, user=writer.user, locale=locale)
                add_engine_errors(sub, form, rule_errors, locale, gettext)
            try:
                record = _write(conn, store, entity, values, writer, record_id, sub.version)
            except RecordErrors as exc:
                add_engine_errors(sub, form, exc.errors, locale, gettext)
                raise Refused from None
            if writer.read_scope is not None:
                try:
                    store.check_exists(conn, entity, record["id"], scope=writer.read_scope)
                except NotFound:
                    sub.top.append(outside_rule())
            if not sub.ok:
                raise Refused
            claim_files(conn, _file_keys(form, values), entity, record["id"], writer.actor)
            return record
    except Refused:
        return None


def _write(
    conn: sa.Connection,
    store: RecordStore,
    entity: str,
    values: dict[str, Any],
    writer: Writer,
    record_id: int | None,
    version: int | None,
) -> Record:
    if record_id is None:
        return store.create(conn, entity, values, actor=writer.actor, user=writer.user)
    return store.update(
        conn, entity, record_id, values, version=version, actor=writer.actor,
        scope=writer.write_scope, user=writer.user,
    )  # fmt: skip
