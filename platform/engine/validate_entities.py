"""Cross-checks of the manifest and the entities: names, titles, keys, line items, cycles."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from appblocks.engine.i18n import N_
from appblocks.engine.loader import KeyPath
from appblocks.engine.names import MAX_IDENTIFIER, link_table_name, name_problem, table_name
from appblocks.engine.validate_context import NOT_A_FIELD, SYSTEM_FIELDS, Context, mapping
from appblocks.engine.validate_expr import ExpressionProblem, expression_names
from appblocks.engine.validate_fields import check_expression, check_field, name_error

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
# One clause of a `requires` specifier; clauses may be joined by commas (>=1.0,<2.0).
_SPEC_CLAUSE = re.compile(r"^\s*(?:\*|(?:>=|<=|>|<|==|=|\^|~)?\s*\d+(?:\.\d+){0,2})\s*$")
#: field types whose values are one thing a record can be named by
_NO_TITLE_TYPES = ("links", "lines", "json", "multi_choice")


def check_manifest(ctx: Context) -> None:
    """The app name, its semver version and its `requires`."""
    doc = ctx.doc
    if isinstance(doc.get("blueprint"), str):
        problem = name_problem(doc["blueprint"], app=True)
        if problem:
            ctx.error(("blueprint",), name_error(problem))
    version = doc.get("version")
    if isinstance(version, str | int | float) and not isinstance(version, bool):
        if not SEMVER.match(str(version)):
            ctx.error(
                ("version",),
                N_("version '{version}' is not semver (MAJOR.MINOR.PATCH)"),
                version=version,
            )
    for app, spec in mapping(doc.get("requires")).items():
        problem = name_problem(app, app=True)
        if problem:
            ctx.error(("requires", app), name_error(problem))
        elif app == ctx.app:
            ctx.error(("requires", app), N_("{app} cannot require itself"), app=app)
        if isinstance(spec, str | int | float) and not all(
            _SPEC_CLAUSE.match(part) for part in str(spec).split(",")
        ):
            ctx.error(
                ("requires", app),
                N_("'{spec}' is not a version specifier (e.g. >=1.0, ^1.2, ~1.2, 1.2.3, *)"),
                spec=spec,
            )


def check_entities(ctx: Context) -> None:
    """Every entity and field: names, table names, field checks, then the checks across them."""
    for ename, edoc in mapping(ctx.doc.get("entities")).items():
        path: KeyPath = ("entities", ename)
        problem = name_problem(ename)
        if problem:
            ctx.error(path, name_error(problem))
        elif ctx.app and len(table_name(ctx.app, ename)) > MAX_IDENTIFIER:
            table = table_name(ctx.app, ename)
            ctx.error(
                path,
                N_("the table name '{table}' is {length} characters long; at most {max}"),
                table=table,
                length=len(table),
                max=MAX_IDENTIFIER,
            )
        if not isinstance(edoc, Mapping):
            continue
        for fname, fdoc in mapping(edoc.get("fields")).items():
            fpath = (*path, "fields", fname)
            problem = name_problem(fname)
            if problem:
                ctx.error(fpath, name_error(problem))
            elif fname in SYSTEM_FIELDS:
                ctx.error(fpath, N_("'{name}' is a system column; choose another name"), name=fname)
            elif (
                isinstance(fdoc, Mapping)
                and fdoc.get("type") == "links"
                and ctx.app
                and not name_problem(ename)
            ):
                table = link_table_name(ctx.app, ename, fname)
                if len(table) > MAX_IDENTIFIER:
                    ctx.error(
                        fpath,
                        N_(
                            "the link table name '{table}' is {length} characters long; at most {max}"
                        ),
                        table=table,
                        length=len(table),
                        max=MAX_IDENTIFIER,
                    )
            if isinstance(fdoc, Mapping) and ctx.clean(fpath):
                check_field(ctx, ename, fname, fdoc)
        if ctx.clean(path, except_under="fields"):
            _check_entity(ctx, ename, edoc)
    _check_line_owners(ctx)
    _check_link_titles(ctx)
    _check_formula_cycles(ctx)


def _check_entity(ctx: Context, ename: str, edoc: Mapping[str, Any]) -> None:
    path: KeyPath = ("entities", ename)
    fields = ctx.fields(ctx.own(ename))
    title = edoc.get("title")
    if title is not None:
        if title not in fields:
            ctx.error(
                (*path, "title"),
                N_("title '{title}' is not a field of {entity}"),
                title=title,
                entity=ename,
            )
        elif fields[title].get("type") in _NO_TITLE_TYPES:
            ctx.error(
                (*path, "title"),
                N_("title '{title}' is a {type} field; a title holds one value"),
                title=title,
                type=fields[title].get("type"),
            )
    for key in ("unique", "indexes"):
        for index, item in enumerate(edoc.get(key) or []):
            names = [item] if isinstance(item, str) else list(item)
            for position, name in enumerate(names):
                where = (
                    (*path, key, index) if isinstance(item, str) else (*path, key, index, position)
                )
                fdoc = fields.get(name)
                ftype = ctx.ftype(fdoc) if fdoc is not None else None
                if fdoc is None:
                    ctx.error(where, NOT_A_FIELD, name=name, entity=ename)
                elif ftype is not None and not ftype.has_column:
                    ctx.error(
                        where,
                        N_("'{name}' is a {type} field, which has no column"),
                        name=name,
                        type=ftype.name,
                    )
    for index, rule in enumerate(edoc.get("rules") or []):
        rpath = (*path, "rules", index)
        check_expression(ctx, (*rpath, "when"), rule.get("when"), ctx.own(ename), "when")
        if "field" in rule and rule["field"] not in fields:
            ctx.error((*rpath, "field"), NOT_A_FIELD, name=rule["field"], entity=ename)


def line_owners(ctx: Context) -> dict[str, list[tuple[str, str]]]:
    """Child entity -> the (entity, field) of each `lines` field of this app pointing at it."""
    owners: dict[str, list[tuple[str, str]]] = {}
    for ename, edoc in ctx.section("entities"):
        for fname, fdoc in mapping(edoc.get("fields")).items():
            if isinstance(fdoc, Mapping) and fdoc.get("type") == "lines":
                child = ctx.target(ctx.own(ename), fdoc)
                if child is not None and ctx.entity(child) is not None:
                    owners.setdefault(child, []).append((ename, fname))
    return owners


def _check_line_owners(ctx: Context) -> None:
    owners = line_owners(ctx)
    for child, fields in owners.items():
        first = f"{fields[0][0]}.{fields[0][1]}"
        for ename, fname in fields[1:]:
            ctx.error(
                ("entities", ename, "fields", fname, "to"),
                N_(
                    "{entity} is already the line items of {first}; a child entity "
                    "belongs to one lines field"
                ),
                entity=ctx.show(child),
                first=first,
            )
    parent = {child: ctx.own(fields[0][0]) for child, fields in owners.items()}
    reported: set[str] = set()
    for child, fields in owners.items():
        seen = [child]  # the child, its holder, the holder's holder, ...
        current = parent.get(child)
        while current is not None and current not in seen:
            seen.append(current)
            current = parent.get(current)
        if current == child and len(seen) > 1 and not reported & set(seen):
            reported |= set(seen)
            ename, fname = fields[0]
            loop = " -> ".join(ctx.show(e) for e in [*reversed(seen), seen[-1]])
            ctx.error(
                ("entities", ename, "fields", fname, "to"),
                N_("line items go round in a circle: {loop}"),
                loop=loop,
            )


def _check_link_titles(ctx: Context) -> None:
    reported: set[str] = set()
    for ename, edoc in ctx.section("entities"):
        for fname, fdoc in mapping(edoc.get("fields")).items():
            if not isinstance(fdoc, Mapping) or fdoc.get("type") not in ("link", "links"):
                continue
            target = ctx.target(ctx.own(ename), fdoc)
            body = ctx.entity(target) if target else None
            if target is None or body is None or target.partition(".")[0] != ctx.app:
                continue
            if not body.get("title") and target not in reported:
                reported.add(target)
                name = target.partition(".")[2]
                ctx.error(
                    ("entities", name),
                    N_(
                        "{entity} is the target of a link ({link}), so it needs a title: "
                        "the field that names its records in link pickers"
                    ),
                    entity=name,
                    link=f"{ename}.{fname}",
                )


def _check_formula_cycles(ctx: Context) -> None:
    for ename, edoc in ctx.section("entities"):
        fields = mapping(edoc.get("fields"))
        reads: dict[str, set[str]] = {}
        for fname, fdoc in fields.items():
            formula = mapping(fdoc).get("formula")
            if isinstance(formula, str):
                try:
                    reads[fname] = set(expression_names(formula)) & set(fields)
                except ExpressionProblem:
                    continue
        reported: set[str] = set()
        for start in reads:
            cycle = _cycle_from(start, reads)
            if cycle and not reported & set(cycle):
                reported |= set(cycle)
                ctx.error(
                    ("entities", ename, "fields", start, "formula"),
                    N_("formulas go round in a circle: {loop}"),
                    loop=" -> ".join(cycle),
                )


def _cycle_from(start: str, reads: Mapping[str, set[str]]) -> list[str] | None:
    """The path of formula fields from `start` back to itself, if there is one."""
    stack = [(start, [start])]
    visited: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for name in sorted(reads.get(node, ())):
            if name == start:
                return [*trail, start]
            if name not in visited and name in reads:
                visited.add(name)
                stack.append((name, [*trail, name]))
    return None
