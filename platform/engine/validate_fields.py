"""Cross-checks of one field document: its type, the keys its type takes, and their values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from appblocks.engine.fieldtypes import FieldType, option_values, registry
from appblocks.engine.i18n import N_, NAME_TEMPLATES, VALUE_TEMPLATES, Message, recognise
from appblocks.engine.loader import KeyPath
from appblocks.engine.names import name_problem
from appblocks.engine.spec import FieldSpec
from appblocks.engine.validate_context import NOT_A_FIELD, Context, mapping
from appblocks.engine.validate_expr import ExpressionProblem, unknown_names

#: keys every field may have, whatever its type
COMMON_KEYS = frozenset(
    {"type", "label", "help", "required", "unique", "index", "default", "read_only", "renamed_from"}
)
#: the built-in types in the order the format documents them (plugins' types follow)
DOCUMENTED_TYPES = tuple(
    "text long_text integer decimal money percent boolean date datetime choice multi_choice "
    "email phone url link links lines autonumber lookup user file json".split()
)
#: what a type-specific key must come with: a type taking `to` needs `to`, and so on
NEEDS: dict[str, tuple[str, ...]] = {
    "to": ("to",),
    "options": ("options",),
    "format": ("format",),
    "via": ("via", "field"),
}
AGGREGATES_OF_NUMBERS = ("sum", "avg")
DATE_TYPES = frozenset({"date", "datetime"})
# PostgreSQL's varchar(n) stops at 10,485,760; a choice value is stored in varchar(64).
MAX_LENGTH = 10_485_760
MAX_OPTION_LENGTH = 64
AUTONUMBER_TOKENS = ("yyyy", "yy", "mm", "dd")
_SEQ = re.compile(r"^seq(?::0\d{1,2})?$")
#: what a bad value of the field can raise besides FieldValueError (a bad bound, say)
VALUE_ERRORS = (ValueError, TypeError, ArithmeticError, KeyError)


def value_error(exc: Exception) -> Message:
    """A field type's complaint about a value (English) as a Message."""
    return recognise(str(exc), VALUE_TEMPLATES)


def name_error(problem: str) -> Message:
    """A naming rule's reason (engine/names.py, English) as a Message."""
    return recognise(problem, NAME_TEMPLATES)


def value_message(key: str, value: Any, exc: Exception) -> Message:
    """`default 'huge' is not one of the options: ...` from a field type's complaint."""
    message = str(exc)
    if message.startswith("'"):
        return Message(N_("{key} {problem}"), key=key, problem=value_error(exc))
    if message.startswith("expected"):
        return Message(N_("{key}: {problem}"), key=key, problem=value_error(exc))
    return Message(
        N_("{key} {value} {problem}"), key=key, value=show(value), problem=value_error(exc)
    )


def show(value: Any) -> str:
    """A value as it appears in a message."""
    return f"'{value}'" if isinstance(value, str) else str(value)


def is_number_field(fdoc: Mapping[str, Any]) -> bool:
    """Whether sum and avg make sense over the field (lookups are given the benefit)."""
    ftype = Context.ftype(fdoc)
    if ftype is None or ftype.name == "lookup":
        return True
    return ftype.numeric and ftype.name not in DATE_TYPES


def computed_why(fdoc: Mapping[str, Any]) -> str | None:
    """Why a field is computed (formula, rollup, lookup, autonumber), or None for an input."""
    for key in ("formula", "rollup"):
        if key in fdoc:
            return key
    ftype = Context.ftype(fdoc)
    return ftype.name if ftype is not None and ftype.computed else None


