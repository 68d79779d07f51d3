"""The workflow editor's forms -> workflow document parts (pure; no web objects).

Posted forms arrive as `name -> list of values`. Each function returns the document part, or
raises FlowProblem with an English text (translated by the page) for what the engine's
validator would report less clearly: a transition from no state, a name given twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from appblocks.views.designer_more_edits import label_of, label_parts

Lists = Mapping[str, Sequence[str]]
MODES = ("all", "any")


class FlowProblem(ValueError):
    """A form the editor refuses before asking the engine; `key` is the input it is about."""

    def __init__(self, key: str, text: str, **params: Any) -> None:
        super().__init__(text % params if params else text)
        self.key, self.text, self.params = key, text, params


def first(many: Lists, key: str, default: str = "") -> str:
    """The first value of an input, stripped."""
    values = many.get(key) or []
    return str(values[0]).strip() if values else default


def transition_body(many: Lists) -> tuple[str, dict[str, Any]]:
    """(name, transition) from the transition form."""
    name = first(many, "t_name")
    if not name:
        raise FlowProblem("t_name", "Give the transition a name.")
    sources = [s for s in many.get("from") or [] if s]
    if not sources:
        raise FlowProblem("from", "Choose at least one state the transition starts from.")
    target = first(many, "to")
    if not target:
        raise FlowProblem("to", "Choose the state the transition leads to.")
    body: dict[str, Any] = {"from": sources[0] if len(sources) == 1 else sources, "to": target}
    roles = [r for r in many.get("roles") or [] if r]
    if roles:
        body["roles"] = roles
    when = first(many, "when")
    if when:
        body["when"] = when
    if first(many, "comment_required"):
        body["comment_required"] = True
    label = label_of(first(many, "label_en"), first(many, "label_zh"))
    if label:
        body["label"] = label
    return name, body


def transition_values(name: str, tr: Mapping[str, Any]) -> dict[str, Any]:
    """A transition as the form's inputs show it."""
    en, zh = label_parts(tr.get("label"))
    sources = tr.get("from")
    return {
        "t_name": name,
        "label_en": en,
        "label_zh": zh,
        "from": [sources] if isinstance(sources, str) else list(sources or []),
        "to": str(tr.get("to") or ""),
        "roles": list(tr.get("roles") or []),
        "when": str(tr.get("when") or ""),
        "comment_required": bool(tr.get("comment_required")),
    }


def shown(failed: Mapping[str, Any] | None, form: str, key: str, default: Any) -> Any:
    """What an input of `form` shows: what was typed when that form was just refused, else
    `default` (a list for repeated inputs, a bool for a checkbox)."""
    if not failed or failed.get("form") != form:
        return default
    values = list(failed.get("lists", {}).get(key) or [])
    if isinstance(default, bool):
        return bool(values and values[0])
    if isinstance(default, list):
        return values
    return values[0] if values else ""


def state_body(many: Lists) -> tuple[str, dict[str, str] | None]:
    """(name, label) from a state form."""
    name = first(many, "state_name")
    if not name:
        raise FlowProblem("state_name", "Give the state a name.")
    return name, label_of(first(many, "label_en"), first(many, "label_zh"))


def approval_body(many: Lists, old: Mapping[str, Any] | None) -> dict[str, Any]:
    """An approval from its form: outcomes, self-approval and levels (one row each; a level's
    approvers other than roles, and other keys, are kept from the document)."""
    body: dict[str, Any] = {}
    label = label_of(first(many, "label_en"), first(many, "label_zh"))
    if label:
        body["label"] = label
    for key in ("approve_to", "reject_to"):
        body[key] = first(many, key)
        if not body[key]:
            raise FlowProblem(key, "Choose the state for each outcome.")
    if first(many, "allow_self_approval"):
        body["allow_self_approval"] = True
    old_levels = list((old or {}).get("levels") or [])
    names = list(many.get("level_name") or [])
    whens = list(many.get("level_when") or [])
    modes = list(many.get("level_mode") or [])
    levels = []
    for index, lname in enumerate(names):
        if first(many, f"level_drop_{index}"):
            continue
        level = dict(old_levels[index]) if index < len(old_levels) else {}
        level.pop("roles", None)
        roles = [r for r in many.get(f"level_roles_{index}") or [] if r]
        when = whens[index].strip() if index < len(whens) else ""
        if index >= len(old_levels) and not (lname.strip() or roles or when):
            continue  # the empty row for a new level, left empty
        if lname.strip():
            level["name"] = lname.strip()
        else:
            level.pop("name", None)
        if when:
            level["when"] = when
        else:
            level.pop("when", None)
        if roles:
            level["roles"] = roles
        mode = modes[index] if index < len(modes) else "all"
        if mode in MODES and not isinstance(level.get("mode"), Mapping):
            level["mode"] = mode
        if not level.get("roles") and not level.get("users") and not level.get("approvers"):
            raise FlowProblem(
                f"level_roles_{index}", "Level %(n)s needs at least one approver role.",
                n=index + 1,
            )  # fmt: skip
        levels.append(_ordered(level))
    if not levels:
        raise FlowProblem("levels", "An approval needs at least one level.")
    body["levels"] = levels
    return body


def _ordered(level: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "label", "when", "roles", "users", "approvers", "mode")
    return {**{k: level[k] for k in keys if k in level}, **level}
