"""Cross-checks of automation documents: triggers, schedules, actions and their values name
entities, fields, roles and users that must exist."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from appblocks.engine.loader import KeyPath
from appblocks.engine.validate_context import SYSTEM_FIELDS, Context, mapping
from appblocks.engine.validate_documents import check_filter, entity_ref, user_values
from appblocks.engine.validate_expr import ExpressionProblem, unknown_names
from appblocks.engine.validate_fields import computed_why

# Automation schedules: hourly, daily [at HH:MM], weekly [on DAY] [at HH:MM], or cron.
_TIME = r"(?:[01]?\d|2[0-3]):[0-5]\d"
_DAY = r"(?:sun|mon|tue|wed|thu|fri|sat|sunday|monday|tuesday|wednesday|thursday|friday|saturday)"
_FRIENDLY_SCHEDULE = re.compile(
    rf"^(?:hourly|daily(?: at {_TIME})?|weekly(?: on {_DAY})?(?: at {_TIME})?)$"
)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_automations(ctx: Context) -> None:
    """Each automation's trigger (entity, events, fields, states, schedule), condition, actions."""
    for aname, auto in ctx.section("automations"):
        path: KeyPath = ("automations", aname)
        if not ctx.clean(path):
            continue
        trigger = auto["on"]
        entity = None
        if "schedule" in trigger and ("entity" in trigger or "events" in trigger):
            ctx.error((*path, "on"), "give a `schedule`, or `entity` and `events`, not both")
        elif "entity" in trigger:
            entity = entity_ref(ctx, (*path, "on", "entity"), trigger["entity"], "automation on")
        events = trigger.get("events") or []
        for one, many, event in (
            ("field", "fields", "field_changed"),
            ("state", "states", "state_entered"),
        ):
            given = [key for key in (one, many) if key in trigger]
            if event in events and not given:
                ctx.error((*path, "on"), f"{event} needs '{one}' or '{many}': the {many} to watch")
            for key in given if event not in events else ():
                ctx.error((*path, "on", key), f"'{key}' is only read for {event} events")
        if entity is not None:
            for where, name in _trigger_names(path, trigger, "field", "fields"):
                if name not in ctx.fields(entity):
                    ctx.error(where, f"'{name}' is not a field of {ctx.show(entity)}")
            states = ctx.states_of(entity)
            for where, name in _trigger_names(path, trigger, "state", "states"):
                if name not in states:
                    ctx.error(where, f"'{name}' is not a state of a workflow on {ctx.show(entity)}")
        if "schedule" in trigger:
            _check_schedule(ctx, (*path, "on"), trigger)
        if "when" in auto:
            _check_auto_expression(ctx, (*path, "when"), auto["when"], entity, "when")
        for index, action in enumerate(auto["do"]):
            kind, body = next(iter(action.items()))
            apath = (*path, "do", index, kind)
            _check_auto_action(ctx, apath, kind, mapping(body), entity, events)


def _trigger_names(
    path: KeyPath, trigger: Mapping[str, Any], one: str, many: str
) -> Iterator[tuple[KeyPath, str]]:
    if one in trigger:
        yield (*path, "on", one), trigger[one]
    for index, name in enumerate(trigger.get(many) or []):
        yield (*path, "on", many, index), name


