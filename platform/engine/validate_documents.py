"""Cross-checks of the documents over entities: workflows, forms, views, dashboards, roles
(automations: `validate_automations.py`). Each names entities, fields, states and roles that
must exist."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from appblocks.engine.i18n import N_, Message
from appblocks.engine.loader import KeyPath
from appblocks.engine.names import NAME_PATTERN, name_problem
from appblocks.engine.validate_context import (
    COMPUTED_CANNOT_BE_SET,
    NOT_A_FIELD,
    NOT_A_ROLE,
    VALUE_DOES_NOT_COMPILE,
    VALUE_NAMES,
    Context,
    mapping,
    state_names,
)
from appblocks.engine.validate_expr import ExpressionProblem, unknown_names
from appblocks.engine.validate_fields import (
    check_expression,
    computed_why,
    is_number_field,
    name_error,
)
from appblocks.engine.validate_workflows import (
    NOT_A_DATE,
    NOT_A_STATE,
    check_approvals,
    check_timers,
    check_workflow_actions,
)

DOCUMENT_SECTIONS = ("forms", "workflows", "views", "dashboards", "roles", "automations")
RECORD_ACTIONS = ("read", "create", "update", "delete", "import", "export")
_USER_VALUE = re.compile(r"^\$user(\.[a-z][a-z0-9_]*)?$")
#: a state the workflow cannot reach yet (the designer shows it as unfinished work)
UNREACHABLE = N_("state '{name}' cannot be reached from '{initial}'")
NO_STATE_TO_GROUP = N_("{entity} has no workflow, so no _state to group by")


def check_document_names(ctx: Context) -> None:
    """The name of every form, workflow, view, dashboard, role and automation."""
    for section in DOCUMENT_SECTIONS:
        for name in mapping(ctx.doc.get(section)):
            problem = name_problem(name)
            if problem:
                ctx.error((section, name), name_error(problem))


def entity_ref(ctx: Context, path: KeyPath, ref: Any, what: str) -> str | None:
    """The qualified entity `ref` names, or None after reporting why it does not resolve
    (`what` is an English phrase marked N_: "view of")."""
    qualified, why = ctx.resolve(ref)
    if qualified is None:
        ctx.error(path, N_("{what} '{ref}', {why}"), what=Message(what), ref=ref, why=why)
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
        entity = entity_ref(ctx, (*path, "entity"), wf["entity"], N_("workflow of"))
        if entity is not None and entity.partition(".")[0] != ctx.app:
            ctx.error(
                (*path, "entity"),
                N_("a workflow owns an entity of its own app, not '{entity}'"),
                entity=wf["entity"],
            )
            entity = None
        if entity is not None:
            if entity in owner:
                ctx.error(
                    (*path, "entity"),
                    N_("{entity} already has the workflow {workflow}"),
                    entity=ctx.show(entity),
                    workflow=owner[entity],
                )
            owner.setdefault(entity, wname)
        states = state_names(wf)
        seen: set[str] = set()
        for index, state in enumerate(wf["states"]):
            name = state["name"] if isinstance(state, Mapping) else state
            if not NAME_PATTERN.match(name):
                ctx.error(
                    (*path, "states", index),
                    N_("'{name}' is not a valid state name (lower-case letters, digits and '_')"),
                    name=name,
                )
            elif name in seen:
                ctx.error((*path, "states", index), N_("state '{name}' is given twice"), name=name)
            seen.add(name)
        if wf["initial"] not in states:
            ctx.error(
                (*path, "initial"),
                N_("initial state '{state}' is not a state of {workflow}"),
                state=wf["initial"],
                workflow=wname,
            )
        edges: dict[str, set[str]] = {}
        for tname, tr in wf["transitions"].items():
            tpath = (*path, "transitions", tname)
            if not NAME_PATTERN.match(tname):
                ctx.error(
                    tpath,
                    N_(
                        "'{name}' is not a valid transition name (lower-case letters, digits and '_')"
                    ),
                    name=tname,
                )
            sources = [tr["from"]] if isinstance(tr["from"], str) else tr["from"]
            for index, source in enumerate(sources):
                if source not in states:
                    where = (
                        (*tpath, "from") if isinstance(tr["from"], str) else (*tpath, "from", index)
                    )
                    ctx.error(
                        where,
                        N_(
                            "transition '{transition}' starts from '{state}', which is not a state "
                            "of {workflow}"
                        ),
                        transition=tname,
                        state=source,
                        workflow=wname,
                    )
                edges.setdefault(source, set()).add(tr["to"])
            if tr["to"] not in states:
                ctx.error(
                    (*tpath, "to"),
                    N_(
                        "transition '{transition}' goes to '{state}', which is not a state of {workflow}"
                    ),
                    transition=tname,
                    state=tr["to"],
                    workflow=wname,
                )
            for index, role in enumerate(tr.get("roles") or []):
                if role not in roles:
                    ctx.error((*tpath, "roles", index), NOT_A_ROLE, role=role, app=ctx.app)
            if "when" in tr:
                check_expression(ctx, (*tpath, "when"), tr["when"], entity, "when")
        for hook in ("on_enter", "on_exit"):
            for state, actions in mapping(wf.get(hook)).items():
                if state not in states:
                    ctx.error((*path, hook, state), NOT_A_STATE, state=state, workflow=wname)
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
                (*path, "states", index),
                UNREACHABLE,
                name=name,
                initial=initial,
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
                ctx.error(fpath, NOT_A_FIELD, name=field, entity=ctx.show(entity))
            elif computed_why(fdoc):
                ctx.error(fpath, COMPUTED_CANNOT_BE_SET, name=field, why=computed_why(fdoc))
            _check_value(ctx, fpath, value, entity)
        create = mapping(action.get("create"))
        if create:
            target = entity_ref(
                ctx, (*apath, "create", "entity"), create.get("entity"), N_("creates")
            )
            for field, value in mapping(create.get("values")).items():
                fpath = (*apath, "create", "values", field)
                if target is not None:
                    fdoc = ctx.fields(target).get(field)
                    if fdoc is None:
                        ctx.error(fpath, NOT_A_FIELD, name=field, entity=ctx.show(target))
                    elif computed_why(fdoc):
                        ctx.error(fpath, COMPUTED_CANNOT_BE_SET, name=field, why=computed_why(fdoc))
                _check_value(ctx, fpath, value, entity)


def _check_value(ctx: Context, path: KeyPath, value: Any, entity: str | None) -> None:
    """An action value: a string is an expression over the record the action runs on."""
    if not isinstance(value, str):
        return
    fields = set(ctx.fields(entity)) if entity else set()
    try:
        unknown = unknown_names(value, fields)
    except ExpressionProblem as exc:
        ctx.error(path, VALUE_DOES_NOT_COMPILE, detail=str(exc))
        return
    if entity is not None:
        for name in unknown:
            why = Message(N_("which is not a field of {entity}"), entity=ctx.show(entity))
            ctx.error(path, VALUE_NAMES, name=name, why=why)


def check_forms(ctx: Context) -> None:
    """A form's entity, the fields its sections list, and its rules."""
    for fname, form in ctx.section("forms"):
        path: KeyPath = ("forms", fname)
        if not ctx.clean(path):
            continue
        entity = entity_ref(ctx, (*path, "entity"), form["entity"], N_("form of"))
        if entity is None:
            continue
        fields = ctx.fields(entity)
        listed: set[str] = set()
        for s, section in enumerate(form.get("sections") or []):
            for i, item in enumerate(section["fields"]):
                name = item["field"] if isinstance(item, Mapping) else item
                ipath = (*path, "sections", s, "fields", i)
                if name not in fields:
                    ctx.error(ipath, NOT_A_FIELD, name=name, entity=ctx.show(entity))
                elif name in listed:
                    ctx.error(ipath, N_("'{name}' is listed twice"), name=name)
                listed.add(name)
        for index, rule in enumerate(form.get("rules") or []):
            rpath = (*path, "rules", index)
            check_expression(ctx, (*rpath, "when"), rule["when"], entity, "when")
            if "field" in rule and rule["field"] not in fields:
                ctx.error(
                    (*rpath, "field"), NOT_A_FIELD, name=rule["field"], entity=ctx.show(entity)
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
        entity = entity_ref(ctx, (*path, "entity"), view["entity"], N_("view of"))
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
                NOT_A_DATE,
                name=view["date_field"],
                type=date_field.get("type"),
            )
        check_filter(ctx, (*path, "filter"), entity, view.get("filter"))
        _check_relative_dates(ctx, (*path, "filter"), view.get("filter"))
        if view.get("type") == "kanban" and isinstance(view.get("group_by"), str):
            _check_board_group(ctx, (*path, "group_by"), entity, view["group_by"])


