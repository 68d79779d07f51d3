"""Cross-checks of automation documents: triggers, schedules, actions and their values name
entities, fields, roles and users that must exist."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from appblocks.engine.i18n import N_, Message
from appblocks.engine.loader import KeyPath
from appblocks.engine.validate_context import (
    COMPUTED_CANNOT_BE_SET,
    NOT_A_FIELD,
    SYSTEM_FIELDS,
    VALUE_DOES_NOT_COMPILE,
    VALUE_NAMES,
    Context,
    mapping,
)
from appblocks.engine.validate_documents import check_filter, entity_ref, user_values
from appblocks.engine.validate_expr import ExpressionProblem, unknown_names
from appblocks.engine.validate_fields import computed_why
from appblocks.engine.validate_workflows import NOT_A_USER_FIELD

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
            ctx.error((*path, "on"), N_("give a `schedule`, or `entity` and `events`, not both"))
        elif "entity" in trigger:
            entity = entity_ref(
                ctx, (*path, "on", "entity"), trigger["entity"], N_("automation on")
            )
        events = trigger.get("events") or []
        for one, many, event in (
            ("field", "fields", "field_changed"),
            ("state", "states", "state_entered"),
        ):
            given = [key for key in (one, many) if key in trigger]
            if event in events and not given:
                ctx.error(
                    (*path, "on"),
                    N_("{event} needs '{one}' or '{many}': the {many} to watch"),
                    event=event,
                    one=one,
                    many=many,
                )
            for key in given if event not in events else ():
                ctx.error(
                    (*path, "on", key),
                    N_("'{key}' is only read for {event} events"),
                    key=key,
                    event=event,
                )
        if entity is not None:
            for where, name in _trigger_names(path, trigger, "field", "fields"):
                if name not in ctx.fields(entity):
                    ctx.error(where, NOT_A_FIELD, name=name, entity=ctx.show(entity))
            states = ctx.states_of(entity)
            for where, name in _trigger_names(path, trigger, "state", "states"):
                if name not in states:
                    ctx.error(
                        where,
                        N_("'{state}' is not a state of a workflow on {entity}"),
                        state=name,
                        entity=ctx.show(entity),
                    )
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
                N_(
                    "schedule '{schedule}' is not hourly, daily, weekly or a cron line: use "
                    "'hourly', 'daily [at HH:MM]', 'weekly [on DAY] [at HH:MM]' or five cron "
                    "fields (minute hour day month weekday), e.g. '30 7 * * 1-5'"
                ),
                schedule=schedule,
            )
    timezone = trigger.get("timezone")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            ctx.error(
                (*path, "timezone"),
                N_("'{timezone}' is not a time zone (e.g. Europe/Berlin)"),
                timezone=timezone,
            )


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
        if what == "value":
            ctx.error(path, VALUE_DOES_NOT_COMPILE, detail=str(exc))
        else:
            ctx.error(path, N_("{what} does not compile: {detail}"), what=what, detail=str(exc))
        return
    for name in unknown:
        if entity is None:
            why = Message(N_("but a scheduled automation has no record"))
        else:
            why = Message(N_("which is not a field of {entity}"), entity=ctx.show(entity))
        if what == "value":
            ctx.error(path, VALUE_NAMES, name=name, why=why)
        else:
            ctx.error(path, N_("{what} names '{name}', {why}"), what=what, name=name, why=why)


def _check_auto_values(
    ctx: Context, path: KeyPath, values: Any, target: str | None, entity: str | None
) -> None:
    """Stored fields of `target` to set, each value an expression over the trigger's record."""
    for field, value in mapping(values).items():
        fdoc = ctx.fields(target).get(field) if target else None
        if target is not None and fdoc is None:
            ctx.error((*path, field), NOT_A_FIELD, name=field, entity=ctx.show(target))
        elif fdoc is not None and computed_why(fdoc):
            why = computed_why(fdoc)
            ctx.error((*path, field), COMPUTED_CANNOT_BE_SET, name=field, why=why)
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
            ctx.error(
                path, N_("set changes the triggering record; a scheduled automation has none")
            )
        elif "deleted" in events:
            ctx.error(
                path, N_("set cannot change a deleted record: give deleted its own automation")
            )
        _check_auto_values(ctx, path, body, entity, entity)
    elif kind == "create":
        target = entity_ref(ctx, (*path, "entity"), body.get("entity"), N_("creates"))
        _check_auto_values(ctx, (*path, "values"), body.get("values"), target, entity)
    elif kind == "update":
        target = _check_auto_update(ctx, path, body, entity)
        _check_auto_values(ctx, (*path, "values"), body.get("values"), target, entity)
    elif kind == "notify":
        _check_auto_notify(ctx, path, body, entity)
    elif kind == "webhook" and "secret" in body:
        ctx.error(
            (*path, "secret"),
            N_(
                "a blueprint never holds a secret: set secret_env to the name of the environment "
                "variable that holds it"
            ),
        )


