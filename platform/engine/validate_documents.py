"""Cross-checks of the documents over entities: workflows, forms, views, dashboards, roles,
automations. Each names entities, fields, states and roles that must exist."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from appblocks.engine.loader import KeyPath
from appblocks.engine.names import NAME_PATTERN, name_problem
from appblocks.engine.validate_context import SYSTEM_FIELDS, Context, mapping, state_names
from appblocks.engine.validate_expr import ExpressionProblem, unknown_names
from appblocks.engine.validate_fields import check_expression, computed_why, is_number_field
from appblocks.engine.validate_workflows import (
    check_approvals,
    check_timers,
    check_workflow_actions,
)

DOCUMENT_SECTIONS = ("forms", "workflows", "views", "dashboards", "roles", "automations")
RECORD_ACTIONS = ("read", "create", "update", "delete", "import", "export")
# Automation schedules: hourly, daily [at HH:MM], weekly [on DAY] [at HH:MM], or cron.
_TIME = r"(?:[01]?\d|2[0-3]):[0-5]\d"
_DAY = r"(?:sun|mon|tue|wed|thu|fri|sat|sunday|monday|tuesday|wednesday|thursday|friday|saturday)"
_FRIENDLY_SCHEDULE = re.compile(
    rf"^(?:hourly|daily(?: at {_TIME})?|weekly(?: on {_DAY})?(?: at {_TIME})?)$"
)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_USER_VALUE = re.compile(r"^\$user(\.[a-z][a-z0-9_]*)?$")


def check_document_names(ctx: Context) -> None:
    """The name of every form, workflow, view, dashboard, role and automation."""
    for section in DOCUMENT_SECTIONS:
        for name in mapping(ctx.doc.get(section)):
            problem = name_problem(name)
            if problem:
                ctx.error((section, name), problem)


def _entity(ctx: Context, path: KeyPath, ref: Any, what: str) -> str | None:
    """The qualified entity `ref` names, or None after reporting why it does not resolve."""
    qualified, why = ctx.resolve(ref)
    if qualified is None:
        ctx.error(path, f"{what} '{ref}', {why}")
    return qualified


def _field_path(ctx: Context, path: KeyPath, entity: str, name: Any) -> None:
    problem = ctx.field_path(entity, str(name))
    if problem:
        ctx.error(path, problem)


def check_workflows(ctx: Context) -> None:
    """Entity, states, transitions, roles, conditions and hooks of each workflow."""
    owner: dict[str, str] = {}
    roles = ctx.roles()
    for wname, wf in ctx.section("workflows"):
        path: KeyPath = ("workflows", wname)
        if not ctx.clean(path):
            continue
        entity = _entity(ctx, (*path, "entity"), wf["entity"], "workflow of")
        if entity is not None and entity.partition(".")[0] != ctx.app:
            ctx.error(
                (*path, "entity"), f"a workflow owns an entity of its own app, not '{wf['entity']}'"
            )
            entity = None
        if entity is not None:
            if entity in owner:
                ctx.error(
                    (*path, "entity"),
                    f"{ctx.show(entity)} already has the workflow {owner[entity]}",
                )
            owner.setdefault(entity, wname)
        states = state_names(wf)
        seen: set[str] = set()
        for index, state in enumerate(wf["states"]):
            name = state["name"] if isinstance(state, Mapping) else state
            if not NAME_PATTERN.match(name):
                ctx.error(
                    (*path, "states", index),
                    f"'{name}' is not a valid state name (lower-case letters, digits and '_')",
                )
            elif name in seen:
                ctx.error((*path, "states", index), f"state '{name}' is given twice")
            seen.add(name)
        if wf["initial"] not in states:
            ctx.error(
                (*path, "initial"), f"initial state '{wf['initial']}' is not a state of {wname}"
            )
        edges: dict[str, set[str]] = {}
        for tname, tr in wf["transitions"].items():
            tpath = (*path, "transitions", tname)
            if not NAME_PATTERN.match(tname):
                ctx.error(
                    tpath,
                    f"'{tname}' is not a valid transition name (lower-case letters, digits and '_')",
                )
            sources = [tr["from"]] if isinstance(tr["from"], str) else tr["from"]
            for index, source in enumerate(sources):
                if source not in states:
                    where = (
                        (*tpath, "from") if isinstance(tr["from"], str) else (*tpath, "from", index)
                    )
                    ctx.error(
                        where,
                        f"transition '{tname}' starts from '{source}', which is not a state of {wname}",
                    )
                edges.setdefault(source, set()).add(tr["to"])
            if tr["to"] not in states:
                ctx.error(
                    (*tpath, "to"),
                    f"transition '{tname}' goes to '{tr['to']}', which is not a state of {wname}",
                )
            for index, role in enumerate(tr.get("roles") or []):
                if role not in roles:
                    ctx.error(
                        (*tpath, "roles", index),
                        f"'{role}' is not a role of {ctx.app} (nor a platform role: admin, designer)",
                    )
            if "when" in tr:
                check_expression(ctx, (*tpath, "when"), tr["when"], entity, "when")
        for hook in ("on_enter", "on_exit"):
            for state, actions in mapping(wf.get(hook)).items():
                if state not in states:
                    ctx.error((*path, hook, state), f"'{state}' is not a state of {wname}")
                check_actions(ctx, (*path, hook, state), actions, entity)
                check_workflow_actions(ctx, (*path, hook, state), actions, entity, wf)
        check_approvals(ctx, path, wf, states, entity, edges)
        for index, timer in enumerate(wf.get("timers") or []):
            check_actions(ctx, (*path, "timers", index, "do"), timer["do"], entity)
        check_timers(ctx, path, wf, states, entity)
        _check_reachable(ctx, path, wf, states, edges)


def _check_reachable(
    ctx: Context,
    path: KeyPath,
    wf: Mapping[str, Any],
    states: set[str],
    edges: Mapping[str, set[str]],
) -> None:
    initial = wf["initial"]
    if initial not in states:
        return
    reached, todo = {initial}, [initial]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in reached:
                reached.add(nxt)
                todo.append(nxt)
    for index, state in enumerate(wf["states"]):
        name = state["name"] if isinstance(state, Mapping) else state
        if name not in reached:
            ctx.error(
                (*path, "states", index), f"state '{name}' cannot be reached from '{initial}'"
            )


def check_actions(ctx: Context, path: KeyPath, actions: Any, entity: str | None) -> None:
    """Actions of a workflow hook or automation; `entity` is the record they run on."""
    for index, action in enumerate(actions if isinstance(actions, list) else []):
        apath = (*path, index)
        action = mapping(action)
        for field, value in mapping(action.get("set")).items():
            fpath = (*apath, "set", field)
            if entity is None:
                _check_value(ctx, fpath, value, None)
                continue
            fdoc = ctx.fields(entity).get(field)
            if fdoc is None:
                ctx.error(fpath, f"'{field}' is not a field of {ctx.show(entity)}")
            elif computed_why(fdoc):
                ctx.error(fpath, f"'{field}' is computed ({computed_why(fdoc)}); it cannot be set")
            _check_value(ctx, fpath, value, entity)
        create = mapping(action.get("create"))
        if create:
            target = _entity(ctx, (*apath, "create", "entity"), create.get("entity"), "creates")
            for field, value in mapping(create.get("values")).items():
                fpath = (*apath, "create", "values", field)
                if target is not None:
                    fdoc = ctx.fields(target).get(field)
                    if fdoc is None:
                        ctx.error(fpath, f"'{field}' is not a field of {ctx.show(target)}")
                    elif computed_why(fdoc):
                        ctx.error(
                            fpath, f"'{field}' is computed ({computed_why(fdoc)}); it cannot be set"
                        )
                _check_value(ctx, fpath, value, entity)


def _check_value(ctx: Context, path: KeyPath, value: Any, entity: str | None) -> None:
    """An action value: a string is an expression over the record the action runs on."""
    if not isinstance(value, str):
        return
    fields = set(ctx.fields(entity)) if entity else set()
    try:
        unknown = unknown_names(value, fields)
    except ExpressionProblem as exc:
        ctx.error(
            path,
            f"value does not compile: {exc} (a value is an expression: quote text as \"'text'\")",
        )
        return
    if entity is not None:
        for name in unknown:
            ctx.error(
                path,
                f"value names '{name}', which is not a field of {ctx.show(entity)} "
                f"(to set the text, write \"'{name}'\")",
            )


def check_forms(ctx: Context) -> None:
    """A form's entity, the fields its sections list, and its rules."""
    for fname, form in ctx.section("forms"):
        path: KeyPath = ("forms", fname)
        if not ctx.clean(path):
            continue
        entity = _entity(ctx, (*path, "entity"), form["entity"], "form of")
        if entity is None:
            continue
        fields = ctx.fields(entity)
        listed: set[str] = set()
        for s, section in enumerate(form.get("sections") or []):
            for i, item in enumerate(section["fields"]):
                name = item["field"] if isinstance(item, Mapping) else item
                ipath = (*path, "sections", s, "fields", i)
                if name not in fields:
                    ctx.error(ipath, f"'{name}' is not a field of {ctx.show(entity)}")
                elif name in listed:
                    ctx.error(ipath, f"'{name}' is listed twice")
                listed.add(name)
        for index, rule in enumerate(form.get("rules") or []):
            rpath = (*path, "rules", index)
            check_expression(ctx, (*rpath, "when"), rule["when"], entity, "when")
            if "field" in rule and rule["field"] not in fields:
                ctx.error(
                    (*rpath, "field"), f"'{rule['field']}' is not a field of {ctx.show(entity)}"
                )


