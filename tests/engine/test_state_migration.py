"""Workflow states renamed or removed: the migration plan moves the records that sit in them,
or refuses, naming the state, the entity and the count; nothing is left in a state that no
longer exists. On SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.engine import drafts
from appblocks.engine.blueprints import install
from appblocks.engine.catalog import Catalog
from appblocks.engine.db import reading
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.migrations import MigrationRefused, apply, begin_migration, plan
from appblocks.engine.migrations_plan import chain_moves, renamed_states
from appblocks.engine.models import Task

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
ORDER = {"order": {"fields": {"number": {"type": "text"}}}}


def flow(*states: str) -> dict[str, Any]:
    """A workflow of `order` through `states` (the first is initial), one step at a time."""
    moves = {f"to_{b}": {"from": a, "to": b} for a, b in zip(states, states[1:], strict=False)}
    return {"entity": "order", "initial": states[0], "states": list(states), "transitions": moves}


def app(*states: str) -> Catalog:
    return Catalog(
        {
            "srm": {
                "blueprint": "srm",
                "version": "1.0.0",
                "entities": ORDER,
                "workflows": {"flow": flow(*states)},
            }
        }
    )


def installed(engine: sa.Engine, catalog: Catalog, *rows: tuple[str, str]) -> None:
    """The catalog's tables, with orders (number, state)."""
    with begin_migration(engine) as conn:
        apply(plan(Catalog({}), catalog, conn), conn)
    table = catalog.table("srm.order")
    with engine.begin() as conn:
        for number, state in rows:
            conn.execute(
                table.insert().values(number=number, _state=state, _created_at=NOW, _updated_at=NOW)
            )


def states(engine: sa.Engine, catalog: Catalog) -> list[tuple[str, str]]:
    table = catalog.table("srm.order")
    with engine.connect() as conn:
        query = sa.select(table.c.number, table.c._state).order_by(table.c.id)
        return [(str(n), str(s)) for n, s in conn.execute(query)]


ROWS = (("PO-1", "draft"), ("PO-2", "approved"), ("PO-3", "approved"), ("PO-4", "done"))


def test_a_renamed_state_moves_its_records(engine: sa.Engine) -> None:
    old, new = app("draft", "approved", "done"), app("draft", "accepted", "done")
    installed(engine, old, *ROWS)
    with begin_migration(engine) as conn:
        steps = plan(old, new, conn, state_moves={"srm.order": {"approved": "accepted"}})
        assert not steps.refused
        text = steps.render()
        assert "~ move records srm_order._state 'approved' -> 'accepted' (2 records)" in text
        assert "Plan: 0 to create, 1 to change, 0 to drop." in text
        apply(steps, conn)
    assert states(engine, new) == [
        ("PO-1", "draft"), ("PO-2", "accepted"), ("PO-3", "accepted"), ("PO-4", "done"),
    ]  # fmt: skip


def test_a_removed_state_with_records_is_refused_and_nothing_changes(engine: sa.Engine) -> None:
    old, new = app("draft", "approved", "done"), app("draft", "done")
    installed(engine, old, *ROWS)
    with begin_migration(engine) as conn:
        steps = plan(old, new, conn)
        [refused] = steps.refused
        assert refused.kind == "move_state" and refused.count == 2
        assert refused.refused == (
            "2 records of srm.order are in the state 'approved', which the new workflow does not "
            "have: choose a state to move them to"
        )
        text = steps.render()
        assert "! refused: move records srm_order._state 'approved' (removed, 2 records)" in text
        with pytest.raises(MigrationRefused, match="2 records of srm.order .* 'approved'"):
            apply(steps, conn)
    assert states(engine, old) == list(ROWS)


def test_a_removed_state_moves_its_records_to_the_chosen_state(engine: sa.Engine) -> None:
    old, new = app("draft", "approved", "done"), app("draft", "done")
    installed(engine, old, *ROWS)
    with begin_migration(engine) as conn:
        steps = plan(old, new, conn, state_moves={"srm.order": {"approved": "done"}})
        assert not steps.refused
        apply(steps, conn)
    assert states(engine, new) == [
        ("PO-1", "draft"), ("PO-2", "done"), ("PO-3", "done"), ("PO-4", "done"),
    ]  # fmt: skip


def test_a_removed_state_without_records_just_goes(engine: sa.Engine) -> None:
    old, new = app("draft", "approved", "done"), app("draft", "done")
    installed(engine, old, ("PO-1", "draft"), ("PO-4", "done"))
    with begin_migration(engine) as conn:
        steps = plan(old, new, conn)
        assert steps.is_empty and not steps.refused
        apply(steps, conn)
    assert states(engine, new) == [("PO-1", "draft"), ("PO-4", "done")]