def check_field(ctx: Context, ename: str, fname: str, fdoc: Mapping[str, Any]) -> None:
    """Every cross-check of one field that passed the meta-schema."""
    path: KeyPath = ("entities", ename, "fields", fname)
    tname = fdoc.get("type")
    ftype = ctx.ftype(fdoc)
    if ftype is None:
        names = registry.names()
        rank = {n: i for i, n in enumerate(DOCUMENTED_TYPES)}
        known = ", ".join(sorted(names, key=lambda n: rank.get(n, len(rank) + names.index(n))))
        ctx.error(
            (*path, "type"),
            N_("unknown field type '{type}' (known: {known})"),
            type=tname,
            known=known,
        )
        return
    applies = COMMON_KEYS | ftype.options
    for key in fdoc:
        if key not in applies:
            takes: str | Message = ", ".join(sorted(ftype.options)) or Message(
                N_("no keys of its own")
            )
            ctx.error(
                (*path, key),
                N_(
                    "'{key}' does not apply to {type} fields ({type} takes {takes}, besides the common keys)"
                ),
                key=key,
                type=tname,
                takes=takes,
            )
    for option, needed in NEEDS.items():
        if option in ftype.options:
            for key in needed:
                if key not in fdoc:
                    ctx.error(
                        (*path, key),
                        N_("'{key}' is required for {type} fields"),
                        key=key,
                        type=tname,
                    )
    given = {k: v for k, v in fdoc.items() if k in applies}
    spec = FieldSpec(fname, ftype.name, given, ctx.own(ename))
    _check_common(ctx, path, ftype, spec)
    if "to" in given:
        _check_target(ctx, path, ename, ftype, given)
    if "options" in given:
        _check_options(ctx, path, spec)
    if "max_length" in given and given["max_length"] > MAX_LENGTH:
        ctx.error((*path, "max_length"), N_("max_length is at most {max}"), max=f"{MAX_LENGTH:,}")
    precision = getattr(ftype, "precision", None)
    if "scale" in given and isinstance(precision, int) and given["scale"] >= precision:
        ctx.error(
            (*path, "scale"),
            N_("scale is at most {max} for {type} fields"),
            max=precision - 1,
            type=tname,
        )
    bounds_ok = _check_bounds(ctx, path, ftype, spec)
    if bounds_ok and given.get("default") is not None and "default" not in _misplaced(ftype, spec):
        try:
            ftype.from_json(given["default"], spec)
        except VALUE_ERRORS as exc:
            ctx.error((*path, "default"), value_message("default", given["default"], exc))
    if "formula" in given and "rollup" in given:
        ctx.error((*path, "rollup"), N_("a field has a formula or a rollup, not both"))
    if "formula" in given:
        check_expression(ctx, (*path, "formula"), given["formula"], ctx.own(ename), "formula")
    if "rollup" in given:
        _check_rollup(ctx, path, ename, ftype, mapping(given["rollup"]))
    if "via" in given and "field" in given:
        _check_lookup(ctx, path, ename, given)
    if "format" in given:
        _check_autonumber(ctx, (*path, "format"), str(given["format"]))
    if "renamed_from" in given:
        old = given["renamed_from"]
        problem = name_problem(old)
        if problem:
            ctx.error((*path, "renamed_from"), name_error(problem))
        elif old == fname:
            ctx.error((*path, "renamed_from"), N_("renamed_from names the field itself"))
        elif old in ctx.fields(ctx.own(ename)):
            ctx.error(
                (*path, "renamed_from"),
                N_("renamed_from '{old}' is the name of another field of {entity}"),
                old=old,
                entity=ename,
            )


def check_expression(
    ctx: Context, path: KeyPath, source: Any, qualified: str | None, what: str
) -> None:
    """An expression compiles and reads only fields of `qualified` (and helpers)."""
    if not isinstance(source, str):
        return
    fields = set(ctx.fields(qualified)) if qualified else set()
    try:
        unknown = unknown_names(source, fields)
    except ExpressionProblem as exc:
        ctx.error(path, N_("{what} does not compile: {detail}"), what=what, detail=str(exc))
        return
    if qualified is None:
        return
    for name in unknown:
        ctx.error(
            path,
            N_("{what} names '{name}', which is not a field of {entity}"),
            what=what,
            name=name,
            entity=ctx.show(qualified),
        )


def _misplaced(ftype: FieldType, spec: FieldSpec) -> set[str]:
    """The common keys given that make no sense for this field."""
    computed = ftype.computed or "formula" in spec.doc or "rollup" in spec.doc
    bad = set()
    if computed:
        bad |= {"required", "default"}
    if not ftype.has_column:
        bad |= {"default", "unique", "index"}
    else:
        try:
            json_column = isinstance(ftype.column_type(spec), sa.JSON)
        except Exception:  # a plugin's column_type may want more than the document holds
            json_column = False
        if json_column:
            bad |= {"unique", "index"}
    return bad & set(spec.doc)


