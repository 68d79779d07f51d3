"""Kept versions: every import and publish is listed, and a restore publishes an old state again."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from appblocks.engine import drafts, versions
from appblocks.engine.db import reading
from appblocks.engine.layers import read_layer
from appblocks.engine.migrations import DataLossRefused
from appblocks.engine.versions import VersionError
from tests.engine.test_drafts import columns, install_fleet, state, vehicle_with


def _publish_colour(engine: sa.Engine) -> None:
    """Version 2: a colour field, with a value on A-1."""
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet", actor="ana")
        body = vehicle_with(conn, draft.id, colour={"type": "text", "label": {"en": "Colour"}})
        drafts.replace(conn, draft.id, "entity", "vehicle", body)
    drafts.publish(engine, draft.id, note="colours")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE fleet_vehicle SET colour = 'red' WHERE plate = 'A-1'"))


def _publish_label(engine: sa.Engine) -> None:
    """Version 3: the plate field relabelled."""
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet", actor="bo")
        body = vehicle_with(conn, draft.id)
        body["fields"]["plate"] = {**body["fields"]["plate"], "label": {"en": "Number plate"}}
        drafts.replace(conn, draft.id, "entity", "vehicle", body)
    drafts.publish(engine, draft.id)


def test_versions_list_every_import_and_publish_newest_first(engine: sa.Engine) -> None:
    install_fleet(engine)
    _publish_colour(engine)
    _publish_label(engine)
    with reading(engine) as conn:
        listed = versions.list_versions(conn, "fleet")
        assert [(v.number, v.source, v.actor) for v in listed] == [
            (3, "publish", "bo"),
            (2, "publish", "ana"),
            (1, "import", None),
        ]
        assert listed[1].note == "colours" and listed[0].base_version == "1.0.0"
        second = versions.get_version(conn, "fleet", 2)
        assert "colour" in second.blueprint()["entities"]["vehicle"]["fields"]
        assert second.layers[("entity", "vehicle")] == "custom"
        assert second.plan is not None and "add column fleet_vehicle.colour" in second.plan
        with pytest.raises(VersionError) as missing:
            versions.get_version(conn, "fleet", 9)
        assert "没有版本 9" in missing.value.message("zh-CN")


def test_restore_brings_an_earlier_version_back_through_a_migration(
    engine: sa.Engine, tmp_path: Path
) -> None:
    install_fleet(engine)
    _publish_colour(engine)
    _publish_label(engine)
    with engine.begin() as conn:
        first = versions.get_version(conn, "fleet", 1)
        draft = versions.restore(conn, "fleet", 1, actor="ana")
        shown = drafts.plan(conn, draft.id)
        assert draft.restores == 1 and draft.undo_label == "Restore version 1"
    # Version 1 had no colour: the restore drops the column, which needs confirmation.
    assert [s.column for s in shown.data_loss] == ["colour"]
    before = state(engine)
    with pytest.raises(DataLossRefused):
        versions.restore_version(engine, "fleet", 1, actor="ana")
    assert state(engine) == before
    with reading(engine) as conn:
        # the refused one-step restore leaves no draft of its own behind
        assert [d.id for d in drafts.list_drafts(conn, "fleet")] == [draft.id]
    done = drafts.publish(engine, draft.id, confirm_data_loss=True, backup_dir=tmp_path)
    assert done.version == 4 and "colour" not in columns(engine, "fleet_vehicle")
    with reading(engine) as conn:
        effective = {(d.kind, d.name): d.body for d in read_layer(conn, "fleet", "effective")}
        assert effective == {(d.kind, d.name): d.body for d in first.documents}
        latest = versions.list_versions(conn, "fleet")[0]
        assert (latest.source, latest.note) == ("restore", "Restored version 1")
    # Restoring version 2 puts the colour column back (empty: its values were dropped).
    restored = versions.restore_version(engine, "fleet", 2, actor="ana")
    assert restored.version == 5 and "add column fleet_vehicle.colour" in restored.plan.render()
    assert "colour" in columns(engine, "fleet_vehicle")
    with reading(engine) as conn:
        vehicle = next(d for d in read_layer(conn, "fleet", "effective") if d.name == "vehicle")
        assert vehicle.body["fields"]["plate"]["label"] == {"en": "Plate", "zh-CN": "车牌"}
        second = versions.get_version(conn, "fleet", 2).blueprint()
        assert vehicle.body == second["entities"]["vehicle"]
