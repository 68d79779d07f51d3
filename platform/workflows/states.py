"""The state machine: which transitions a user may run on a record, and running them.

`WorkflowEngine` is built once per catalog. A transition checks, in order: the user's roles
(403), the record's state (409), the `when` guard (409) and a required comment (422). It then
runs the old state's `on_exit` actions, cancels that state's timers and open approval tasks,
moves the record with `RecordStore.set_state` (audited with the comment), runs the new state's
`on_enter` actions, schedules its timers and opens its approval tasks: all in the caller's
transaction, so a failure anywhere leaves the record where it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.record_errors import VersionConflict
from appblocks.engine.records import RecordStore
from appblocks.engine.spec import EntitySpec, qualify
from appblocks.engine.users import Identity
from appblocks.workflows import approvals, timers
from appblocks.workflows.actions import Record, compile_actions, run_actions
from appblocks.workflows.specs import (
    TransitionSpec,
    WorkflowError,
    WorkflowSpec,
    clean_comment,
    role_name,
    workflows_of,
)

# An approval state whose chain is empty moves on at once; a chain of such moves is bounded
# so that two states sending a record to each other cannot loop.
MAX_AUTOMATIC_MOVES = 8


class TransitionError(WorkflowError):
    """A transition that cannot run; subclasses say why (and carry the HTTP status)."""

    code = "transition_error"


class UnknownTransition(TransitionError):
    """The entity has no workflow, or its workflow no transition of that name: 404."""

    status = 404
    code = "transition_unknown"


class TransitionForbidden(TransitionError):
    """The user holds none of the roles that may run the transition: 403."""

    status = 403
    code = "transition_forbidden"


class TransitionConflict(TransitionError):
    """The record is in another state, or the `when` guard does not hold: 409."""

    status = 409
    code = "transition_conflict"


class CommentRequired(TransitionError):
    """The transition needs a comment and none was given: 422."""

    status = 422
    code = "comment_required"


@dataclass(frozen=True)
class TransitionInfo:
    """A transition the user may run from the record's state, and whether `when` lets it now."""

    name: str
    label: str
    to: str
    allowed: bool
    reason: str | None
    comment_required: bool