def test_without_a_connection_a_removed_state_is_refused() -> None:
    steps = plan(app("draft", "approved", "done"), app("draft", "done"))
    [refused] = steps.refused
    assert "records of srm.order may be in the state 'approved'" in str(refused.refused)


def test_a_move_to_a_state_the_workflow_lacks_is_refused(engine: sa.Engine) -> None:
    old, new = app("draft", "approved", "done"), app("draft", "done")
    installed(engine, old, *ROWS)
    with begin_migration(engine) as conn:
        steps = plan(old, new, conn, state_moves={"srm.order": {"approved": "shipped"}})
        [refused] = steps.refused
        assert refused.refused == "'shipped' is not a state of the workflow of srm.order"
        with pytest.raises(MigrationRefused):
            apply(steps, conn)
    assert states(engine, old) == list(ROWS)


def test_swapped_states_swap_their_records(engine: sa.Engine) -> None:
    old, new = app("draft", "approved", "done"), app("draft", "done", "approved")
    installed(engine, old, *ROWS)
    swap = {"srm.order": {"approved": "done", "done": "approved"}}
    with begin_migration(engine) as conn:
        steps = plan(old, new, conn, state_moves=swap)
        assert [s.kind for s in steps.steps] == ["move_state", "move_state"]
        apply(steps, conn)
    assert states(engine, new) == [
        ("PO-1", "draft"), ("PO-2", "done"), ("PO-3", "done"), ("PO-4", "approved"),
    ]  # fmt: skip


def test_renames_are_recognised_in_place_and_chained() -> None:
    before = flow("draft", "approved", "done")
    assert renamed_states(before, flow("draft", "accepted", "done")) == [("approved", "accepted")]
    assert renamed_states(before, flow("draft", "done")) == []  # a removal
    assert renamed_states(before, flow("draft", "done", "approved")) == []  # a reorder
    moves = [("e", "a", "b"), ("e", "b", "c"), ("e", "x", "y"), ("e", "y", "x")]
    assert chain_moves(moves) == {"e": {"a": "c"}}


# --- through a designer draft ---------------------------------------------------------------

FLEET = """
blueprint: fleet
version: 1.0.0
entities:
  trip:
    title: name
    fields:
      name: {type: text, required: true}
workflows:
  trip_flow:
    entity: trip
    initial: planned
    states: [planned, {name: underway, label: {en: Underway, zh-CN: 进行中}}, finished]
    transitions:
      start: {from: planned, to: underway}
      finish: {from: underway, to: finished}
data:
  trip:
    - {name: T1}
    - {name: T2}
    - {name: T3}
"""


def trips(engine: sa.Engine) -> list[tuple[str, str]]:
    with reading(engine) as conn:
        rows = conn.execute(sa.text("SELECT name, _state FROM fleet_trip ORDER BY id"))
        return [(str(n), str(s)) for n, s in rows]


def fleet_draft(engine: sa.Engine) -> tuple[int, dict[str, Any]]:
    install(engine, load_blueprint_text(FLEET, "fleet.yaml"), with_data=True)
    with engine.begin() as conn:
        put = sa.text("UPDATE fleet_trip SET _state = :s WHERE name IN (:a, :b)")
        conn.execute(put, {"s": "planned", "a": "T1", "b": "T1"})
        conn.execute(put, {"s": "underway", "a": "T2", "b": "T3"})
        draft = drafts.open_draft(conn, "fleet", actor="ana")
        return draft.id, copy.deepcopy(draft.document("workflow", "trip_flow"))


def test_designer_rename_moves_the_records_and_undo_takes_it_back(engine: sa.Engine) -> None:
    draft_id, wf = fleet_draft(engine)
    assert trips(engine) == [("T1", "planned"), ("T2", "underway"), ("T3", "underway")]
    wf["states"][1] = {"name": "on_road", "label": {"en": "On the road"}}
    wf["transitions"] = {
        "start": {"from": "planned", "to": "on_road"},
        "finish": {"from": "on_road", "to": "finished"},
    }
    with engine.begin() as conn:
        draft = drafts.replace(conn, draft_id, "workflow", "trip_flow", wf, label="rename")
        assert draft.edits[-1].moves == (("fleet.trip", "underway", "on_road"),)
        assert draft.state_moves() == {"fleet.trip": {"underway": "on_road"}}
        shown = drafts.plan(conn, draft_id)
        assert shown.ok and "'underway' -> 'on_road' (2 records)" in shown.text
        drafts.undo(conn, draft_id)
        assert drafts.get_draft(conn, draft_id).state_moves() == {}
        drafts.redo(conn, draft_id)
    drafts.publish(engine, draft_id)
    assert trips(engine) == [("T1", "planned"), ("T2", "on_road"), ("T3", "on_road")]


