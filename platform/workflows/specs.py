"""Workflow documents compiled once into frozen specs: states, transitions, approvals, timers.

The documents were validated on import (`engine.validate_documents`), so building a spec only
normalises shapes (a state or a list, a role or `app.role`) and compiles every expression up
front; a spec is then read, never changed, on every transition, decision and timer.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from appblocks.engine.sandbox import ExpressionError, UserContext, compile_expression
from appblocks.engine.spec import label_text, qualify
from appblocks.engine.users import Identity

Actions = tuple[Mapping[str, Any], ...]
Record = Mapping[str, Any]

_DURATION = re.compile(r"^\s*([1-9][0-9]{0,5})\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
RECORD_REF = "$record."
SYSTEM = Identity("system")  # timers act as this identity (roles are not checked for it)


class WorkflowError(Exception):
    """Base of the errors workflows raise on purpose; `status` is the HTTP status to answer."""

    status = 400
    code = "workflow_error"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.params = params


class WorkflowSpecError(ValueError):
    """A workflow document the engine cannot compile (validation should have caught it)."""


def parse_duration(text: str) -> dt.timedelta:
    """`30m`, `4h`, `3d` or `2w` as a timedelta; raises WorkflowSpecError."""
    match = _DURATION.match(str(text))
    if match is None:
        raise WorkflowSpecError(f"'{text}' is not a duration (use 30m, 4h, 3d or 2w)")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def role_name(ref: str) -> str:
    """The role a user holds for a role reference: `crm.sales_rep` -> `sales_rep`."""
    return ref.rpartition(".")[2]


def user_context(identity: Identity | None) -> UserContext | None:
    """The `user` an expression sees for an identity."""
    if identity is None:
        return None
    return UserContext(identity.name, frozenset(identity.roles), dict(identity.attributes))


def as_list(value: Any) -> list[Any]:
    """A value that may be one item or a list of them, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def clean_comment(comment: Any) -> str | None:
    """A comment stripped, or None when it is empty."""
    text = str(comment).strip() if comment is not None else ""
    return text or None


def record_value(record: Record, ref: str) -> Any:
    """`$record.<field>` read from a record; any other text is itself."""
    return record.get(ref[len(RECORD_REF) :]) if ref.startswith(RECORD_REF) else ref


@dataclass(frozen=True)
class Condition:
    """A compiled `when`: an expression over the record's fields and `user`."""

    source: str

    def __post_init__(self) -> None:
        try:
            compile_expression(self.source)  # cached by source: later calls are free
        except ExpressionError as exc:
            raise WorkflowSpecError(f"`{self.source}`: {exc.message}") from None

    def holds(self, record: Record, identity: Identity | None = None) -> bool:
        """Whether the condition holds for the record; raises ExpressionError."""
        return bool(compile_expression(self.source).evaluate(record, user=user_context(identity)))

    def why_not(self, record: Record, identity: Identity | None = None) -> str | None:
        """None when the condition holds for the record, else why it does not."""
        try:
            ok = self.holds(record, identity)
        except ExpressionError as exc:
            return f"the condition `{self.source}` could not be evaluated: {exc.message}"
        return None if ok else f"the condition `{self.source}` does not hold"


def _condition(source: Any) -> Condition | None:
    return Condition(str(source)) if source else None


