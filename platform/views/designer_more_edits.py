"""Pure edits of workflow and role documents, as the designer's forms ask for them.

Each function takes a document and returns a new one (the input is never changed), keeping
every key the editor does not show (hooks, timers, import/export grants). Renaming or removing
a state carries the change to every place that names it, so one edit stays one consistent
document; whatever still does not fit is for the validator to say.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from appblocks.views.designer_more_layout import states_of


def label_of(en: str, zh: str) -> dict[str, str] | None:
    """A label map from the two inputs (None when both are empty)."""
    out = {k: v.strip() for k, v in (("en", en), ("zh-CN", zh)) if v.strip()}
    return out or None


def label_parts(label: Any) -> tuple[str, str]:
    """(en, zh-CN) of a label for the two inputs (a plain string counts as English)."""
    if isinstance(label, Mapping):
        return str(label.get("en") or ""), str(label.get("zh-CN") or "")
    return (str(label), "") if label else ("", "")


def _put_label(body: dict[str, Any], key: str, label: dict[str, str] | None) -> None:
    if label:
        body[key] = label
    else:
        body.pop(key, None)


# --- workflow states ------------------------------------------------------------------------


def _state_items(wf: Mapping[str, Any]) -> list[Any]:
    return list(copy.deepcopy(wf.get("states") or []))


def _state_name(item: Any) -> str:
    return str(item.get("name")) if isinstance(item, Mapping) else str(item)


def _sources(tr: Mapping[str, Any]) -> list[str]:
    value = tr.get("from")
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def _set_sources(tr: dict[str, Any], sources: list[str]) -> None:
    tr["from"] = sources[0] if len(sources) == 1 else sources


def add_state(
    wf: Mapping[str, Any], name: str, label: dict[str, str] | None = None
) -> dict[str, Any]:
    """A new state at the end."""
    out = copy.deepcopy(dict(wf))
    out["states"] = [*_state_items(wf), {"name": name, "label": label} if label else name]
    return out


def set_state(
    wf: Mapping[str, Any], name: str, new_name: str, label: dict[str, str] | None
) -> dict[str, Any]:
    """Rename a state (everywhere it is named) and set its label."""
    out = rename_state(wf, name, new_name) if new_name != name else copy.deepcopy(dict(wf))
    items = []
    for item in out.get("states") or []:
        if _state_name(item) == new_name:
            item = {"name": new_name, "label": label} if label else new_name
        items.append(item)
    out["states"] = items
    return out


def rename_state(wf: Mapping[str, Any], old: str, new: str) -> dict[str, Any]:
    """`old` becomes `new` in the states, initial, transitions, approvals, hooks and timers."""
    out = copy.deepcopy(dict(wf))
    swap = lambda s: new if s == old else s  # noqa: E731
    items = []
    for item in out.get("states") or []:
        if isinstance(item, dict) and item.get("name") == old:
            item["name"] = new
        items.append(new if item == old else item)
    out["states"] = items
    if out.get("initial") == old:
        out["initial"] = new
    for tr in (out.get("transitions") or {}).values():
        _set_sources(tr, [swap(s) for s in _sources(tr)])
        tr["to"] = swap(tr.get("to"))
    approvals = out.get("approvals")
    if isinstance(approvals, dict):
        out["approvals"] = {swap(k): v for k, v in approvals.items()}
        for approval in out["approvals"].values():
            for key in ("approve_to", "reject_to"):
                if key in approval:
                    approval[key] = swap(approval[key])
    for hook in ("on_enter", "on_exit"):
        if isinstance(out.get(hook), dict):
            out[hook] = {swap(k): v for k, v in out[hook].items()}
    for timer in out.get("timers") or []:
        where = timer.get("in_state")
        if isinstance(where, list):
            timer["in_state"] = [swap(s) for s in where]
        elif where is not None:
            timer["in_state"] = swap(where)
    return out


def remove_state(wf: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Drop a state with the transitions into it, its approval and hooks; transitions from
    it and other states lose it from their `from`."""
    out = copy.deepcopy(dict(wf))
    out["states"] = [s for s in out.get("states") or [] if _state_name(s) != name]
    kept = {}
    for tname, tr in (out.get("transitions") or {}).items():
        sources = [s for s in _sources(tr) if s != name]
        if tr.get("to") == name or not sources:
            continue
        _set_sources(tr, sources)
        kept[tname] = tr
    out["transitions"] = kept
    for key in ("approvals", "on_enter", "on_exit"):
        if isinstance(out.get(key), dict):
            out[key].pop(name, None)
            if not out[key]:
                out.pop(key)
    return out