def _check_board_group(ctx: Context, path: KeyPath, entity: str, group: str) -> None:
    """A board's columns are a choice field's options or the workflow's states."""
    if group == "_state":
        if not ctx.states_of(entity):
            ctx.error(path, NO_STATE_TO_GROUP, entity=ctx.show(entity))
        return
    if "." in group:
        ctx.error(
            path,
            N_("a board groups by a field of its own entity, not a path ('{group}')"),
            group=group,
        )
        return
    fdoc = ctx.fields(entity).get(group)
    if fdoc is not None and fdoc.get("type") != "choice":
        ctx.error(
            path,
            N_("a board groups by a choice field or _state; '{group}' is a {type} field"),
            group=group,
            type=fdoc.get("type"),
        )


def check_dashboards(ctx: Context) -> None:
    """Each widget's entity, grouping, measure and filter (and those of its extra series)."""
    for dname, board in ctx.section("dashboards"):
        path: KeyPath = ("dashboards", dname)
        if not ctx.clean(path):
            continue
        for index, widget in enumerate(board["widgets"]):
            wpath = (*path, "widgets", index)
            chart = widget.get("chart")
            _check_series(ctx, wpath, widget, chart)
            if widget.get("series") and chart not in ("bar", "line"):
                ctx.error(
                    (*wpath, "series"),
                    N_("only bar and line charts take more series, not {chart}"),
                    chart=chart,
                )
            for sindex, series in enumerate(widget.get("series") or []):
                _check_series(ctx, (*wpath, "series", sindex), series, chart)