def _check_common(ctx: Context, path: KeyPath, ftype: FieldType, spec: FieldSpec) -> None:
    for key in sorted(_misplaced(ftype, spec)):
        why = (
            N_("its value is computed")
            if key in ("required", "default")
            else N_("it has no column")
        )
        if key in ("unique", "index") and ftype.has_column:
            why = N_("its values are stored as JSON")
        ctx.error(
            (*path, key),
            N_("'{key}' does not apply to this {type} field: {why}"),
            key=key,
            type=ftype.name,
            why=Message(why),
        )


def _check_target(
    ctx: Context, path: KeyPath, ename: str, ftype: FieldType, fdoc: Mapping[str, Any]
) -> None:
    to = fdoc["to"]
    target, why = ctx.resolve(to)
    if target is None:
        ctx.error((*path, "to"), N_("links to '{to}', {why}"), to=to, why=why)
        return
    if ftype.name == "lines":
        if target.partition(".")[0] != ctx.app:
            ctx.error(
                (*path, "to"),
                N_("line items must be an entity of {app}, not '{to}'"),
                app=ctx.app,
                to=to,
            )
        elif target == ctx.own(ename):
            ctx.error((*path, "to"), N_("{entity} cannot be its own line items"), entity=ename)
    if fdoc.get("on_delete") == "set_null" and fdoc.get("required"):
        ctx.error(
            (*path, "on_delete"),
            N_("set_null cannot apply to a required link (use restrict or cascade)"),
        )


def _check_options(ctx: Context, path: KeyPath, spec: FieldSpec) -> None:
    seen: set[str] = set()
    for index, value in enumerate(option_values(spec)):
        if value in seen:
            ctx.error((*path, "options", index), N_("option '{value}' is given twice"), value=value)
        elif len(value) > MAX_OPTION_LENGTH:
            ctx.error(
                (*path, "options", index),
                N_("an option value is at most {max} characters"),
                max=MAX_OPTION_LENGTH,
            )
        seen.add(value)


def _check_bounds(ctx: Context, path: KeyPath, ftype: FieldType, spec: FieldSpec) -> bool:
    """min and max valid for the type, and min <= max; False when they are not."""
    bare = FieldSpec(
        spec.name,
        spec.type,
        {k: v for k, v in spec.doc.items() if k not in ("min", "max", "default")},
        spec.entity,
    )
    bounds: dict[str, Any] = {}
    ok = True
    for key in ("min", "max"):
        value = spec.doc.get(key)
        if value is None:
            continue
        try:
            bounds[key] = ftype.from_json(value, bare)
        except VALUE_ERRORS as exc:
            ctx.error((*path, key), value_message(key, value, exc))
            ok = False
    if len(bounds) == 2:
        try:
            wrong = bounds["min"] > bounds["max"]
        except TypeError:
            wrong = False
        if wrong:
            ctx.error(
                (*path, "max"),
                N_("max {max} is less than min {min}"),
                max=show(spec.doc["max"]),
                min=show(spec.doc["min"]),
            )
            ok = False
    return ok