def test_designer_removal_waits_for_a_chosen_state(engine: sa.Engine) -> None:
    draft_id, wf = fleet_draft(engine)
    wf["states"] = ["planned", "finished"]
    wf["transitions"] = {"finish": {"from": "planned", "to": "finished"}}
    with engine.begin() as conn:
        drafts.replace(conn, draft_id, "workflow", "trip_flow", wf)
        shown = drafts.plan(conn, draft_id)
        assert not shown.ok
        assert "2 records of fleet.trip are in the state 'underway'" in shown.text
    with pytest.raises(MigrationRefused, match="'underway'"):
        drafts.publish(engine, draft_id)
    assert trips(engine) == [("T1", "planned"), ("T2", "underway"), ("T3", "underway")]
    with engine.begin() as conn:
        with pytest.raises(drafts.DraftError, match="underway is not a state"):
            drafts.move_records(conn, draft_id, "fleet.trip", "underway", "underway")
        drafts.move_records(conn, draft_id, "fleet.trip", "underway", "finished")
        assert drafts.plan(conn, draft_id).ok
    drafts.publish(engine, draft_id)
    assert trips(engine) == [("T1", "planned"), ("T2", "finished"), ("T3", "finished")]


def test_designer_rename_then_removal_asks_for_the_original_state(engine: sa.Engine) -> None:
    draft_id, wf = fleet_draft(engine)
    renamed = copy.deepcopy(wf)
    renamed["states"][1] = "on_road"
    renamed["transitions"] = {
        "start": {"from": "planned", "to": "on_road"},
        "finish": {"from": "on_road", "to": "finished"},
    }
    removed = copy.deepcopy(renamed)
    removed["states"] = ["planned", "finished"]
    removed["transitions"] = {"finish": {"from": "planned", "to": "finished"}}
    with engine.begin() as conn:
        drafts.replace(conn, draft_id, "workflow", "trip_flow", renamed)
        drafts.replace(conn, draft_id, "workflow", "trip_flow", removed)
        [refused] = drafts.plan(conn, draft_id).plan.refused  # type: ignore[union-attr]
        assert (refused.state, refused.count) == ("underway", 2)
        drafts.move_records(conn, draft_id, "fleet.trip", "underway", "planned")
        assert drafts.get_draft(conn, draft_id).state_moves() == {
            "fleet.trip": {"underway": "planned"}
        }
    drafts.publish(engine, draft_id)
    assert trips(engine) == [("T1", "planned"), ("T2", "planned"), ("T3", "planned")]


def approving(*states: str, waits_in: str) -> Catalog:
    """`app(*states)` whose state `waits_in` waits for a manager's approval."""
    catalog = app(*states)
    blueprint = copy.deepcopy(catalog.blueprints["srm"])
    level = {"name": "manager", "approvers": [{"role": "manager"}]}
    blueprint["workflows"]["flow"]["approvals"] = {waits_in: {"levels": [level]}}
    return Catalog({"srm": blueprint})


def open_task(engine: sa.Engine, step: str) -> int:
    tasks = Task.__table__
    row = {"entity": "srm.order", "record_id": 2, "workflow": "flow", "step": step}
    with engine.begin() as conn:
        return int(conn.execute(tasks.insert().values(**row)).inserted_primary_key[0])


def task(engine: sa.Engine, task_id: int) -> tuple[str, str]:
    tasks = Task.__table__
    with engine.connect() as conn:
        found = conn.execute(sa.select(tasks.c.step, tasks.c.status).where(tasks.c.id == task_id))
        step, status = found.one()
    return str(step), str(status)


def test_open_approvals_follow_a_renamed_approval_state(engine: sa.Engine) -> None:
    old = approving("draft", "approved", "done", waits_in="approved")
    new = approving("draft", "accepted", "done", waits_in="accepted")
    installed(engine, old, *ROWS)
    waiting = open_task(engine, "approved")
    with begin_migration(engine) as conn:
        apply(plan(old, new, conn, state_moves={"srm.order": {"approved": "accepted"}}), conn)
    assert task(engine, waiting) == ("accepted", "open")  # the manager can still decide it


def test_open_approvals_are_cancelled_when_their_records_leave_the_state(
    engine: sa.Engine,
) -> None:
    old = approving("draft", "approved", "done", waits_in="approved")
    new = app("draft", "done")
    installed(engine, old, *ROWS)
    waiting = open_task(engine, "approved")
    with begin_migration(engine) as conn:
        apply(plan(old, new, conn, state_moves={"srm.order": {"approved": "done"}}), conn)
    assert task(engine, waiting) == ("approved", "cancelled")  # not left in an inbox for good