def _check_schedule(ctx: Context, path: KeyPath, trigger: Mapping[str, Any]) -> None:
    # The grammar of workflows.schedule.parse_schedule, which the engine may not import; a
    # test of the automations holds both to the same answers.
    schedule = trigger["schedule"]
    words = " ".join(schedule.lower().split())
    if not _FRIENDLY_SCHEDULE.match(words):
        try:
            if len(words.split()) != 5:
                raise CronSimError("not five fields")
            CronSim(" ".join(schedule.split()), dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        except CronSimError:
            ctx.error(
                (*path, "schedule"),
                f"schedule '{schedule}' is not hourly, daily, weekly or a cron line: use 'hourly', "
                "'daily [at HH:MM]', 'weekly [on DAY] [at HH:MM]' or five cron fields "
                "(minute hour day month weekday), e.g. '30 7 * * 1-5'",
            )
    timezone = trigger.get("timezone")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            ctx.error((*path, "timezone"), f"'{timezone}' is not a time zone (e.g. Europe/Berlin)")


def _check_auto_expression(
    ctx: Context, path: KeyPath, source: Any, entity: str | None, what: str
) -> None:
    """An automation's expression reads the record's fields, `id` and `old` (if it has one)."""
    if not isinstance(source, str):
        return
    fields = set(ctx.fields(entity)) | {"id", "old"} if entity else set()
    try:
        unknown = unknown_names(source, fields)
    except ExpressionProblem as exc:
        hint = " (a value is an expression: quote text as \"'text'\")" if what == "value" else ""
        ctx.error(path, f"{what} does not compile: {exc}{hint}")
        return
    for name in unknown:
        if entity is None:
            why = "but a scheduled automation has no record"
        else:
            why = f"which is not a field of {ctx.show(entity)}"
        hint = f" (to set the text, write \"'{name}'\")" if what == "value" else ""
        ctx.error(path, f"{what} names '{name}', {why}{hint}")


def _check_auto_values(
    ctx: Context, path: KeyPath, values: Any, target: str | None, entity: str | None
) -> None:
    """Stored fields of `target` to set, each value an expression over the trigger's record."""
    for field, value in mapping(values).items():
        fdoc = ctx.fields(target).get(field) if target else None
        if target is not None and fdoc is None:
            ctx.error((*path, field), f"'{field}' is not a field of {ctx.show(target)}")
        elif fdoc is not None and computed_why(fdoc):
            why = computed_why(fdoc)
            ctx.error((*path, field), f"'{field}' is computed ({why}); it cannot be set")
        _check_auto_expression(ctx, (*path, field), value, entity, "value")


def _check_auto_action(
    ctx: Context,
    path: KeyPath,
    kind: str,
    body: Mapping[str, Any],
    entity: str | None,
    events: Any,
) -> None:
    if kind == "set":
        if entity is None:
            ctx.error(path, "set changes the triggering record; a scheduled automation has none")
        elif "deleted" in events:
            ctx.error(path, "set cannot change a deleted record: give deleted its own automation")
        _check_auto_values(ctx, path, body, entity, entity)
    elif kind == "create":
        target = entity_ref(ctx, (*path, "entity"), body.get("entity"), "creates")
        _check_auto_values(ctx, (*path, "values"), body.get("values"), target, entity)
    elif kind == "update":
        target = _check_auto_update(ctx, path, body, entity)
        _check_auto_values(ctx, (*path, "values"), body.get("values"), target, entity)
    elif kind == "notify":
        _check_auto_notify(ctx, path, body, entity)
    elif kind == "webhook" and "secret" in body:
        ctx.error(
            (*path, "secret"),
            "a blueprint never holds a secret: set secret_env to the name of the environment "
            "variable that holds it",
        )


def _check_auto_update(
    ctx: Context, path: KeyPath, body: Mapping[str, Any], entity: str | None
) -> str | None:
    """The entity an update changes (None after reporting why it is unclear)."""
    if ("record" in body) == ("filter" in body):
        ctx.error(path, "give either 'record' (a link field of the record) or 'filter'")
        return None
    if "filter" in body:
        if "entity" not in body:
            ctx.error(path, "an update by 'filter' needs 'entity': which records to update")
            return None
        target = entity_ref(ctx, (*path, "entity"), body["entity"], "updates")
        if target is not None:
            check_filter(ctx, (*path, "filter"), target, body["filter"])
        for vpath, value in user_values((*path, "filter"), body["filter"]):
            _check_record_ref(ctx, vpath, value, entity, ("id",))
        return target
    link = body["record"]
    if entity is None:
        ctx.error((*path, "record"), "'record' is a link of the record; a schedule has no record")
        return None
    fdoc = ctx.fields(entity).get(link)
    if fdoc is None or fdoc.get("type") != "link":
        ctx.error((*path, "record"), f"'{link}' is not a link field of {ctx.show(entity)}")
        return None
    target = ctx.target(entity, fdoc)
    if "entity" in body and ctx.resolve(body["entity"])[0] != target:
        ctx.error(
            (*path, "entity"), f"'{link}' links to {ctx.show(str(target))}, not '{body['entity']}'"
        )
    return target


def _check_record_ref(
    ctx: Context, path: KeyPath, value: str, entity: str | None, system: tuple[str, ...]
) -> None:
    """`$record.<field>`: a field of the triggering record (or one of the `system` fields)."""
    field = value.removeprefix("$record.")
    if field == value:
        ctx.error(path, f"'{value}' is not $record.<field>")
    elif entity is None:
        ctx.error(path, f"'{value}' reads the record; a scheduled automation has none")
    elif field not in ctx.fields(entity) and field not in system:
        ctx.error(path, f"'{field}' is not a field of {ctx.show(entity)}")


def _check_auto_notify(
    ctx: Context, path: KeyPath, body: Mapping[str, Any], entity: str | None
) -> None:
    if not any(body.get(key) for key in ("users", "user", "roles", "role")):
        ctx.error(path, "name 'users' or 'roles' to notify")
    roles = ctx.roles()
    for key in ("roles", "role"):
        for vpath, role in _names_at((*path, key), body.get(key)):
            if role not in roles:
                ctx.error(vpath, f"'{role}' is not a role of {ctx.app} (nor a platform role)")
    for key in ("users", "user"):
        for vpath, user in _names_at((*path, key), body.get(key)):
            if user == "$user" and entity is None:
                ctx.error(vpath, "'$user' is who saved the record; a scheduled automation has none")
            elif user.startswith("$") and user != "$user":
                _check_record_ref(ctx, vpath, user, entity, ("_created_by", "_updated_by"))
                fdoc = ctx.fields(entity).get(user.removeprefix("$record.")) if entity else None
                if fdoc is not None and fdoc.get("type") != "user":
                    ctx.error(vpath, f"'{user}' is a {fdoc.get('type')} field, not a user field")
    fields = set(ctx.fields(entity)) | SYSTEM_FIELDS if entity else set()
    why = f"not a field of {ctx.show(entity)}" if entity else "there is no record on a schedule"
    for key in ("subject", "body", "message"):
        for name in _PLACEHOLDER.findall(str(body.get(key) or "")):
            if name not in fields:
                ctx.error((*path, key), f"placeholder '{{{name}}}': {why}")


def _names_at(path: KeyPath, value: Any) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index), str(item)
