"""Designer drafts: edits with undo and redo, the plan, and publishing, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from appblocks.engine import drafts
from appblocks.engine.blueprints import BlueprintRefused, install
from appblocks.engine.catalog import Catalog, installed_apps
from appblocks.engine.db import reading
from appblocks.engine.drafts import DocChange, DraftError
from appblocks.engine.layers import read_layer
from appblocks.engine.loader import LoadedBlueprint, load_blueprint_text
from appblocks.engine.migrations import DataLossRefused
from appblocks.engine.versions import list_versions

FLEET = """
blueprint: fleet
version: 1.0.0
title: {en: Fleet, zh-CN: 车队}
entities:
  vehicle:
    label: {en: Vehicle, zh-CN: 车辆}
    title: plate
    fields:
      plate: {type: text, required: true, label: {en: Plate, zh-CN: 车牌}}
      seats: {type: integer, label: {en: Seats, zh-CN: 座位数}}
  driver:
    title: name
    fields:
      name: {type: text, required: true}
data:
  vehicle: [{plate: A-1, seats: 4}, {plate: B-2, seats: 2}]
"""


def install_fleet(engine: sa.Engine) -> None:
    """The fleet blueprint, imported with its two vehicles."""
    install(engine, load_blueprint_text(FLEET, "fleet.yaml"), with_data=True)


def state(engine: sa.Engine) -> dict[str, Any]:
    """Every table's columns and rows (drafts aside): what a refused change must not touch."""
    out: dict[str, Any] = {}
    with reading(engine) as conn:
        inspector = sa.inspect(conn)
        for name in sorted(inspector.get_table_names()):
            if name in ("ab_draft", "ab_alembic_version"):
                continue
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            rows = sorted(repr(tuple(r)) for r in conn.execute(sa.select(table)))
            out[name] = ([c.name for c in table.columns], rows)
    return out


def vehicle_with(conn: sa.Connection, draft_id: int, **fields: Any) -> dict[str, Any]:
    """The draft's vehicle entity with fields added or replaced (None removes one)."""
    body = copy.deepcopy(drafts.get_draft(conn, draft_id).document("entity", "vehicle"))
    for name, spec in fields.items():
        if spec is None:
            del body["fields"][name]
        else:
            body["fields"][name] = spec
    return dict(body)


def columns(engine: sa.Engine, table: str) -> list[str]:
    """The column names of a table as the database has them."""
    with reading(engine) as conn:
        return [c["name"] for c in sa.inspect(conn).get_columns(table)]


def test_draft_undo_and_redo_walk_the_edits(engine: sa.Engine) -> None:
    install_fleet(engine)
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet", actor="ana")
        assert not draft.can_undo and not draft.can_redo
        colour = {"type": "text", "label": {"en": "Colour"}}
        body = vehicle_with(conn, draft.id, colour=colour)
        draft = drafts.replace(conn, draft.id, "entity", "vehicle", body, label="Add colour")
        body = copy.deepcopy(body)
        body["label"]["en"] = "Car"
        draft = drafts.replace(conn, draft.id, "entity", "vehicle", body, label="Rename")
        assert draft.undo_label == "Rename"
        draft = drafts.undo(conn, draft.id)
        assert draft.document("entity", "vehicle")["label"]["en"] == "Vehicle"
        assert "colour" in draft.document("entity", "vehicle")["fields"]
        assert draft.redo_label == "Rename"
        draft = drafts.undo(conn, draft.id)
        assert "colour" not in draft.document("entity", "vehicle")["fields"]
        with pytest.raises(DraftError) as none_left:
            drafts.undo(conn, draft.id)
        assert none_left.value.code == "nothing_to_undo"
        assert "撤销" in none_left.value.message("zh-CN")
        draft = drafts.redo(conn, draft.id)
        assert "colour" in draft.document("entity", "vehicle")["fields"]
        # A new edit after an undo drops what redo could have brought back.
        driver = {"title": "name", "fields": {"name": {"type": "text"}}}
        draft = drafts.replace(conn, draft.id, "entity", "driver", driver, label="Optional name")
        assert not draft.can_redo and draft.position == 2
        assert draft.document("entity", "driver") == driver
        assert sorted(draft.changed()) == [
            ("entity", "driver", "changed"),
            ("entity", "vehicle", "changed"),
        ]
    # The draft is stored: a later request sees the same state (the same open draft).
    with engine.begin() as conn:
        again = drafts.open_draft(conn, "fleet", actor="ana")
        assert again.id == draft.id and again.documents() == draft.documents()