def check_filter(ctx: Context, path: KeyPath, entity: str, filt: Any) -> None:
    """Every field path a filter names exists (dotted paths go through links)."""
    for key, value in mapping(filt).items():
        if key in ("and", "or"):
            for index, sub in enumerate(value if isinstance(value, list) else []):
                check_filter(ctx, (*path, key, index), entity, sub)
        else:
            _field_path(ctx, (*path, key), entity, key)


def check_views(ctx: Context) -> None:
    """A view's entity and the fields of its columns, sort, grouping, dates and filter."""
    for vname, view in ctx.section("views"):
        path: KeyPath = ("views", vname)
        if not ctx.clean(path):
            continue
        entity = _entity(ctx, (*path, "entity"), view["entity"], "view of")
        if entity is None:
            continue
        for index, column in enumerate(view.get("columns") or []):
            _field_path(ctx, (*path, "columns", index), entity, column)
        sort = view.get("sort")
        keys = sort.split(",") if isinstance(sort, str) else (sort or [])
        for key in keys:
            _field_path(ctx, (*path, "sort"), entity, key.strip().lstrip("-"))
        for key in ("group_by", "date_field"):
            if key in view:
                _field_path(ctx, (*path, key), entity, view[key])
        date_field = ctx.fields(entity).get(view.get("date_field", ""))
        if date_field is not None and date_field.get("type") not in ("date", "datetime"):
            ctx.error(
                (*path, "date_field"),
                f"'{view['date_field']}' is a {date_field.get('type')} field, not a date",
            )
        check_filter(ctx, (*path, "filter"), entity, view.get("filter"))