def _check_auto_update(
    ctx: Context, path: KeyPath, body: Mapping[str, Any], entity: str | None
) -> str | None:
    """The entity an update changes (None after reporting why it is unclear)."""
    if ("record" in body) == ("filter" in body):
        ctx.error(path, N_("give either 'record' (a link field of the record) or 'filter'"))
        return None
    if "filter" in body:
        if "entity" not in body:
            ctx.error(path, N_("an update by 'filter' needs 'entity': which records to update"))
            return None
        target = entity_ref(ctx, (*path, "entity"), body["entity"], N_("updates"))
        if target is not None:
            check_filter(ctx, (*path, "filter"), target, body["filter"])
        for vpath, value in user_values((*path, "filter"), body["filter"]):
            _check_record_ref(ctx, vpath, value, entity, ("id",))
        return target
    link = body["record"]
    if entity is None:
        ctx.error(
            (*path, "record"), N_("'record' is a link of the record; a schedule has no record")
        )
        return None
    fdoc = ctx.fields(entity).get(link)
    if fdoc is None or fdoc.get("type") != "link":
        ctx.error(
            (*path, "record"),
            N_("'{link}' is not a link field of {entity}"),
            link=link,
            entity=ctx.show(entity),
        )
        return None
    target = ctx.target(entity, fdoc)
    if "entity" in body and ctx.resolve(body["entity"])[0] != target:
        ctx.error(
            (*path, "entity"),
            N_("'{link}' links to {target}, not '{entity}'"),
            link=link,
            target=ctx.show(str(target)),
            entity=body["entity"],
        )
    return target


def _check_record_ref(
    ctx: Context, path: KeyPath, value: str, entity: str | None, system: tuple[str, ...]
) -> None:
    """`$record.<field>`: a field of the triggering record (or one of the `system` fields)."""
    field = value.removeprefix("$record.")
    if field == value:
        ctx.error(path, N_("'{value}' is not $record.<field>"), value=value)
    elif entity is None:
        ctx.error(
            path, N_("'{value}' reads the record; a scheduled automation has none"), value=value
        )
    elif field not in ctx.fields(entity) and field not in system:
        ctx.error(path, NOT_A_FIELD, name=field, entity=ctx.show(entity))


def _check_auto_notify(
    ctx: Context, path: KeyPath, body: Mapping[str, Any], entity: str | None
) -> None:
    if not any(body.get(key) for key in ("users", "user", "roles", "role")):
        ctx.error(path, N_("name 'users' or 'roles' to notify"))
    roles = ctx.roles()
    for key in ("roles", "role"):
        for vpath, role in _names_at((*path, key), body.get(key)):
            if role not in roles:
                ctx.error(
                    vpath,
                    N_("'{role}' is not a role of {app} (nor a platform role)"),
                    role=role,
                    app=ctx.app,
                )
    for key in ("users", "user"):
        for vpath, user in _names_at((*path, key), body.get(key)):
            if user == "$user" and entity is None:
                ctx.error(
                    vpath, N_("'$user' is who saved the record; a scheduled automation has none")
                )
            elif user.startswith("$") and user != "$user":
                _check_record_ref(ctx, vpath, user, entity, ("_created_by", "_updated_by"))
                fdoc = ctx.fields(entity).get(user.removeprefix("$record.")) if entity else None
                if fdoc is not None and fdoc.get("type") != "user":
                    ctx.error(vpath, NOT_A_USER_FIELD, name=user, type=fdoc.get("type"))
    fields = set(ctx.fields(entity)) | SYSTEM_FIELDS if entity else set()
    why = (
        Message(N_("not a field of {entity}"), entity=ctx.show(entity))
        if entity
        else Message(N_("there is no record on a schedule"))
    )
    for key in ("subject", "body", "message"):
        for name in _PLACEHOLDER.findall(str(body.get(key) or "")):
            if name not in fields:
                ctx.error(
                    (*path, key),
                    N_("placeholder '{placeholder}': {why}"),
                    placeholder=f"{{{name}}}",
                    why=why,
                )


def _names_at(path: KeyPath, value: Any) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index), str(item)