def test_draft_edit_that_changes_nothing_is_not_an_undo_step(engine: sa.Engine) -> None:
    install_fleet(engine)
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet")
        same = vehicle_with(conn, draft.id)
        assert drafts.replace(conn, draft.id, "entity", "vehicle", same).position == 0


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (DocChange("widget", "x", {}), "bad_kind"),
        (DocChange("entity", "", {}), "bad_name"),
        (DocChange("entity", "x", ["not", "a", "mapping"]), "bad_body"),
        (DocChange("view", "nothing"), "no_document"),
        (DocChange("blueprint", "fleet"), "delete_manifest"),
        (DocChange("blueprint", "fleet", {"blueprint": "other", "version": "1.0.0"}), "wrong_app"),
    ],
)
def test_draft_edit_refuses_bad_changes(engine: sa.Engine, change: DocChange, code: str) -> None:
    install_fleet(engine)
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet")
        with pytest.raises(DraftError) as refused:
            drafts.edit(conn, draft.id, [change])
        assert refused.value.code == code
        assert drafts.get_draft(conn, draft.id).position == 0


def test_draft_of_an_app_needs_a_valid_app_name(engine: sa.Engine) -> None:
    with engine.begin() as conn, pytest.raises(DraftError) as refused:
        drafts.open_draft(conn, "My App")
    assert refused.value.code == "bad_app" and "lower-case" in str(refused.value)
    assert "应用名 My App 无效" in refused.value.message("zh-CN")


def install_fleet_with_trips(engine: sa.Engine) -> None:
    """The fleet blueprint with a shipped view of vehicles and trips that link to them."""
    doc = yaml.safe_load(FLEET)
    doc["entities"]["trip"] = {
        "title": "code",
        "fields": {
            "code": {"type": "text", "required": True},
            "vehicle": {"type": "link", "to": "vehicle"},
        },
    }
    doc["views"] = {"vehicles": {"entity": "vehicle", "type": "list", "columns": ["plate"]}}
    install(engine, LoadedBlueprint(doc=doc, root=Path("fleet.yaml")), with_data=True)


def test_shipped_document_deleted_by_a_tombstone_and_a_linked_entity_refused(
    engine: sa.Engine,
) -> None:
    install_fleet_with_trips(engine)
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet")
        # A shipped view goes: the custom layer hides it with a tombstone.
        draft = drafts.delete(conn, draft.id, "view", "vehicles", label="Delete view")
        assert ("view", "vehicles", "deleted") in draft.changed()
        view = {"entity": "vehicle", "type": "list", "columns": ["plate"]}
        draft = drafts.replace(conn, draft.id, "view", "cars", view)
    drafts.publish(engine, draft.id)
    with reading(engine) as conn:
        assert list(Catalog.load(conn).blueprints["fleet"]["views"]) == ["cars"]
        custom = {(d.kind, d.name): d.body for d in read_layer(conn, "fleet", "custom")}
        assert custom == {("view", "cars"): view, ("view", "vehicles"): None}
    # A custom view is simply deleted (nothing shipped to hide).
    with engine.begin() as conn:
        draft = drafts.delete(conn, drafts.open_draft(conn, "fleet").id, "view", "cars")
    drafts.publish(engine, draft.id)
    with reading(engine) as conn:
        assert [(d.name, d.body) for d in read_layer(conn, "fleet", "custom")] == [
            ("vehicles", None)
        ]
        assert "views" not in Catalog.load(conn).blueprints["fleet"]
    # A shipped entity that another entity links to: the draft takes the edit, validation
    # refuses it by naming the link, and publishing changes nothing.
    with engine.begin() as conn:
        draft = drafts.delete(conn, drafts.open_draft(conn, "fleet").id, "entity", "vehicle")
        shown = drafts.plan(conn, draft.id)
    assert not shown.ok
    assert any("entities.trip.fields.vehicle.to" in str(e) for e in shown.errors)
    before = state(engine)
    with pytest.raises(BlueprintRefused):
        drafts.publish(engine, draft.id, confirm_data_loss=True)
    assert state(engine) == before