def move_state(wf: Mapping[str, Any], name: str, delta: int) -> dict[str, Any]:
    """Move a state up (-1) or down (+1) in the list."""
    out = copy.deepcopy(dict(wf))
    items = _state_items(wf)
    index = next((i for i, s in enumerate(items) if _state_name(s) == name), None)
    if index is None:
        return out
    target = max(0, min(len(items) - 1, index + delta))
    items.insert(target, items.pop(index))
    out["states"] = items
    return out


def state_names(wf: Mapping[str, Any]) -> list[str]:
    """The state names in order."""
    return [name for name, _ in states_of(wf)]


# --- transitions and approvals --------------------------------------------------------------


def put_transition(
    wf: Mapping[str, Any],
    old: str | None,
    name: str,
    body: Mapping[str, Any],
) -> dict[str, Any]:
    """Add a transition, or replace `old` (renamed to `name` in place; timers follow)."""
    out = copy.deepcopy(dict(wf))
    transitions = dict(out.get("transitions") or {})
    if old and old in transitions:
        transitions = {(name if k == old else k): v for k, v in transitions.items()}
    transitions[name] = {k: v for k, v in body.items() if v not in (None, "", [], False)}
    out["transitions"] = transitions
    if old and old != name:
        for timer in out.get("timers") or []:
            for action in timer.get("do") or []:
                ref = action.get("transition") if isinstance(action, dict) else None
                if ref == old:
                    action["transition"] = name
                elif isinstance(ref, dict) and ref.get("name") == old:
                    ref["name"] = name
    return out


def remove_transition(wf: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Drop a transition."""
    out = copy.deepcopy(dict(wf))
    out["transitions"] = {k: v for k, v in (out.get("transitions") or {}).items() if k != name}
    return out


def put_approval(
    wf: Mapping[str, Any], state: str, approval: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Set (or with None remove) the approval that happens in a state."""
    out = copy.deepcopy(dict(wf))
    approvals = dict(out.get("approvals") or {})
    if approval is None:
        approvals.pop(state, None)
    else:
        approvals[state] = dict(approval)
    if approvals:
        out["approvals"] = approvals
    else:
        out.pop("approvals", None)
    return out


# --- roles ----------------------------------------------------------------------------------


def grant_parts(grant: Any) -> tuple[list[str], dict[str, Any], dict[str, str]]:
    """(actions, where, fields) of one permission, in either form."""
    if isinstance(grant, Mapping):
        return (
            [str(a) for a in grant.get("actions") or []],
            dict(grant.get("where") or {}),
            {str(k): str(v) for k, v in (grant.get("fields") or {}).items()},
        )
    return [str(a) for a in grant or []], {}, {}


def _grant(actions: list[str], where: Mapping[str, Any], fields: Mapping[str, str]) -> Any:
    if not where and not fields:
        return actions
    out: dict[str, Any] = {"actions": actions}
    if where:
        out["where"] = dict(where)
    if fields:
        out["fields"] = dict(fields)
    return out


def _with_grant(role: Mapping[str, Any], entity: str, grant: Any) -> dict[str, Any]:
    out = copy.deepcopy(dict(role))
    permissions = dict(out.get("permissions") or {})
    if grant == []:
        permissions.pop(entity, None)
    else:
        permissions[entity] = grant
    out["permissions"] = permissions
    return out


def set_action(role: Mapping[str, Any], entity: str, action: str, on: bool) -> dict[str, Any]:
    """Grant or take back one action on an entity (a grant with no action left is removed,
    unless it still carries a record rule or field rules)."""
    actions, where, fields = grant_parts((role.get("permissions") or {}).get(entity))
    if on and action not in actions:
        actions.append(action)
    elif not on:
        actions = [a for a in actions if a != action]
    return _with_grant(role, entity, _grant(actions, where, fields))


def set_rules(
    role: Mapping[str, Any],
    entity: str,
    where: Mapping[str, Any] | None,
    fields: Mapping[str, str],
    actions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Set the record rule and field rules (and, when given, the actions) of one grant;
    fields left at `write` are the default and are not written."""
    old, _, _ = grant_parts((role.get("permissions") or {}).get(entity))
    kept = {k: v for k, v in fields.items() if v in ("hidden", "read")}
    chosen = list(actions) if actions is not None else old
    return _with_grant(role, entity, _grant(chosen, where or {}, kept))


def new_role(label: dict[str, str] | None, portal: bool) -> dict[str, Any]:
    """A role document with no permissions yet."""
    body: dict[str, Any] = {}
    _put_label(body, "label", label)
    if portal:
        body["portal"] = True
    body["permissions"] = {}
    return body