class WorkflowEngine:
    """Every workflow of a catalog, compiled once; runs transitions on records."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.workflows: dict[str, WorkflowSpec] = {}
        for wf in workflows_of(catalog.blueprints):
            self.workflows[wf.entity] = wf
            for actions in (*wf.on_enter.values(), *wf.on_exit.values()):
                compile_actions(actions)
            for timer in wf.timers:
                compile_actions(timer.do)
        # Roles whose permissions list a transition by name may run it too (as in access.py).
        self.granted: dict[tuple[str, str], set[str]] = {}
        for app, bp in catalog.blueprints.items():
            for role, doc in (bp.get("roles") or {}).items():
                for ref, grant in ((doc or {}).get("permissions") or {}).items():
                    allowed = grant if isinstance(grant, list) else (grant or {}).get("actions")
                    for action in allowed or ():
                        key = (qualify(app, str(ref)), str(action))
                        self.granted.setdefault(key, set()).add(role_name(str(role)))

    # --- reading ------------------------------------------------------------------------------

    def workflow_for(self, entity: str) -> WorkflowSpec | None:
        """The workflow that owns `entity` (qualified), or None."""
        return self.workflows.get(entity)

    def initial_computer(
        self,
        conn: sa.Connection,
        spec: EntitySpec,
        values: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> Mapping[str, Any]:
        """The records `computer` hook: a new record starts in its workflow's initial state."""
        wf = self.workflows.get(spec.qualified) if old is None else None
        return {"_state": wf.initial} if wf is not None else {}

    def roles_for(self, wf: WorkflowSpec, tr: TransitionSpec) -> frozenset[str]:
        """The roles that may run a transition (none: every user who may reach the record)."""
        return tr.roles | frozenset(self.granted.get((wf.entity, tr.name), ()))

    def may_run(self, wf: WorkflowSpec, tr: TransitionSpec, identity: Identity) -> bool:
        """Whether the identity's roles let it run the transition (admin always may)."""
        roles = self.roles_for(wf, tr)
        return not roles or identity.is_admin or bool(roles & identity.roles)

    @staticmethod
    def state_of(wf: WorkflowSpec, record: Mapping[str, Any]) -> str:
        """The record's state; a record from before its workflow existed is in `initial`."""
        return str(record.get("_state") or wf.initial)

    def available(
        self, identity: Identity, entity: str, record: Mapping[str, Any]
    ) -> list[TransitionInfo]:
        """Transitions from the record's state that the identity's roles allow, in document
        order, each with whether its `when` holds now (and why not)."""
        wf = self.workflows.get(entity)
        if wf is None:
            return []
        state = self.state_of(wf, record)
        out = []
        for tr in wf.transitions.values():
            if state not in tr.sources or not self.may_run(wf, tr, identity):
                continue
            reason = tr.when.why_not(record, identity) if tr.when else None
            locale = identity.locale or "en"
            out.append(
                TransitionInfo(
                    tr.name, tr.title(locale), tr.to, reason is None, reason, tr.comment_required
                )
            )
        return out

    # --- running ------------------------------------------------------------------------------

    def lock(self, conn: sa.Connection, entity: str, id: Any) -> None:
        """Hold the record's row until commit (PostgreSQL), so that decisions and transitions
        on one record run one after another and each sees what the last one did."""
        try:
            record_id = int(id)
        except (TypeError, ValueError):
            return  # not an id: the store's read reports the record as not found
        if conn.dialect.name == "postgresql":
            table = self.catalog.table(entity)
            conn.execute(sa.select(table.c.id).where(table.c.id == record_id).with_for_update())

    def check(
        self,
        wf: WorkflowSpec,
        tr: TransitionSpec,
        identity: Identity,
        record: Mapping[str, Any],
        comment: str | None,
        *,
        bypass_roles: bool = False,
    ) -> None:
        """Raise why the identity may not run `tr` on the record now; return when it may."""
        if not bypass_roles and not self.may_run(wf, tr, identity):
            roles = ", ".join(sorted(self.roles_for(wf, tr)))
            raise TransitionForbidden(
                f"'{tr.name}' needs one of the roles: {roles}", transition=tr.name, roles=roles
            )
        state = self.state_of(wf, record)
        if state not in tr.sources:
            sources = ", ".join(sorted(tr.sources))
            raise TransitionConflict(
                f"'{tr.name}' runs from {sources}; the record is in '{state}'",
                code="transition_wrong_state",
                transition=tr.name,
                state=state,
            )
        reason = tr.when.why_not(record, identity) if tr.when else None
        if reason is not None:
            raise TransitionConflict(
                f"'{tr.name}' cannot run: {reason}",
                code="transition_condition",
                transition=tr.name,
                reason=reason,
            )
        if tr.comment_required and not comment:
            raise CommentRequired(f"'{tr.name}' needs a comment", transition=tr.name)

    def transition(
        self,
        conn: sa.Connection,
        store: RecordStore,
        entity: str,
        id: Any,
        name: str,
        identity: Identity,
        *,
        comment: str | None = None,
        version: int | None = None,
        scope: Any = None,
        bypass_roles: bool = False,
    ) -> Record:
        """Run transition `name` on a record as `identity`; the record after it.

        `version` (optional) must match the record's `_version`; `scope` is the caller's record
        rule (outside it the record is not found); `bypass_roles` is for system actors such
        as timers, which still obey `when`."""
        wf = self.workflows.get(entity)
        tr = wf.transitions.get(name) if wf is not None else None
        if wf is None or tr is None:
            raise UnknownTransition(
                f"{entity} has no transition '{name}'", entity=entity, transition=name
            )
        self.lock(conn, entity, id)
        record = store.get(conn, entity, id, scope=scope)
        if version is not None and record["_version"] != version:
            raise VersionConflict(entity, record["id"], record["_version"])
        comment = clean_comment(comment)
        self.check(wf, tr, identity, record, comment, bypass_roles=bypass_roles)
        return self.move(conn, store, wf, record, tr.to, identity, comment=comment)

    def move(
        self,
        conn: sa.Connection,
        store: RecordStore,
        wf: WorkflowSpec,
        record: Mapping[str, Any],
        to: str,
        actor: Identity,
        *,
        comment: str | None = None,
        depth: int = 0,
    ) -> Record:
        """Move a record to `to` with every effect of leaving and entering (no checks: callers
        check first); the record after it."""
        if depth > MAX_AUTOMATIC_MOVES:
            raise TransitionConflict(
                f"approvals with no level that applies send the record round in a circle at '{to}'"
            )
        entity, old = wf.entity, self.state_of(wf, record)
        current = run_actions(
            conn, store, wf.on_exit.get(old, ()), entity, record, actor=actor,
            catalog=self.catalog, path=f"on_exit.{old}",
        )  # fmt: skip
        timers.cancel_state_timers(conn, wf, current["id"], old)
        if old in wf.approvals:
            approvals.cancel_tasks(conn, entity, current["id"], step=old)
        current = store.set_state(
            conn, entity, current["id"], to, version=current["_version"], actor=actor.name,
            comment=comment,
        )  # fmt: skip
        current = run_actions(
            conn, store, wf.on_enter.get(to, ()), entity, current, actor=actor,
            catalog=self.catalog, path=f"on_enter.{to}",
        )  # fmt: skip
        timers.schedule_state_timers(conn, wf, current)
        spec = wf.approvals.get(to)
        if spec is not None and not approvals.open_tasks(
            conn, wf, spec, current, requested_by=actor.name
        ):
            # No level applies to this record: nothing to approve, so it is approved.
            current = self.move(
                conn, store, wf, current, spec.approve_to, actor, comment=comment, depth=depth + 1
            )
        return current