def test_plan_reports_invalid_documents_and_publish_changes_nothing(engine: sa.Engine) -> None:
    install_fleet(engine)
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet")
        bad = vehicle_with(conn, draft.id, colour={"type": "colour_wheel"})
        drafts.replace(conn, draft.id, "entity", "vehicle", bad)
        shown = drafts.plan(conn, draft.id)
    assert not shown.ok and shown.plan is None
    assert any("entities.vehicle.fields.colour.type" in str(e) for e in shown.errors)
    before = state(engine)
    with pytest.raises(BlueprintRefused):
        drafts.publish(engine, draft.id)
    assert state(engine) == before


def test_publish_that_drops_a_field_needs_confirmation(engine: sa.Engine, tmp_path: Path) -> None:
    install_fleet(engine)
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet", actor="ana")
        drafts.replace(
            conn, draft.id, "entity", "vehicle", vehicle_with(conn, draft.id, seats=None)
        )
        shown = drafts.plan(conn, draft.id)
    assert shown.ok and [s.kind for s in shown.data_loss] == ["drop_column"]
    assert "seats" in shown.text and "data loss: 2 values" in shown.text
    before = state(engine)
    with pytest.raises(DataLossRefused):
        drafts.publish(engine, draft.id, backup_dir=tmp_path)
    assert state(engine) == before
    with reading(engine) as conn:
        assert drafts.get_draft(conn, draft.id).status == "open"  # nothing typed is lost
    done = drafts.publish(engine, draft.id, confirm_data_loss=True, backup_dir=tmp_path)
    assert "seats" not in columns(engine, "fleet_vehicle")
    assert done.backups and all(p.exists() for p in done.backups)
    assert done.layer == "custom" and done.version == 2
    with reading(engine) as conn:
        assert drafts.get_draft(conn, draft.id).status == "published"
        # the shipped base is untouched: the change lives in the custom layer
        base = {d.name: d.body for d in read_layer(conn, "fleet", "base")}
        assert "seats" in base["vehicle"]["fields"]
        assert [v.source for v in list_versions(conn, "fleet")] == ["publish", "import"]
    with pytest.raises(DraftError, match="published"):
        drafts.publish(engine, draft.id)


def test_publish_adds_a_column_and_the_catalog_sees_it(engine: sa.Engine) -> None:
    install_fleet(engine)
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet")
        colour = {"type": "text", "label": {"en": "Colour", "zh-CN": "颜色"}}
        drafts.replace(
            conn, draft.id, "entity", "vehicle", vehicle_with(conn, draft.id, colour=colour)
        )
    result = drafts.publish(engine, draft.id, note="colours please")
    assert "add column" in result.plan.render() and "colour" in columns(engine, "fleet_vehicle")
    with reading(engine) as conn:
        assert "colour" in Catalog.load(conn).entity("fleet.vehicle").fields
        (latest, _) = list_versions(conn, "fleet")
        assert latest.note == "colours please"


