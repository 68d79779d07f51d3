"""Deleting a shipped document through the custom layer: a tombstone hides it from the catalog,
an upgrade keeps it deleted (or reports a conflict when upstream changed it), a restore brings
it back. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from appblocks.engine import drafts, versions
from appblocks.engine.blueprints import (
    UpgradeConflict,
    export_blueprint,
    install,
    write_blueprint_folder,
)
from appblocks.engine.catalog import Catalog, Doc, fingerprint, installed_apps
from appblocks.engine.db import reading
from appblocks.engine.layers import (
    custom_changes,
    delete_custom_document,
    read_layer,
    set_custom_document,
)
from appblocks.engine.loader import LoadedBlueprint, load_blueprint
from appblocks.engine.migrations import DataLossRefused
from tests.engine.test_drafts import FLEET, columns, install_fleet, state
from tests.engine.test_layers import SRM, _newer_srm

VIEW: dict[str, Any] = {"entity": "vehicle", "type": "list", "columns": ["plate"]}


def _delete(engine: sa.Engine, app: str, kind: str, name: str, **publish: bool) -> int:
    """Delete one document through a draft and publish it; the new version's number."""
    with engine.begin() as conn:
        draft = drafts.delete(conn, drafts.open_draft(conn, app).id, kind, name)
    return drafts.publish(engine, draft.id, **publish).version


def _views(engine: sa.Engine, app: str) -> list[str]:
    with reading(engine) as conn:
        return list(Catalog.load(conn).blueprints[app].get("views") or {})


def _fleet(version: str, view: dict[str, Any] | None = VIEW) -> LoadedBlueprint:
    doc = yaml.safe_load(FLEET)
    doc["version"] = version
    if view is not None:
        doc["views"] = {"vehicles": copy.deepcopy(view)}
    return LoadedBlueprint(doc=doc, root=Path("fleet.yaml"))


def test_tombstone_keeps_a_shipped_srm_view_deleted_through_an_upgrade(
    engine: sa.Engine, tmp_path: Path
) -> None:
    install(engine, load_blueprint(SRM), with_data=True)
    with reading(engine) as conn:
        stamp = fingerprint(conn)
    _delete(engine, "srm", "view", "open_pos")

    # Gone from the catalog and from the effective export; the custom export shows it null.
    assert "open_pos" not in _views(engine, "srm") and "po_board" in _views(engine, "srm")
    with reading(engine) as conn:
        assert fingerprint(conn) != stamp  # a cached catalog is rebuilt
        assert "open_pos" not in export_blueprint(conn, "srm")["views"]
        assert "open_pos" in export_blueprint(conn, "srm", "base")["views"]
        custom = export_blueprint(conn, "srm", "custom")
        (change,) = custom_changes(conn, "srm")
    assert custom["views"] == {"open_pos": None}
    assert (change.status, change.path) == ("deleted", "views.open_pos")
    write_blueprint_folder(custom, tmp_path / "custom")
    exported = yaml.safe_load((tmp_path / "custom" / "views.yaml").read_text(encoding="utf-8"))
    assert exported == {"views": {"open_pos": None}}

    # An upgrade that leaves the view as it was: applied, the view stays deleted.
    result = install(engine, _newer_srm(1))
    assert result.applied and result.customised
    assert "open_pos" not in _views(engine, "srm")
    with reading(engine) as conn:
        assert ("srm", result.version) in installed_apps(conn)
        assert "open_pos" in {d.name for d in read_layer(conn, "srm", "base")}
        tombstones = [d.name for d in read_layer(conn, "srm", "custom") if d.body is None]
        assert tombstones == ["open_pos"]

    # An upgrade that changes the deleted view: a conflict naming what changed; nothing moves.
    changed = _newer_srm(2)
    changed.doc["views"]["open_pos"]["columns"].append("currency")
    before = state(engine)
    with pytest.raises(UpgradeConflict) as refused:
        install(engine, changed)
    (conflict,) = refused.value.conflicts
    assert (conflict.code, conflict.path) == ("deleted_document", "views.open_pos")
    assert "deleted by the customisation, but the new version changes it" in str(refused.value)
    assert "(columns)" in conflict.detail() and "定制中已删除此文档" in conflict.detail("zh-CN")
    assert "views.yaml:" in str(refused.value)  # placed where the new version writes it
    assert state(engine) == before
    with pytest.raises(UpgradeConflict):
        install(engine, changed, dry_run=True)