# Fields a chart may group by (links by the linked record's title, dates by month); the
# dashboard queries in views/aggregates.py use the same set.
CHART_GROUPABLE = frozenset(
    {"choice", "link", "date", "datetime", "user", "text", "boolean", "integer", "autonumber"}
    | {"email", "phone", "url", "decimal", "money", "percent"}
)


def _check_series(ctx: Context, wpath: KeyPath, widget: Mapping[str, Any], chart: Any) -> None:
    entity = entity_ref(ctx, (*wpath, "entity"), widget["entity"], N_("chart of"))
    if entity is None:
        return
    group = widget.get("group_by")
    if group is not None:
        _field_path(ctx, (*wpath, "group_by"), entity, group)
        _check_group(ctx, (*wpath, "group_by"), entity, str(group), chart)
    for agg, field in mapping(widget.get("measure")).items():
        if agg == "count" and (field is True or field in ("*", "id")):
            continue
        if not isinstance(field, str):
            ctx.error((*wpath, "measure", agg), N_("{agg} needs a field name"), agg=agg)
            continue
        _field_path(ctx, (*wpath, "measure", agg), entity, field)
        fdoc = ctx.fields(entity).get(field)
        if fdoc is not None and agg in ("sum", "avg") and not is_number_field(fdoc):
            ctx.error(
                (*wpath, "measure", agg),
                N_("{agg} needs a number field; '{field}' is a {type} field"),
                agg=agg,
                field=field,
                type=fdoc.get("type"),
            )
        elif fdoc is not None and agg in ("min", "max") and not _min_max_field(fdoc):
            ctx.error(
                (*wpath, "measure", agg),
                N_("{agg} needs a number or date field; '{field}' is a {type} field"),
                agg=agg,
                field=field,
                type=fdoc.get("type"),
            )
    check_filter(ctx, (*wpath, "filter"), entity, widget.get("filter"))
    _check_relative_dates(ctx, (*wpath, "filter"), widget.get("filter"))


