"""The state machine: initial state, who may run what, guards, comments, actions, validation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from appblocks.engine.loader import load_blueprint
from appblocks.engine.record_errors import NotFound, VersionConflict
from appblocks.engine.users import Identity
from appblocks.engine.validate import validate_blueprint
from appblocks.workflows.actions import ActionError, render, run_actions
from appblocks.workflows.specs import WorkflowError, parse_duration
from appblocks.workflows.states import (
    CommentRequired,
    TransitionConflict,
    TransitionForbidden,
    UnknownTransition,
)

from .wf_kit import CONTRACT, PO, World, doc_blueprints, make_world


@pytest.fixture
def world(engine: sa.Engine) -> World:
    return make_world(engine)


def test_state_docs_example_is_a_valid_blueprint(tmp_path: Any) -> None:
    blueprints = doc_blueprints()
    for app, bp in blueprints.items():
        path = tmp_path / f"{app}.yaml"
        path.write_text(yaml.safe_dump(bp, allow_unicode=True), "utf-8")
        others = {a: b for a, b in blueprints.items() if a != app}
        assert [str(e) for e in validate_blueprint(load_blueprint(path), others)] == []


def test_state_new_record_starts_in_initial_state(world: World) -> None:
    po = world.po(500)
    assert po["_state"] == "draft"
    assert world.get(PO, po["id"])["_state"] == "draft"
    assert world.create(CONTRACT, {"name": "Lease"}, by="lena")["_state"] == "draft"


def test_state_submit_runs_on_exit_and_opens_approval(world: World) -> None:
    po = world.po(500)
    after = world.run(PO, po["id"], "submit", "bob")
    assert after["_state"] == "pending"
    assert isinstance(after["submitted_at"], dt.datetime)  # on_exit of draft
    assert after["_version"] > po["_version"]
    assert [(t.assignee_role, t.status, t.requested_by) for t in world.tasks(po["id"])] == [
        ("purchasing_manager", "open", "bob")
    ]


def test_state_transition_needs_a_role(world: World) -> None:
    po = world.po(500)
    with pytest.raises(TransitionForbidden) as caught:
        world.run(PO, po["id"], "submit", "mia")
    assert caught.value.status == 403
    assert "buyer" in caught.value.message
    assert world.get(PO, po["id"])["_state"] == "draft"
    assert world.run(PO, po["id"], "submit", "root")["_state"] == "pending"  # admin may


def test_state_transition_from_the_wrong_state_conflicts(world: World) -> None:
    po = world.po(500)
    world.run(PO, po["id"], "submit", "bob")
    with pytest.raises(TransitionConflict) as caught:
        world.run(PO, po["id"], "submit", "bob")
    assert (caught.value.status, caught.value.code) == (409, "transition_wrong_state")
    assert "'pending'" in caught.value.message


def test_state_when_false_conflicts_with_the_reason(world: World) -> None:
    po = world.po(0)
    with pytest.raises(TransitionConflict) as caught:
        world.run(PO, po["id"], "submit", "bob")
    assert caught.value.code == "transition_condition"
    assert "`total > 0` does not hold" in caught.value.message
    assert world.history(PO, po["id"])[0]["action"] == "create"  # nothing else happened


def test_state_comment_required(world: World) -> None:
    po = world.po(500)
    for comment in (None, "   "):
        with pytest.raises(CommentRequired) as caught:
            world.run(PO, po["id"], "cancel", "bob", comment)
        assert caught.value.status == 422
    after = world.run(PO, po["id"], "cancel", "bob", "  wrong supplier ")
    assert after["_state"] == "cancelled"
    top = world.history(PO, po["id"])[0]
    assert (top["actor"], top["before"], top["after"], top["comment"]) == (
        "bob", {"_state": "draft"}, {"_state": "cancelled"}, "wrong supplier",
    )  # fmt: skip
    assert isinstance(top["at"], dt.datetime)


def test_state_unknown_transition_and_record(world: World) -> None:
    po = world.po(500)
    with pytest.raises(UnknownTransition) as caught:
        world.run(PO, po["id"], "approve", "bob")
    assert caught.value.status == 404
    with pytest.raises(UnknownTransition):
        world.run("finance.commitment", 1, "submit", "bob")
    with pytest.raises(NotFound):
        world.run(PO, 999, "submit", "bob")


def test_state_stale_version_conflicts(world: World) -> None:
    po = world.po(500)
    bob = world.who("bob")
    with world.db.begin() as conn, pytest.raises(VersionConflict):
        world.wf.transition(conn, world.store, PO, po["id"], "submit", bob, version=2)


def test_state_available_lists_what_the_user_may_run(world: World) -> None:
    bob, mia = world.who("bob"), world.who("mia")
    po = world.po(500)
    infos = {i.name: i for i in world.wf.available(bob, PO, po)}
    assert sorted(infos) == ["cancel", "submit"]
    assert infos["submit"].allowed and infos["submit"].label == "Submit"
    assert infos["cancel"].comment_required
    assert world.wf.available(mia, PO, po) == []
    zero = world.po(0)
    submit = {i.name: i for i in world.wf.available(bob, PO, zero)}["submit"]
    assert not submit.allowed and "total > 0" in (submit.reason or "")
    zh = Identity("bob", frozenset({"buyer"}), locale="zh-CN")
    assert {i.name: i.label for i in world.wf.available(zh, PO, po)}["submit"] == "提交"


def test_state_actions_set_create_and_notify(world: World) -> None:
    po = world.po(750, budget_owner="olga")
    actions: list[dict[str, Any]] = [
        {"set": {"total": "total * 2"}},
        {"notify": {"users": ["$record.budget_owner", "$user"], "roles": "cfo",
                    "subject": "{number}: {total} {number.__class__} {missing}"}},
        {"create": {"entity": "finance.commitment", "values": {"reference": "number + '-x'"}}},
    ]  # fmt: skip
    mia = world.who("mia")
    with world.db.begin() as conn:
        out = run_actions(conn, world.store, actions, PO, po, actor=mia)
    assert float(out["total"]) == 1500
    subject = "PO-750: 1500.00 {number.__class__} {missing}"
    for user in ("olga", "mia", "carl", "cora", "duo"):
        assert world.notices(user) == [subject]
    assert world.notices("bob") == []
    with world.db.connect() as conn:
        page = world.store.list(conn, "finance.commitment")
    assert [(c["reference"], c["_created_by"]) for c in page.items] == [("PO-750-x", "mia")]


def test_state_action_errors_name_their_place(world: World) -> None:
    po = world.po(10)
    with world.db.begin() as conn, pytest.raises(ActionError) as caught:
        run_actions(conn, world.store, [{"set": {"total": "total / 0"}}], PO, po, actor="bob")
    assert caught.value.status == 422
    assert caught.value.path == "actions.0.set.total"
    assert isinstance(caught.value, WorkflowError)


def test_state_render_fills_plain_names_only() -> None:
    record = {"n": 3, "when": dt.date(2027, 1, 2), "none": None, "lines": [1]}
    assert render("{n} on {when}{none} {lines} {n.real} {n[0]} {{n}}", record) == (
        "3 on 2027-01-02 {lines} {n.real} {n[0]} {3}"
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("4h", 14400), ("3d", 259200), ("2w", 1209600)]
)
def test_state_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


# --- validation of approvals, timers and workflow actions ----------------------------------

BROKEN: list[tuple[str, Any, str, str]] = [
    ("approvals.nowhere", {"approve_to": "approved", "reject_to": "draft", "levels": [{"roles": ["cfo"]}]},
     "workflows.po_approval.approvals.nowhere",
     "'nowhere' is not a state of po_approval"),
    ("approvals.pending.approve_to", "pending", "workflows.po_approval.approvals.pending.approve_to",
     "approve_to must lead out of 'pending'"),
    ("approvals.pending.levels.0.roles", ["boss"],
     "workflows.po_approval.approvals.pending.levels.0.roles.0", "'boss' is not a role"),
    ("approvals.pending.levels.2.mode", {"n": 4},
     "workflows.po_approval.approvals.pending.levels.2.mode.n", "4 approvals are needed"),
    ("approvals.pending.levels.2.approvers.0.user", "$record.number",
     "workflows.po_approval.approvals.pending.levels.2.approvers.0.user",
     "'number' is a text field, not a user field"),
    ("approvals.pending.levels.0.when", "amount > 3",
     "workflows.po_approval.approvals.pending.levels.0.when", "'amount', which is not a field"),
    ("approvals.pending.levels.0.mode", "most",
     "workflows.po_approval.approvals.pending.levels.0.mode", "'most' is not one of: all, any"),
    ("timers.0.after", "3 days", "workflows.po_approval.timers.0.after", "is not a duration"),
    ("timers.0.in_state", "later", "workflows.po_approval.timers.0.in_state",
     "'later' is not a state"),
    ("timers.1.do.0.transition", {"name": "approve"}, "workflows.po_approval.timers.1.do.0.transition",
     "'approve' is not a transition"),
    ("timers.0.do.0.escalate.roles", ["chief"], "workflows.po_approval.timers.0.do.0.escalate.roles.0",
     "'chief' is not a role"),
    ("timers.0.before", "number", "workflows.po_approval.timers.0",
     "give one of: after (a time in a state), before or past"),
    ("on_enter.approved.1.notify.subject", "PO {numbr}",
     "workflows.po_approval.on_enter.approved.1.notify.subject", "placeholder '{numbr}'"),
    ("on_enter.approved.0", {"transition": "submit"}, "workflows.po_approval.on_enter.approved.0.transition",
     "unknown key 'transition'"),
]  # fmt: skip


@pytest.mark.parametrize(("where", "value", "path", "message"), BROKEN)
def test_state_validation_of_workflow_keys(
    tmp_path: Any, where: str, value: Any, path: str, message: str
) -> None:
    blueprints = doc_blueprints()
    node: Any = blueprints["purchasing"]["workflows"]["po_approval"]
    *parents, last = where.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    file = tmp_path / "purchasing.yaml"
    file.write_text(yaml.safe_dump(blueprints["purchasing"], allow_unicode=True), "utf-8")
    errors = validate_blueprint(load_blueprint(file), {"finance": blueprints["finance"]})
    found = [(e.path, e.message) for e in errors]
    assert any(p == path and message in m for p, m in found), found