def test_upgrade_that_drops_the_deleted_document_too_leaves_no_tombstone(
    engine: sa.Engine,
) -> None:
    install(engine, _fleet("1.0.0"), with_data=True)
    _delete(engine, "fleet", "view", "vehicles")
    install(engine, _fleet("1.1.0", view=None))
    with reading(engine) as conn:
        assert read_layer(conn, "fleet", "custom") == []
        assert "views" not in Catalog.load(conn).blueprints["fleet"]


def test_restore_brings_a_deleted_shipped_view_back_and_deletes_it_again(
    engine: sa.Engine,
) -> None:
    install(engine, _fleet("1.0.0"), with_data=True)
    deleted = _delete(engine, "fleet", "view", "vehicles")
    assert _views(engine, "fleet") == []

    versions.restore_version(engine, "fleet", 1)  # the import, before the deletion
    assert _views(engine, "fleet") == ["vehicles"]
    with reading(engine) as conn:
        assert read_layer(conn, "fleet", "custom") == []  # as shipped again

    # The version with the deletion, on the same shipped version: deleted once more.
    versions.restore_version(engine, "fleet", deleted)
    assert _views(engine, "fleet") == []
    with reading(engine) as conn:
        assert [(d.name, d.body) for d in read_layer(conn, "fleet", "custom")] == [
            ("vehicles", None)
        ]


def test_restore_of_a_version_on_an_older_shipped_version_keeps_new_shipped_documents(
    engine: sa.Engine,
) -> None:
    install(engine, _fleet("1.0.0", view=None), with_data=True)
    install(engine, _fleet("1.1.0"))  # the new version ships a view
    versions.restore_version(engine, "fleet", 1)
    # Version 1 never knew the view: restoring it does not delete it.
    assert _views(engine, "fleet") == ["vehicles"]


def test_deleting_a_shipped_entity_drops_its_table_once_confirmed(
    engine: sa.Engine, tmp_path: Path
) -> None:
    install_fleet(engine)
    with engine.begin() as conn:
        draft = drafts.delete(conn, drafts.open_draft(conn, "fleet").id, "entity", "vehicle")
        shown = drafts.plan(conn, draft.id)
    assert shown.ok and [s.kind for s in shown.data_loss] == ["drop_table"]
    assert "data loss: 2 rows" in shown.text
    before = state(engine)
    with pytest.raises(DataLossRefused):
        drafts.publish(engine, draft.id, backup_dir=tmp_path)
    assert state(engine) == before
    drafts.publish(engine, draft.id, confirm_data_loss=True, backup_dir=tmp_path)
    with reading(engine) as conn:
        assert list(Catalog.load(conn).blueprints["fleet"]["entities"]) == ["driver"]
        assert [(d.kind, d.name, d.body) for d in read_layer(conn, "fleet", "custom")] == [
            ("entity", "vehicle", None)
        ]
        assert "fleet_vehicle" not in sa.inspect(conn).get_table_names()
    assert columns(engine, "fleet_driver")


def test_write_custom_keeps_a_tombstone_only_over_a_shipped_document(engine: sa.Engine) -> None:
    install(engine, _fleet("1.0.0"), with_data=True)
    with engine.begin() as conn:
        stamp = fingerprint(conn)
        set_custom_document(conn, Doc("view", "fleet", "vehicles", None))
        set_custom_document(conn, Doc("view", "fleet", "nothing_shipped", None))
        set_custom_document(conn, Doc("blueprint", "fleet", "fleet", None))
        assert [(d.kind, d.name) for d in read_layer(conn, "fleet", "custom")] == [
            ("view", "vehicles")
        ]
        assert fingerprint(conn) != stamp
        assert "views" not in Catalog.load(conn).blueprints["fleet"]
        assert Catalog.load(conn).blueprints["fleet"]["version"] == "1.0.0"
        # Dropping the tombstone shows the shipped document again.
        delete_custom_document(conn, "fleet", "view", "vehicles")
        assert read_layer(conn, "fleet", "custom") == []
        assert Catalog.load(conn).blueprints["fleet"]["views"] == {"vehicles": VIEW}
