"""Cross-checks of seed data: records fit their entity, links point back to earlier records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appblocks.engine.i18n import N_
from appblocks.engine.loader import KeyPath
from appblocks.engine.spec import FieldSpec
from appblocks.engine.validate_context import NOT_A_FIELD, Context, mapping
from appblocks.engine.validate_entities import line_owners
from appblocks.engine.validate_fields import VALUE_ERRORS, computed_why, value_error

STATE = "_state"  # the workflow state a seed record is in (given as history, not transitioned)


class _Titles:
    """Title values of the records given so far, by entity: what a link by title may name."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}

    def add(self, entity: str, value: Any) -> None:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            self.seen.setdefault(entity, set()).add(str(value).strip())

    def has(self, entity: str, value: str) -> bool:
        return value.strip() in self.seen.get(entity, set())


def check_data(ctx: Context) -> None:
    """Every seed record: its entity, its keys (input fields only) and its values."""
    owners = line_owners(ctx)
    titles = _Titles()
    for ename, records in mapping(ctx.doc.get("data")).items():
        path: KeyPath = ("data", ename)
        entity, why = ctx.resolve(ename)
        if entity is None:
            ctx.error(path, N_("data for '{entity}', {why}"), entity=ename, why=why)
            continue
        if entity.partition(".")[0] != ctx.app:
            ctx.error(
                path,
                N_("seed data is for entities of {app}, not '{entity}'"),
                app=ctx.app,
                entity=ename,
            )
            continue
        if entity in owners:
            parent, field = owners[entity][0]
            ctx.error(
                path,
                N_("{entity} holds line items: give its records nested under {parent}.{field}"),
                entity=ctx.show(entity),
                parent=parent,
                field=field,
            )
            continue
        for index, record in enumerate(records if isinstance(records, list) else []):
            rpath = (*path, index)
            if isinstance(record, Mapping) and ctx.clean(rpath):
                _check_record(ctx, rpath, entity, record, titles)


def _check_record(
    ctx: Context, path: KeyPath, entity: str, record: Mapping[str, Any], titles: _Titles
) -> None:
    fields = ctx.fields(entity)
    for key, value in record.items():
        fpath = (*path, key)
        if key == STATE:
            _check_state(ctx, fpath, entity, value)
            continue
        fdoc = fields.get(key)
        if fdoc is None:
            ctx.error(fpath, NOT_A_FIELD, name=key, entity=ctx.show(entity))
            continue
        ftype = ctx.ftype(fdoc)
        if ftype is None:
            continue  # the unknown type is reported on the field
        why = computed_why(fdoc)
        if why:
            ctx.error(
                fpath,
                N_("'{name}' is computed ({why}); it is never given in data"),
                name=key,
                why=why,
            )
            continue
        if value is None:
            if fdoc.get("required"):
                ctx.error(fpath, N_("'{name}' is required"), name=key)
            continue
        target = ctx.target(entity, fdoc)
        if ftype.name == "link" and target:
            _check_link(ctx, fpath, target, value, titles)
        elif ftype.name == "links" and target:
            if not isinstance(value, list):
                ctx.error(fpath, N_("expected a list of ids or titles"))
                continue
            for index, item in enumerate(value):
                _check_link(ctx, (*fpath, index), target, item, titles)
        elif ftype.name == "lines" and target:
            if not isinstance(value, list):
                ctx.error(fpath, N_("expected a list of line items"))
                continue
            for index, line in enumerate(value):
                if not isinstance(line, Mapping):
                    ctx.error((*fpath, index), N_("a line item is a mapping of its fields"))
                else:
                    _check_record(ctx, (*fpath, index), target, line, titles)
        else:
            try:
                ftype.from_json(value, FieldSpec(key, ftype.name, fdoc, entity))
            except VALUE_ERRORS as exc:
                ctx.error(fpath, value_error(exc))
    for name, fdoc in fields.items():
        if (
            fdoc.get("required")
            and name not in record
            and not computed_why(fdoc)
            and fdoc.get("default") is None
        ):
            ctx.error((*path, name), N_("'{name}' is required"), name=name)
    body = mapping(ctx.entity(entity))
    if isinstance(body.get("title"), str):
        titles.add(entity, record.get(body["title"]))


def workflow_states(ctx: Context, entity: str) -> list[str] | None:
    """The state names of the workflow of `entity` in this blueprint, or None without one."""
    app, _, name = entity.partition(".")
    for doc in mapping(ctx.blueprint_of(app).get("workflows")).values():
        if isinstance(doc, Mapping) and doc.get("entity") == name:
            given = doc.get("states")
            states: list[Any] = given if isinstance(given, list) else []
            return [str(s.get("name") if isinstance(s, Mapping) else s) for s in states]
    return None


def _check_state(ctx: Context, path: KeyPath, entity: str, value: Any) -> None:
    """Seed data may say which state a record is in (history the demo tells, not a transition
    to run): a state of the entity's workflow."""
    states = workflow_states(ctx, entity)
    if states is None:
        ctx.error(path, N_("{entity} has no workflow, so its records have no state"),
                  entity=ctx.show(entity))  # fmt: skip
    elif value not in states:
        ctx.error(path, N_("'{value}' is not a state of {entity}'s workflow (states: {states})"),
                  value=value, entity=ctx.show(entity), states=", ".join(states))  # fmt: skip


def _check_link(ctx: Context, path: KeyPath, target: str, value: Any, titles: _Titles) -> None:
    """A link in data: a record id, or the title of a record given earlier in the data."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            ctx.error(path, N_("{value} is not a record id"), value=value)
        return
    if not isinstance(value, str | float):
        ctx.error(
            path,
            N_("expected the id or the title of a {entity} record"),
            entity=ctx.show(target),
        )
        return
    if target.partition(".")[0] != ctx.app:
        return  # records of another app are looked up when the data is loaded
    body = mapping(ctx.entity(target))
    title = body.get("title")
    title_field = mapping(ctx.fields(target).get(title)) if isinstance(title, str) else {}
    if not title_field or computed_why(title_field):
        return  # no title, or one only known once saved (an autonumber): nothing to compare
    if not titles.has(target, str(value)):
        ctx.error(
            path,
            N_("'{value}' is not the {title} of a {entity} record given earlier in data"),
            value=value,
            title=title,
            entity=ctx.show(target),
        )
