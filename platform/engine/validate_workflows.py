"""Cross-checks of the workflow keys beyond states and transitions: approvals, timers, and the
recipients and transitions that workflow actions name (see docs/workflows.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from appblocks.engine.i18n import N_
from appblocks.engine.loader import KeyPath
from appblocks.engine.validate_context import (
    NOT_A_FIELD,
    NOT_A_ROLE,
    SYSTEM_FIELDS,
    Context,
    mapping,
)
from appblocks.engine.validate_fields import check_expression

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")  # as actions.render fills them
NOT_A_USER_FIELD = N_("'{name}' is a {type} field, not a user field")
NOT_A_STATE = N_("'{state}' is not a state of {workflow}")
NOT_A_DATE = N_("'{name}' is a {type} field, not a date")


def _check_user_ref(ctx: Context, path: KeyPath, entity: str | None, ref: Any) -> None:
    """A user named in a workflow: a literal name, `$user`, or `$record.<a user field>`."""
    if not isinstance(ref, str) or not ref.startswith("$") or ref == "$user" or entity is None:
        return
    field = ref.removeprefix("$record.")
    if field == ref:
        ctx.error(path, N_("'{ref}' is not a user name, $user or $record.<field>"), ref=ref)
    elif field not in ("_created_by", "_updated_by"):
        fdoc = ctx.fields(entity).get(field)
        if fdoc is None:
            ctx.error(path, NOT_A_FIELD, name=field, entity=ctx.show(entity))
        elif fdoc.get("type") != "user":
            ctx.error(path, NOT_A_USER_FIELD, name=field, type=fdoc.get("type"))


def _check_role(ctx: Context, path: KeyPath, role: Any) -> None:
    if role not in ctx.roles():
        ctx.error(path, NOT_A_ROLE, role=role, app=ctx.app)


def _names(path: KeyPath, value: Any) -> Iterator[tuple[KeyPath, Any]]:
    """(path, name) of a name or a list of names."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index), item
    elif value is not None:
        yield path, value


def check_workflow_actions(
    ctx: Context, path: KeyPath, actions: Any, entity: str | None, wf: Mapping[str, Any]
) -> None:
    """What check_actions leaves to workflows: whom `notify` names, the fields its texts
    fill in, and which `transition` a timer runs."""
    fields = set(ctx.fields(entity)) | SYSTEM_FIELDS if entity else set()
    for index, action in enumerate(actions if isinstance(actions, list) else []):
        action = mapping(action)
        for kind in ("notify", "escalate"):
            body = mapping(action.get(kind))
            for key in ("users", "user"):
                for where, ref in _names((*path, index, kind, key), body.get(key)):
                    _check_user_ref(ctx, where, entity, ref)
            for key in ("roles", "role"):
                for where, role in _names((*path, index, kind, key), body.get(key)):
                    _check_role(ctx, where, role)
            for key in ("subject", "body", "message"):
                for name in _PLACEHOLDER.findall(str(body.get(key) or "")):
                    if entity is not None and name not in fields:
                        ctx.error(
                            (*path, index, kind, key),
                            N_("placeholder '{placeholder}' is not a field of {entity}"),
                            placeholder=f"{{{name}}}",
                            entity=ctx.show(entity),
                        )
        if "transition" in action:
            name = action["transition"]
            name = mapping(name).get("name") if isinstance(name, Mapping) else name
            if name not in mapping(wf.get("transitions")):
                ctx.error(
                    (*path, index, "transition"),
                    N_("'{name}' is not a transition of this workflow"),
                    name=name,
                )


def check_approvals(
    ctx: Context,
    path: KeyPath,
    wf: Mapping[str, Any],
    states: set[str],
    entity: str | None,
    edges: dict[str, set[str]],
) -> None:
    """Approval states, where they lead, and each level's approvers, mode and condition."""
    for state, approval in mapping(wf.get("approvals")).items():
        apath = (*path, "approvals", state)
        approval = mapping(approval)
        if state not in states:
            ctx.error(apath, NOT_A_STATE, state=state, workflow=path[-1])
        for key in ("approve_to", "reject_to"):
            target = approval.get(key)
            if target not in states:
                ctx.error((*apath, key), NOT_A_STATE, state=target, workflow=path[-1])
            elif target == state:
                ctx.error(
                    (*apath, key), N_("{key} must lead out of '{state}'"), key=key, state=state
                )
            else:
                edges.setdefault(state, set()).add(str(target))
        seen: set[Any] = set()
        for index, level in enumerate(approval.get("levels") or []):
            lpath = (*apath, "levels", index)
            level = mapping(level)
            if "name" in level:
                if level["name"] in seen:
                    ctx.error(
                        (*lpath, "name"), N_("level '{level}' is given twice"), level=level["name"]
                    )
                seen.add(level["name"])
            count = sum(len(level.get(k) or []) for k in ("roles", "users", "approvers"))
            for i, role in enumerate(level.get("roles") or []):
                _check_role(ctx, (*lpath, "roles", i), role)
            for i, user in enumerate(level.get("users") or []):
                _check_user_ref(ctx, (*lpath, "users", i), entity, user)
            for i, item in enumerate(mapping(a) for a in level.get("approvers") or []):
                if "role" in item:
                    _check_role(ctx, (*lpath, "approvers", i, "role"), item["role"])
                _check_user_ref(ctx, (*lpath, "approvers", i, "user"), entity, item.get("user"))
            need = mapping(level.get("mode")).get("n")
            if isinstance(need, int) and need > count:
                ctx.error(
                    (*lpath, "mode", "n"),
                    N_("{need} approvals are needed but the level has {count} approver(s)"),
                    need=need,
                    count=count,
                )
            if "when" in level:
                check_expression(ctx, (*lpath, "when"), level["when"], entity, "when")


def check_timers(
    ctx: Context, path: KeyPath, wf: Mapping[str, Any], states: set[str], entity: str | None
) -> None:
    """Each timer's kind (after a time in a state, or before/past a date field) and actions."""
    timers = wf.get("timers")
    for index, timer in enumerate(timers if isinstance(timers, list) else []):
        tpath = (*path, "timers", index)
        timer = mapping(timer)
        kinds = [k for k in ("after", "before", "past") if k in timer]
        if len(kinds) != 1:
            ctx.error(
                tpath, N_("give one of: after (a time in a state), before or past (a date field)")
            )
        if "after" in timer and "in_state" not in timer:
            ctx.error(tpath, N_("a timer that runs 'after' a time needs in_state"))
        for where, state in _names((*tpath, "in_state"), timer.get("in_state")):
            if state not in states:
                ctx.error(where, NOT_A_STATE, state=state, workflow=path[-1])
        for key in ("before", "past"):
            if key in timer and entity is not None:
                fdoc = ctx.fields(entity).get(timer[key])
                if fdoc is None:
                    ctx.error((*tpath, key), NOT_A_FIELD, name=timer[key], entity=ctx.show(entity))
                elif fdoc.get("type") not in ("date", "datetime"):
                    ctx.error((*tpath, key), NOT_A_DATE, name=timer[key], type=fdoc.get("type"))
        if "when" in timer:
            check_expression(ctx, (*tpath, "when"), timer["when"], entity, "when")
        check_workflow_actions(ctx, (*tpath, "do"), timer.get("do"), entity, wf)