def _check_rollup(
    ctx: Context, path: KeyPath, ename: str, ftype: FieldType, rollup: Mapping[str, Any]
) -> None:
    here = ctx.own(ename)
    over, agg = str(rollup.get("over")), rollup.get("agg")
    rpath = (*path, "rollup")
    child: str | None = None
    if "." not in over:
        lines = ctx.fields(here).get(over)
        if lines is None:
            ctx.error(
                (*rpath, "over"),
                N_("rollup over '{over}', which is not a field of {entity}"),
                over=over,
                entity=ename,
            )
        elif lines.get("type") != "lines":
            ctx.error(
                (*rpath, "over"),
                N_(
                    "rollup over '{over}', which is a {type} field: a rollup goes over "
                    "a lines field or a reverse link (entity.link_field)"
                ),
                over=over,
                type=lines.get("type"),
            )
        else:
            child = ctx.target(here, lines)
    else:
        ref, _, link_name = over.rpartition(".")
        source, why = ctx.resolve(ref)
        link = ctx.fields(source).get(link_name) if source else None
        if source is None:
            ctx.error(
                (*rpath, "over"),
                N_("rollup over '{over}': '{ref}' {why}"),
                over=over,
                ref=ref,
                why=why,
            )
        elif link is None or link.get("type") != "link":
            ctx.error(
                (*rpath, "over"),
                N_("rollup over '{over}': '{link}' is not a link field of {entity}"),
                over=over,
                link=link_name,
                entity=ctx.show(source),
            )
        elif ctx.target(source, link) != here:
            ctx.error(
                (*rpath, "over"),
                N_("rollup over '{over}': that link points at '{to}', not at {entity}"),
                over=over,
                to=link.get("to"),
                entity=ename,
            )
        else:
            child = source
    if child is None or ctx.entity(child) is None:
        return
    field = rollup.get("field")
    child_fields = ctx.fields(child)
    if field is None and agg != "count":
        ctx.error(
            rpath,
            N_("rollup {agg} needs 'field': the field of {entity} to aggregate"),
            agg=agg,
            entity=ctx.show(child),
        )
    elif field is not None and field not in child_fields:
        ctx.error((*rpath, "field"), NOT_A_FIELD, name=field, entity=ctx.show(child))
    elif (
        field is not None
        and agg in AGGREGATES_OF_NUMBERS
        and not is_number_field(child_fields[field])
    ):
        ctx.error(
            (*rpath, "field"),
            N_("rollup {agg} needs a number field; '{field}' is a {type} field"),
            agg=agg,
            field=field,
            type=child_fields[field].get("type"),
        )
    if ftype.name in DATE_TYPES and agg not in ("min", "max"):
        ctx.error(
            (*rpath, "agg"),
            N_("a rollup onto {type} fields is min or max, not {agg}"),
            type=ftype.name,
            agg=agg,
        )
    if "where" in rollup:
        check_expression(ctx, (*rpath, "where"), rollup["where"], child, "where")


def _check_lookup(ctx: Context, path: KeyPath, ename: str, fdoc: Mapping[str, Any]) -> None:
    here = ctx.own(ename)
    via, name = fdoc["via"], fdoc["field"]
    link = ctx.fields(here).get(via)
    if link is None:
        ctx.error(
            (*path, "via"),
            N_("lookup via '{via}', which is not a field of {entity}"),
            via=via,
            entity=ename,
        )
        return
    if link.get("type") != "link":
        ctx.error(
            (*path, "via"),
            N_("lookup via '{via}', which is a {type} field, not a link"),
            via=via,
            type=link.get("type"),
        )
        return
    target = ctx.target(here, link)
    if target is None or ctx.entity(target) is None:
        return  # the link's own `to` is reported
    copied = ctx.fields(target).get(name)
    if copied is None:
        ctx.error((*path, "field"), NOT_A_FIELD, name=name, entity=ctx.show(target))
    elif copied.get("type") in ("links", "lines"):
        ctx.error(
            (*path, "field"),
            N_("a lookup copies one value; '{name}' is a {type} field"),
            name=name,
            type=copied.get("type"),
        )


def _check_autonumber(ctx: Context, path: KeyPath, fmt: str) -> None:
    tokens = re.findall(r"\{([^{}]*)\}", fmt)
    if "{" in re.sub(r"\{[^{}]*\}", "", fmt) or "}" in re.sub(r"\{[^{}]*\}", "", fmt):
        ctx.error(path, N_("format '{format}' has an unmatched brace"), format=fmt)
        return
    known = "{yyyy}, {yy}, {mm}, {dd}, {seq}, {seq:0N}"
    for token in tokens:
        if token not in AUTONUMBER_TOKENS and not _SEQ.match(token):
            ctx.error(
                path,
                N_("format '{format}' has an unknown token {token} (known: {known})"),
                format=fmt,
                token=f"{{{token}}}",
                known=known,
            )
    if sum(1 for t in tokens if _SEQ.match(t)) != 1:
        ctx.error(
            path,
            N_("format '{format}' needs exactly one {seq} or {seq0n}"),
            format=fmt,
            seq="{seq}",
            seq0n="{seq:0N}",
        )
