"""Approvals: level chains by amount, countersign, N of M, rejection, delegation, inbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.workflows import approvals
from appblocks.workflows.approvals import (
    ApprovalBlocked,
    BadRequest,
    CommentRequired,
    NotYourTask,
    SelfApproval,
    TaskClosed,
)

from .wf_kit import PO, World, make_world


@pytest.fixture
def world(engine: sa.Engine) -> World:
    return make_world(engine)


def decide(world: World, task_id: int, who: str, decision: str = "approve", comment: Any = None):
    identity = world.who(who)
    with world.db.begin() as conn:
        return approvals.decide(conn, world.store, world.wf, task_id, identity, decision, comment)


def open_ids(world: World, record_id: int) -> dict[str, int]:
    """Open tasks of a record: assignee -> task id."""
    return {t.assignee_user or t.assignee_role: t.id for t in world.tasks(record_id, "open")}


def submitted(world: World, total: float, **extra: Any) -> dict[str, Any]:
    po = world.po(total, **extra)
    return world.run(PO, po["id"], "submit", "bob")


def test_approval_below_threshold_needs_one_manager(world: World) -> None:
    po = submitted(world, 99_999)
    (task,) = world.tasks(po["id"])
    assert (task.step, task.level, task.assignee_role) == ("pending", 1, "purchasing_manager")
    after = decide(world, task.id, "mia", comment="fine")
    assert after["_state"] == "approved"
    assert isinstance(after["approved_at"], dt.datetime)  # on_enter set
    assert world.notices("bob") == ["PO PO-99999 approved"]  # on_enter notify
    with world.db.connect() as conn:
        (commitment,) = world.store.list(conn, "finance.commitment").items
    assert (commitment["reference"], commitment["committed_by"]) == ("PO-99999", "mia")
    assert float(commitment["amount"]) == 99_999
    (closed,) = world.tasks(po["id"])
    assert (closed.status, closed.decided_by, closed.comment) == ("approved", "mia", "fine")


def test_approval_above_threshold_needs_manager_and_cfo(world: World) -> None:
    po = submitted(world, 250_000)
    tasks = open_ids(world, po["id"])
    assert sorted(tasks) == ["cfo", "purchasing_manager"]
    assert {t.level for t in world.tasks(po["id"])} == {2}  # level 1 did not apply
    assert decide(world, tasks["purchasing_manager"], "mia")["_state"] == "pending"
    assert list(open_ids(world, po["id"])) == ["cfo"]
    assert decide(world, tasks["cfo"], "carl")["_state"] == "approved"


def test_approval_countersign_needs_two_people(world: World) -> None:
    po = submitted(world, 250_000)
    tasks = open_ids(world, po["id"])
    decide(world, tasks["cfo"], "duo")  # duo holds both roles
    with pytest.raises(SelfApproval) as caught:
        decide(world, tasks["purchasing_manager"], "duo")
    assert caught.value.status == 403
    assert decide(world, tasks["purchasing_manager"], "max")["_state"] == "approved"


def test_approval_levels_open_in_order_and_n_of_m(world: World) -> None:
    po = submitted(world, 600_000, budget_owner="olga")
    first = open_ids(world, po["id"])
    assert sorted(first) == ["cfo", "purchasing_manager"]  # the board waits its turn
    olga = world.who("olga")
    with world.db.connect() as conn:
        assert approvals.inbox(conn, olga) == []
    decide(world, first["purchasing_manager"], "mia")
    decide(world, first["cfo"], "carl")
    board = open_ids(world, po["id"])
    assert sorted(board) == ["cfo", "director", "olga"]
    assert {t.level for t in world.tasks(po["id"], "open")} == {3}
    # carl approved level 2, and may approve level 3 too: one approval per person per level
    assert decide(world, board["cfo"], "carl")["_state"] == "pending"
    assert decide(world, board["olga"], "olga")["_state"] == "approved"  # 2 of 3
    statuses = {t.assignee_user or t.assignee_role: t.status for t in world.tasks(po["id"])
                if t.level == 3}  # fmt: skip
    assert statuses == {"olga": "approved", "director": "cancelled", "cfo": "approved"}


def test_approval_rejection_needs_a_comment_and_goes_back(world: World) -> None:
    po = submitted(world, 250_000)
    tasks = open_ids(world, po["id"])
    decide(world, tasks["purchasing_manager"], "mia")
    for comment in (None, " "):
        with pytest.raises(CommentRequired) as caught:
            decide(world, tasks["cfo"], "carl", "reject", comment)
        assert caught.value.status == 422
    after = decide(world, tasks["cfo"], "carl", "reject", "price too high")
    assert after["_state"] == "draft"
    assert open_ids(world, po["id"]) == {}
    top = world.history(PO, po["id"])[0]
    assert (top["actor"], top["after"], top["comment"]) == (
        "carl", {"_state": "draft"}, "price too high",
    )  # fmt: skip
    with pytest.raises(TaskClosed) as closed:
        decide(world, tasks["cfo"], "carl")
    assert closed.value.status == 409
    # a second round is a new chain: the old approvals do not count
    world.run(PO, po["id"], "submit", "bob")
    again = open_ids(world, po["id"])
    assert sorted(again) == ["cfo", "purchasing_manager"]
    assert decide(world, again["cfo"], "carl")["_state"] == "pending"


def test_approval_delegation(world: World) -> None:
    po = submitted(world, 500)
    (task,) = world.tasks(po["id"])
    carl, mia = world.who("carl"), world.who("mia")
    with world.db.begin() as conn:
        with pytest.raises(NotYourTask):
            approvals.delegate(conn, task.id, carl, "olga")
        with pytest.raises(BadRequest):
            approvals.delegate(conn, task.id, mia, "nobody")
        with pytest.raises(BadRequest):
            approvals.delegate(conn, task.id, mia, "mia")
    with world.db.begin() as conn:
        new = approvals.delegate(conn, task.id, mia, "olga", "on leave")
    assert (new["assignee_user"], new["delegated_from"], new["status"]) == ("olga", "mia", "open")
    assert world.notices("olga") == ["mia passed an approval to you"]
    with pytest.raises(TaskClosed):
        decide(world, task.id, "mia")
    assert decide(world, new["id"], "olga", comment="ok")["_state"] == "approved"
    actions = [(h["action"], h["actor"], h["comment"]) for h in world.history(PO, po["id"])]
    assert ("delegate", "mia", "on leave") in actions
    assert ("approve", "olga", "ok") in actions


def test_approval_self_approval(world: World) -> None:
    po = world.po(500, by="sam")
    world.run(PO, po["id"], "submit", "sam")
    (task,) = world.tasks(po["id"])
    for decision, comment in (("approve", None), ("reject", "no")):
        with pytest.raises(SelfApproval):
            decide(world, task.id, "sam", decision, comment)
    assert decide(world, task.id, "mia")["_state"] == "approved"


def test_approval_self_approval_when_allowed(engine: sa.Engine) -> None:
    def allow(bps: dict[str, Any]) -> None:
        bps["purchasing"]["workflows"]["po_approval"]["approvals"]["pending"][
            "allow_self_approval"
        ] = True

    world = make_world(engine, allow)
    po = world.po(500, by="sam")
    world.run(PO, po["id"], "submit", "sam")
    (task,) = world.tasks(po["id"])
    assert decide(world, task.id, "sam")["_state"] == "approved"


def test_approval_inbox_per_user_and_role(world: World) -> None:
    small = submitted(world, 10)
    big = submitted(world, 200_000)

    def inbox(who: str) -> list[tuple[int, str | None]]:
        identity = world.who(who)
        with world.db.connect() as conn:
            items = approvals.inbox(conn, identity, engine=world.wf)
        return [(i["record_id"], i["level_name"]) for i in items]

    assert inbox("mia") == [(big["id"], "manager_and_cfo"), (small["id"], "manager")]
    assert inbox("carl") == [(big["id"], "manager_and_cfo")]
    assert inbox("bob") == []
    decide(world, open_ids(world, small["id"])["purchasing_manager"], "max")
    assert inbox("mia") == [(big["id"], "manager_and_cfo")]
    maxi = world.who("max")
    with world.db.connect() as conn:
        decided = approvals.inbox(conn, maxi, status="approved")
    assert [(t["record_id"], t["decided_by"]) for t in decided] == [(small["id"], "max")]
    identity = world.who("mia")
    with world.db.connect() as conn:
        item = approvals.inbox(conn, identity)[0]
    assert {"entity", "record_id", "workflow", "step", "level", "requested_by", "created_at"} <= (
        set(item)
    )
    assert (item["entity"], item["workflow"], item["requested_by"]) == (PO, "po_approval", "bob")
    with pytest.raises(NotYourTask) as caught:
        decide(world, open_ids(world, big["id"])["cfo"], "mia")
    assert caught.value.status == 404


def test_approval_history_has_who_when_and_comment(world: World) -> None:
    po = submitted(world, 500)
    (task,) = world.tasks(po["id"])
    decide(world, task.id, "mia", comment="looks right")
    entries = world.history(PO, po["id"])
    moves = [(h["actor"], h["before"], h["after"]) for h in entries if h["action"] == "update"
             and h["after"] and "_state" in h["after"]]  # fmt: skip
    assert moves == [
        ("mia", {"_state": "pending"}, {"_state": "approved"}),
        ("bob", {"_state": "draft"}, {"_state": "pending"}),
    ]
    (approval,) = [h for h in entries if h["action"] == "approve"]
    assert (approval["actor"], approval["comment"]) == ("mia", "looks right")
    assert approval["after"] == {"task": task.id, "step": "pending", "level": "manager"}
    assert isinstance(approval["at"], dt.datetime)


def test_approval_leaving_the_state_cancels_tasks(world: World) -> None:
    po = submitted(world, 500)
    (task,) = world.tasks(po["id"])
    world.run(PO, po["id"], "cancel", "bob", "not needed")
    assert [t.status for t in world.tasks(po["id"])] == ["cancelled"]
    with pytest.raises(TaskClosed):
        decide(world, task.id, "mia")


def test_approval_empty_chain_moves_on_and_blocked_levels(engine: sa.Engine) -> None:
    def change(bps: dict[str, Any]) -> None:
        levels = bps["purchasing"]["workflows"]["po_approval"]["approvals"]["pending"]["levels"]
        levels[0]["when"] = "total < 10"
        levels[1]["when"] = "total > 1000000"
        levels[2]["when"] = "total == 5000"

    world = make_world(engine, change)
    assert submitted(world, 500)["_state"] == "approved"  # no level applies
    po = world.po(5000)
    with pytest.raises(ApprovalBlocked) as caught:  # level 3 names an empty budget_owner
        world.run(PO, po["id"], "submit", "bob")
    assert caught.value.status == 409
    assert world.get(PO, po["id"])["_state"] == "draft"
    assert world.tasks(po["id"]) == []


def test_approval_decision_must_be_approve_or_reject(world: World) -> None:
    po = submitted(world, 500)
    (task,) = world.tasks(po["id"])
    with pytest.raises(BadRequest):
        decide(world, task.id, "mia", "maybe")
    with pytest.raises(NotYourTask):
        decide(world, 10_000, "mia")