def check_dashboards(ctx: Context) -> None:
    """Each widget's entity, grouping, measure and filter."""
    for dname, board in ctx.section("dashboards"):
        path: KeyPath = ("dashboards", dname)
        if not ctx.clean(path):
            continue
        for index, widget in enumerate(board["widgets"]):
            wpath = (*path, "widgets", index)
            entity = _entity(ctx, (*wpath, "entity"), widget["entity"], "chart of")
            if entity is None:
                continue
            if "group_by" in widget:
                _field_path(ctx, (*wpath, "group_by"), entity, widget["group_by"])
            for agg, field in mapping(widget.get("measure")).items():
                if agg == "count" and (field is True or field in ("*", "id")):
                    continue
                if not isinstance(field, str):
                    ctx.error((*wpath, "measure", agg), f"{agg} needs a field name")
                    continue
                _field_path(ctx, (*wpath, "measure", agg), entity, field)
                fdoc = ctx.fields(entity).get(field)
                if fdoc is not None and agg in ("sum", "avg") and not is_number_field(fdoc):
                    ctx.error(
                        (*wpath, "measure", agg),
                        f"{agg} needs a number field; '{field}' is a {fdoc.get('type')} field",
                    )
            check_filter(ctx, (*wpath, "filter"), entity, widget.get("filter"))


def check_roles(ctx: Context) -> None:
    """Each permission's entity, actions, record rule and fields."""
    for rname, role in ctx.section("roles"):
        path: KeyPath = ("roles", rname)
        if not ctx.clean(path):
            continue
        for ref, grant in mapping(role.get("permissions")).items():
            ppath = (*path, "permissions", ref)
            entity = _entity(ctx, ppath, ref, "permission for")
            if entity is None:
                continue
            actions = grant if isinstance(grant, list) else grant["actions"]
            apath = ppath if isinstance(grant, list) else (*ppath, "actions")
            allowed = set(RECORD_ACTIONS) | ctx.transitions_of(entity)
            for index, action in enumerate(actions):
                if action not in allowed:
                    ctx.error(
                        (*apath, index),
                        f"'{action}' is not an action on {ctx.show(entity)} "
                        f"({', '.join(RECORD_ACTIONS)} or a transition of its workflow)",
                    )
            if isinstance(grant, list):
                continue
            where = grant.get("where")
            check_filter(ctx, (*ppath, "where"), entity, where)
            for vpath, value in _user_values((*ppath, "where"), where):
                if not _USER_VALUE.match(value):
                    ctx.error(vpath, f"'{value}' is not $user or $user.<attribute>")
            for field in mapping(grant.get("fields")):
                if field not in ctx.fields(entity):
                    ctx.error(
                        (*ppath, "fields", field), f"'{field}' is not a field of {ctx.show(entity)}"
                    )


def _user_values(path: KeyPath, value: Any) -> Iterator[tuple[KeyPath, str]]:
    """Every string of a record rule that starts with `$` (it must name the user)."""
    if isinstance(value, str) and value.startswith("$"):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _user_values((*path, key), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _user_values((*path, index), item)


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
            entity = _entity(ctx, (*path, "on", "entity"), trigger["entity"], "automation on")
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
        target = _entity(ctx, (*path, "entity"), body.get("entity"), "creates")
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
        target = _entity(ctx, (*path, "entity"), body["entity"], "updates")
        if target is not None:
            check_filter(ctx, (*path, "filter"), target, body["filter"])
        for vpath, value in _user_values((*path, "filter"), body["filter"]):
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