def _min_max_field(fdoc: Mapping[str, Any]) -> bool:
    ftype = Context.ftype(fdoc)
    return ftype is None or ftype.name == "lookup" or ftype.numeric


def _check_group(ctx: Context, path: KeyPath, entity: str, group: str, chart: Any) -> None:
    """A chart groups by one field of its own entity, of a kind that makes categories."""
    if chart in ("number", "gauge"):
        ctx.error(path, N_("a {chart} shows one value: leave out group_by"), chart=chart)
        return
    if group == "_state":
        if not ctx.states_of(entity):
            ctx.error(path, NO_STATE_TO_GROUP, entity=ctx.show(entity))
        return
    if "." in group:
        ctx.error(
            path,
            N_("a chart groups by a field of its own entity, not a path ('{group}')"),
            group=group,
        )
        return
    fdoc = ctx.fields(entity).get(group)
    if fdoc is None:
        return  # an unknown field: the path check reports it
    kind = str(fdoc.get("type"))
    if kind == "lookup":
        return  # the looked-up field decides, at run time
    if kind not in CHART_GROUPABLE:
        ctx.error(
            path,
            N_("a chart cannot be grouped by '{group}', a {type} field"),
            group=group,
            type=kind,
        )


# `$today`, `$today+30d`, `$now-4h` (resolved when a view or dashboard runs: views/relative.py)
_RELATIVE = re.compile(r"^\$(?:today(?:[+-]\d{1,5}[dwmy])?|now(?:[+-]\d{1,5}[hdwmy])?)$")


def _check_relative_dates(ctx: Context, path: KeyPath, value: Any) -> None:
    """Relative dates in a view's or dashboard's filter are of a form that resolves."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_relative_dates(ctx, (*path, key), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_relative_dates(ctx, (*path, index), item)
    elif isinstance(value, str) and value.startswith(("$today", "$now")):
        if not _RELATIVE.match(value):
            ctx.error(
                path,
                N_(
                    "'{value}' is not a relative date: write $today, $today+30d, $today-1m or $now-4h"
                ),
                value=value,
            )


def check_roles(ctx: Context) -> None:
    """Each permission's entity, actions, record rule and fields."""
    for rname, role in ctx.section("roles"):
        path: KeyPath = ("roles", rname)
        if not ctx.clean(path):
            continue
        for ref, grant in mapping(role.get("permissions")).items():
            ppath = (*path, "permissions", ref)
            entity = entity_ref(ctx, ppath, ref, N_("permission for"))
            if entity is None:
                continue
            actions = grant if isinstance(grant, list) else grant["actions"]
            apath = ppath if isinstance(grant, list) else (*ppath, "actions")
            allowed = set(RECORD_ACTIONS) | ctx.transitions_of(entity)
            for index, action in enumerate(actions):
                if action not in allowed:
                    ctx.error(
                        (*apath, index),
                        N_(
                            "'{action}' is not an action on {entity} ({actions} or a transition "
                            "of its workflow)"
                        ),
                        action=action,
                        entity=ctx.show(entity),
                        actions=", ".join(RECORD_ACTIONS),
                    )
            if isinstance(grant, list):
                continue
            where = grant.get("where")
            check_filter(ctx, (*ppath, "where"), entity, where)
            for vpath, value in user_values((*ppath, "where"), where):
                if not _USER_VALUE.match(value):
                    ctx.error(vpath, N_("'{value}' is not $user or $user.<attribute>"), value=value)
            for field in mapping(grant.get("fields")):
                if field not in ctx.fields(entity):
                    ctx.error(
                        (*ppath, "fields", field),
                        NOT_A_FIELD,
                        name=field,
                        entity=ctx.show(entity),
                    )


def user_values(path: KeyPath, value: Any) -> Iterator[tuple[KeyPath, str]]:
    """Every string of a record rule that starts with `$` (it must name the user)."""
    if isinstance(value, str) and value.startswith("$"):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from user_values((*path, key), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from user_values((*path, index), item)