def test_an_app_made_in_the_designer_publishes_to_its_base(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "garden", actor="ana")
        manifest = {"blueprint": "garden", "version": "0.1.0", "title": {"en": "Garden"}}
        plant = {"title": "name", "fields": {"name": {"type": "text", "required": True}}}
        drafts.edit(
            conn,
            draft.id,
            [DocChange("blueprint", "garden", manifest), DocChange("entity", "plant", plant)],
            label="New app",
        )
    first = drafts.publish(engine, draft.id)
    assert first.layer == "base" and "garden_plant" in first.plan.render()
    with engine.begin() as conn:
        assert ("garden", "0.1.0") in installed_apps(conn)
        assert read_layer(conn, "garden", "custom") == []
        draft = drafts.open_draft(conn, "garden", actor="ana")
        assert draft.id != first.draft_id
        plant = copy.deepcopy(draft.document("entity", "plant"))
        plant["fields"]["height"] = {"type": "decimal"}
        drafts.replace(conn, draft.id, "entity", "plant", plant)
    second = drafts.publish(engine, draft.id)
    with reading(engine) as conn:
        base = {d.name: d.body for d in read_layer(conn, "garden", "base")}
        assert second.layer == "base" and "height" in base["plant"]["fields"]
        assert [v.source for v in list_versions(conn, "garden")] == ["publish", "create"]
        # an app made in the designer may drop its own documents
        draft = drafts.delete(conn, drafts.open_draft(conn, "garden").id, "entity", "plant")
        assert draft.document("entity", "plant") is None


def test_a_stale_draft_is_refused_until_rebased(engine: sa.Engine) -> None:
    install_fleet(engine)
    with engine.begin() as conn:
        first = drafts.open_draft(conn, "fleet", actor="ana")
        second = drafts.open_draft(conn, "fleet", actor="bo")
        colour = vehicle_with(conn, first.id, colour={"type": "text"})
        drafts.replace(conn, first.id, "entity", "vehicle", colour)
        driver = {
            "title": "name",
            "fields": {"name": {"type": "text", "required": True}, "licence": {"type": "text"}},
        }
        drafts.replace(conn, second.id, "entity", "driver", driver)
        idle = drafts.open_draft(conn, "fleet", actor="cy")
    with pytest.raises(DraftError) as unchanged:
        drafts.publish(engine, idle.id)
    assert unchanged.value.code == "no_changes"
    drafts.publish(engine, first.id)
    with pytest.raises(DraftError) as stale:
        drafts.publish(engine, second.id)
    assert stale.value.code == "stale"
    with engine.begin() as conn:
        assert drafts.plan(conn, second.id).stale
        assert drafts.rebase(conn, second.id) == []
    drafts.publish(engine, second.id)
    assert "colour" in columns(engine, "fleet_vehicle")
    assert "licence" in columns(engine, "fleet_driver")


def test_moving_a_field_alone_is_an_edit_that_publishes_and_survives_an_upgrade(
    engine: sa.Engine,
) -> None:
    install_fleet(engine)
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet")
        body = copy.deepcopy(draft.document("entity", "vehicle"))
        body["fields"] = {k: body["fields"][k] for k in ("seats", "plate")}
        after = drafts.replace(conn, draft.id, "entity", "vehicle", body)
        assert after.can_undo and after.changed()
    drafts.publish(engine, draft.id)
    with reading(engine) as conn:
        assert list(Catalog.load(conn).entity("fleet.vehicle").fields) == ["seats", "plate"]
    # A newer fleet adds a field: the analyst's order stays, the new field follows.
    newer = FLEET.replace("version: 1.0.0", "version: 1.1.0").replace(
        "      seats: {type: integer, label: {en: Seats, zh-CN: 座位数}}",
        "      seats: {type: integer, label: {en: Seats, zh-CN: 座位数}}\n      colour: {type: text}",
    )
    install(engine, load_blueprint_text(newer, "fleet.yaml"))
    with reading(engine) as conn:
        assert list(Catalog.load(conn).entity("fleet.vehicle").fields) == [
            "seats",
            "plate",
            "colour",
        ]