@dataclass(frozen=True)
class TransitionSpec:
    """A named move from one of `sources` to `to`, for `roles` (all, when empty), if `when`."""

    name: str
    sources: frozenset[str]
    to: str
    roles: frozenset[str]
    when: Condition | None
    comment_required: bool
    label: Any

    def title(self, locale: str = "en") -> str:
        """The transition's label in `locale`."""
        return label_text(self.label, locale, self.name.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Approver:
    """One approver of a level: a role (any holder decides) or a user (a name or `$record.f`)."""

    role: str | None = None
    user: str | None = None

    def assignee(self, record: Record) -> tuple[str | None, str | None]:
        """(user, role) the task goes to for this record; user None when `$record.f` is empty."""
        if self.role is not None:
            return None, self.role
        value = record_value(record, self.user or "")
        return (str(value) if value else None), None


@dataclass(frozen=True)
class Level:
    """One level of an approval chain: its approvers, how many must approve, and when it applies."""

    position: int  # 1-based, as stored on the tasks
    name: str
    approvers: tuple[Approver, ...]
    need: int
    when: Condition | None


@dataclass(frozen=True)
class ApprovalSpec:
    """Approval in `state`: levels run in order, then the record moves to `approve_to`."""

    state: str
    approve_to: str
    reject_to: str
    allow_self_approval: bool
    levels: tuple[Level, ...]

    def level(self, position: int) -> Level | None:
        """The level at a 1-based position, or None when the document no longer has it."""
        return self.levels[position - 1] if 0 < position <= len(self.levels) else None


@dataclass(frozen=True)
class TimerSpec:
    """A timer: `after` a time in a state, or `offset` from a date field; runs `do`."""

    index: int
    do: Actions
    in_state: frozenset[str]
    after: dt.timedelta | None
    date_field: str | None
    offset: dt.timedelta
    when: Condition | None

    def due(self, record: Record) -> dt.datetime | None:
        """When a date timer is due for the record (midnight UTC of the shifted date)."""
        value = record.get(self.date_field or "")
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        elif isinstance(value, dt.date):
            stamp = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        else:
            return None
        return stamp + self.offset


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow compiled: the state machine of one entity's records."""

    app: str
    name: str
    entity: str
    initial: str
    states: tuple[str, ...]
    labels: Mapping[str, Any]
    transitions: Mapping[str, TransitionSpec]
    on_enter: Mapping[str, Actions]
    on_exit: Mapping[str, Actions]
    approvals: Mapping[str, ApprovalSpec]
    timers: tuple[TimerSpec, ...]

    def state_label(self, state: str, locale: str = "en") -> str:
        """A state's label in `locale`."""
        return label_text(self.labels.get(state), locale, state.replace("_", " ").capitalize())


def _approvers(level: Mapping[str, Any]) -> tuple[Approver, ...]:
    found = [Approver(role=role_name(str(r))) for r in as_list(level.get("roles"))]
    found += [Approver(user=str(u)) for u in as_list(level.get("users"))]
    for item in level.get("approvers") or []:
        if "role" in item:
            found.append(Approver(role=role_name(str(item["role"]))))
        else:
            found.append(Approver(user=str(item["user"])))
    return tuple(found)


def _need(mode: Any, count: int) -> int:
    if isinstance(mode, Mapping):
        return max(1, min(int(mode.get("n", count)), count))
    return 1 if mode == "any" else count  # `all` is the default: the safer reading


def _approval(state: str, doc: Mapping[str, Any]) -> ApprovalSpec:
    levels = []
    for position, level in enumerate(doc.get("levels") or [], start=1):
        approvers = _approvers(level)
        if not approvers:
            raise WorkflowSpecError(f"approval level {position} in '{state}' has no approvers")
        levels.append(
            Level(
                position,
                str(level.get("name") or f"level_{position}"),
                approvers,
                _need(level.get("mode", "all"), len(approvers)),
                _condition(level.get("when")),
            )
        )
    return ApprovalSpec(
        state,
        str(doc["approve_to"]),
        str(doc["reject_to"]),
        bool(doc.get("allow_self_approval", False)),
        tuple(levels),
    )


def _timer(index: int, doc: Mapping[str, Any]) -> TimerSpec:
    date_field, offset, after = None, dt.timedelta(0), None
    if "before" in doc or "past" in doc:
        date_field = str(doc.get("before") or doc.get("past"))
        days = dt.timedelta(days=int(doc.get("days", 0)))
        offset = -days if "before" in doc else days
    else:
        after = parse_duration(str(doc["after"]))
        if not doc.get("in_state"):
            raise WorkflowSpecError(f"timer {index} runs 'after' a time but names no in_state")
    return TimerSpec(
        index,
        tuple(doc.get("do") or ()),
        frozenset(str(s) for s in as_list(doc.get("in_state"))),
        after,
        date_field,
        offset,
        _condition(doc.get("when")),
    )


def _hooks(doc: Any) -> dict[str, Actions]:
    return {str(state): tuple(actions or ()) for state, actions in (doc or {}).items()}


def build_workflow(app: str, name: str, doc: Mapping[str, Any]) -> WorkflowSpec:
    """Compile one workflow document of `app`."""
    states: list[str] = []
    labels: dict[str, Any] = {}
    for state in doc["states"]:
        state_name = str(state["name"] if isinstance(state, Mapping) else state)
        states.append(state_name)
        if isinstance(state, Mapping) and "label" in state:
            labels[state_name] = state["label"]
    transitions = {
        str(tname): TransitionSpec(
            str(tname),
            frozenset(str(s) for s in as_list(tr["from"])),
            str(tr["to"]),
            frozenset(role_name(str(r)) for r in tr.get("roles") or ()),
            _condition(tr.get("when")),
            bool(tr.get("comment_required", False)),
            tr.get("label"),
        )
        for tname, tr in (doc.get("transitions") or {}).items()
    }
    approvals = {str(s): _approval(str(s), a) for s, a in (doc.get("approvals") or {}).items()}
    timers = tuple(_timer(i, t) for i, t in enumerate(doc.get("timers") or ()))
    return WorkflowSpec(
        app,
        name,
        qualify(app, str(doc["entity"])),
        str(doc["initial"]),
        tuple(states),
        labels,
        transitions,
        _hooks(doc.get("on_enter")),
        _hooks(doc.get("on_exit")),
        approvals,
        timers,
    )


def workflows_of(blueprints: Mapping[str, Mapping[str, Any]]) -> list[WorkflowSpec]:
    """Every workflow of a set of installed blueprints, compiled."""
    return [
        build_workflow(app, str(name), doc)
        for app, bp in blueprints.items()
        for name, doc in (bp.get("workflows") or {}).items()
    ]


def role_holders(roles: Sequence[str], identity: Identity) -> bool:
    """Whether the identity holds any of `roles` (names as users hold them)."""
    return any(role_name(r) in identity.roles for r in roles)
