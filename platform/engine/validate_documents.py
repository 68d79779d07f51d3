"""Cross-checks of the documents over entities: workflows, forms, views, dashboards, roles
(automations: `validate_automations.py`). Each names entities, fields, states and roles that
must exist."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from appblocks.engine.loader import KeyPath
from appblocks.engine.names import NAME_PATTERN, name_problem
from appblocks.engine.validate_context import Context, mapping, state_names
from appblocks.engine.validate_expr import ExpressionProblem, unknown_names
from appblocks.engine.validate_fields import check_expression, computed_why, is_number_field
from appblocks.engine.validate_workflows import (
    check_approvals,
    check_timers,
    check_workflow_actions,
)

DOCUMENT_SECTIONS = ("forms", "workflows", "views", "dashboards", "roles", "automations")
RECORD_ACTIONS = ("read", "create", "update", "delete", "import", "export")
_USER_VALUE = re.compile(r"^\$user(\.[a-z][a-z0-9_]*)?$")


def check_document_names(ctx: Context) -> None:
    """The name of every form, workflow, view, dashboard, role and automation."""
    for section in DOCUMENT_SECTIONS:
        for name in mapping(ctx.doc.get(section)):
            problem = name_problem(name)
            if problem:
                ctx.error((section, name), problem)


def entity_ref(ctx: Context, path: KeyPath, ref: Any, what: str) -> str | None:
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
        entity = entity_ref(ctx, (*path, "entity"), wf["entity"], "workflow of")
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
            target = entity_ref(ctx, (*apath, "create", "entity"), create.get("entity"), "creates")
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
        entity = entity_ref(ctx, (*path, "entity"), form["entity"], "form of")
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
        entity = entity_ref(ctx, (*path, "entity"), view["entity"], "view of")
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
        _check_relative_dates(ctx, (*path, "filter"), view.get("filter"))
        if view.get("type") == "kanban" and isinstance(view.get("group_by"), str):
            _check_board_group(ctx, (*path, "group_by"), entity, view["group_by"])


def _check_board_group(ctx: Context, path: KeyPath, entity: str, group: str) -> None:
    """A board's columns are a choice field's options or the workflow's states."""
    if group == "_state":
        if not ctx.states_of(entity):
            ctx.error(path, f"{ctx.show(entity)} has no workflow, so no _state to group by")
        return
    if "." in group:
        ctx.error(path, f"a board groups by a field of its own entity, not a path ('{group}')")
        return
    fdoc = ctx.fields(entity).get(group)
    if fdoc is not None and fdoc.get("type") != "choice":
        ctx.error(
            path,
            f"a board groups by a choice field or _state; '{group}' is a {fdoc.get('type')} field",
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
                    (*wpath, "series"), f"only bar and line charts take more series, not {chart}"
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
    entity = entity_ref(ctx, (*wpath, "entity"), widget["entity"], "chart of")
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
            ctx.error((*wpath, "measure", agg), f"{agg} needs a field name")
            continue
        _field_path(ctx, (*wpath, "measure", agg), entity, field)
        fdoc = ctx.fields(entity).get(field)
        if fdoc is not None and agg in ("sum", "avg") and not is_number_field(fdoc):
            ctx.error(
                (*wpath, "measure", agg),
                f"{agg} needs a number field; '{field}' is a {fdoc.get('type')} field",
            )
        elif fdoc is not None and agg in ("min", "max") and not _min_max_field(fdoc):
            ctx.error(
                (*wpath, "measure", agg),
                f"{agg} needs a number or date field; '{field}' is a {fdoc.get('type')} field",
            )
    check_filter(ctx, (*wpath, "filter"), entity, widget.get("filter"))
    _check_relative_dates(ctx, (*wpath, "filter"), widget.get("filter"))


def _min_max_field(fdoc: Mapping[str, Any]) -> bool:
    ftype = Context.ftype(fdoc)
    return ftype is None or ftype.name == "lookup" or ftype.numeric


def _check_group(ctx: Context, path: KeyPath, entity: str, group: str, chart: Any) -> None:
    """A chart groups by one field of its own entity, of a kind that makes categories."""
    if chart in ("number", "gauge"):
        ctx.error(path, f"a {chart} shows one value: leave out group_by")
        return
    if group == "_state":
        if not ctx.states_of(entity):
            ctx.error(path, f"{ctx.show(entity)} has no workflow, so no _state to group by")
        return
    if "." in group:
        ctx.error(path, f"a chart groups by a field of its own entity, not a path ('{group}')")
        return
    fdoc = ctx.fields(entity).get(group)
    if fdoc is None:
        return  # an unknown field: the path check reports it
    kind = str(fdoc.get("type"))
    if kind == "lookup":
        return  # the looked-up field decides, at run time
    if kind not in CHART_GROUPABLE:
        ctx.error(path, f"a chart cannot be grouped by '{group}', a {kind} field")


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
                f"'{value}' is not a relative date: write $today, $today+30d, $today-1m or $now-4h",
            )


def check_roles(ctx: Context) -> None:
    """Each permission's entity, actions, record rule and fields."""
    for rname, role in ctx.section("roles"):
        path: KeyPath = ("roles", rname)
        if not ctx.clean(path):
            continue
        for ref, grant in mapping(role.get("permissions")).items():
            ppath = (*path, "permissions", ref)
            entity = entity_ref(ctx, ppath, ref, "permission for")
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
            for vpath, value in user_values((*ppath, "where"), where):
                if not _USER_VALUE.match(value):
                    ctx.error(vpath, f"'{value}' is not $user or $user.<attribute>")
            for field in mapping(grant.get("fields")):
                if field not in ctx.fields(entity):
                    ctx.error(
                        (*ppath, "fields", field), f"'{field}' is not a field of {ctx.show(entity)}"
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
