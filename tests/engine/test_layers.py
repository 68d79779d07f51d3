"""The custom layer over a shipped blueprint: kept through an upgrade, conflicts reported.

The issue's test: install the shipped SRM with data, customise it through a draft, import a
newer SRM that changes other things (the customisation is kept, the upstream change applied),
then one that changes the same things differently (refused, every conflict named, nothing
changed). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from appblocks.cli import main as cli
from appblocks.engine import drafts
from appblocks.engine.blueprints import (
    BlueprintRefused,
    UpgradeConflict,
    export_blueprint,
    install,
    write_blueprint_folder,
)
from appblocks.engine.catalog import Catalog, Doc, installed_apps
from appblocks.engine.db import reading
from appblocks.engine.layers import (
    custom_changes,
    delete_custom_document,
    has_custom,
    is_shipped,
    read_layer,
    set_custom_document,
)
from appblocks.engine.loader import LoadedBlueprint, load_blueprint
from appblocks.engine.versions import list_versions
from tests.engine.test_drafts import FLEET, columns, install_fleet, state

SRM = Path(__file__).parents[2] / "blueprints" / "srm"
PRIORITY = {
    "type": "choice",
    "label": {"en": "Priority", "zh-CN": "优先级"},
    "options": ["low", "normal", "urgent"],
}
INCOTERM = {"type": "text", "label": {"en": "Incoterm", "zh-CN": "贸易术语"}, "max_length": 3}


def _customise_srm(engine: sa.Engine) -> None:
    """Through a draft: a priority field on purchase orders, the supplier code relabelled."""
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "srm", actor="analyst")
        order = copy.deepcopy(draft.document("entity", "purchase_order"))
        order["fields"]["priority"] = PRIORITY
        drafts.replace(conn, draft.id, "entity", "purchase_order", order, label="Add priority")
        supplier = copy.deepcopy(draft.document("entity", "supplier"))
        supplier["fields"]["code"]["label"]["en"] = "Vendor code"
        drafts.replace(conn, draft.id, "entity", "supplier", supplier, label="Relabel code")
    result = drafts.publish(engine, draft.id, actor="analyst")
    assert result.layer == "custom"


def _newer_srm(step: int, **supplier_labels: str) -> LoadedBlueprint:
    """The shipped SRM `step` minor versions on: an incoterm field and the given labels."""
    loaded = load_blueprint(SRM)
    major, minor, _ = (int(n) for n in str(loaded.doc["version"]).split("."))
    loaded.doc["version"] = f"{major}.{minor + step}.0"
    loaded.doc["entities"]["purchase_order"]["fields"]["incoterm"] = copy.deepcopy(INCOTERM)
    for field, label in supplier_labels.items():
        loaded.doc["entities"]["supplier"]["fields"][field]["label"]["en"] = label
    return loaded


def _field(engine: sa.Engine, entity: str, field: str) -> Any:
    with reading(engine) as conn:
        return Catalog.load(conn).entity(entity).fields[field]


def test_upgrade_of_a_shipped_blueprint_keeps_the_customisation(engine: sa.Engine) -> None:
    shipped = install(engine, load_blueprint(SRM), with_data=True).version
    _customise_srm(engine)
    with engine.begin() as conn:
        order = Catalog.load(conn).table("srm.purchase_order")
        first = conn.execute(sa.select(sa.func.min(order.c.id))).scalar_one()
        conn.execute(sa.update(order).where(order.c.id == first).values(priority="urgent"))
        orders = conn.execute(sa.select(sa.func.count()).select_from(order)).scalar_one()

    result = install(engine, _newer_srm(1, city="Town"))
    assert result.applied and result.customised and result.previous_version == shipped
    assert "add column srm_purchase_order.incoterm" in result.plan.render()
    assert "priority" not in result.plan.render()  # the customised column stays as it is

    # The customisation is kept: its column exists and holds its data, the label stays.
    assert {"priority", "incoterm"} <= set(columns(engine, "srm_purchase_order"))
    with reading(engine) as conn:
        order = Catalog.load(conn).table("srm.purchase_order")
        assert conn.execute(sa.select(sa.func.count()).select_from(order)).scalar_one() == orders
        kept = conn.execute(sa.select(order.c.priority).where(order.c.id == first)).scalar_one()
        assert kept == "urgent"
        assert ("srm", result.version) in installed_apps(conn)
        custom = {d.name for d in read_layer(conn, "srm", "custom")}
        assert custom == {"purchase_order", "supplier"}
        base = {d.name: d.body for d in read_layer(conn, "srm", "base")}
        assert "priority" not in base["purchase_order"]["fields"]  # the base is as shipped
        assert [v.source for v in list_versions(conn, "srm")] == ["upgrade", "publish", "import"]
    assert _field(engine, "srm.supplier", "code").label("en") == "Vendor code"
    # ... and the upstream changes are applied.
    assert _field(engine, "srm.supplier", "city").label("en") == "Town"
    assert _field(engine, "srm.purchase_order", "incoterm").label("zh-CN") == "贸易术语"

    # A newer version that changes the customised label and adds the customised field its
    # own way: refused, each conflict named with both values, and nothing changes.
    conflicting = _newer_srm(2, city="Town", code="Supplier code")
    conflicting.doc["entities"]["purchase_order"]["fields"]["priority"] = {
        "type": "integer",
        "label": {"en": "Priority"},
    }
    before = state(engine)
    with pytest.raises(UpgradeConflict) as refused:
        install(engine, conflicting)
    conflicts = {c.path: c for c in refused.value.conflicts}
    assert set(conflicts) == {
        "entities.supplier.fields.code.label.en",
        "entities.purchase_order.fields.priority",
    }
    label = conflicts["entities.supplier.fields.code.label.en"]
    assert (label.ancestor, label.ours, label.theirs) == ("Code", "Vendor code", "Supplier code")
    report = str(refused.value)
    assert "entities.supplier.fields.code.label.en" in report
    assert '"Vendor code"' in report and '"Supplier code"' in report
    assert "suppliers.yaml:" in report  # placed where the new version writes it
    assert state(engine) == before
    with reading(engine) as conn:
        assert ("srm", result.version) in installed_apps(conn)
    # A dry run reports the same conflicts.
    with pytest.raises(UpgradeConflict):
        install(engine, conflicting, dry_run=True)


def test_upgrade_that_breaks_a_cleanly_merged_customisation_is_refused(engine: sa.Engine) -> None:
    install_fleet(engine)
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet")
        vehicle = copy.deepcopy(draft.document("entity", "vehicle"))
        vehicle["fields"]["rows"] = {"type": "integer", "formula": "seats / 2"}
        drafts.replace(conn, draft.id, "entity", "vehicle", vehicle)
    drafts.publish(engine, draft.id)
    newer = yaml.safe_load(FLEET)
    newer["version"] = "1.1.0"
    del newer["entities"]["vehicle"]["fields"]["seats"]  # what the custom formula reads
    del newer["data"]
    before = state(engine)
    with pytest.raises(BlueprintRefused) as refused:
        install(engine, LoadedBlueprint(doc=newer, root=Path("fleet.yaml")), allow_data_loss=True)
    assert not isinstance(refused.value, UpgradeConflict)
    assert "does not fit the new version: entities.vehicle.fields.rows" in str(refused.value)
    assert state(engine) == before


def test_export_gives_the_effective_the_base_or_only_the_custom_layer(
    engine: sa.Engine, tmp_path: Path
) -> None:
    install_fleet(engine)
    with engine.begin() as conn:
        draft = drafts.open_draft(conn, "fleet")
        vehicle = copy.deepcopy(draft.document("entity", "vehicle"))
        vehicle["fields"]["colour"] = {"type": "text"}
        drafts.replace(conn, draft.id, "entity", "vehicle", vehicle)
    drafts.publish(engine, draft.id)
    with reading(engine) as conn:
        effective = export_blueprint(conn, "fleet")
        base = export_blueprint(conn, "fleet", "base")
        custom = export_blueprint(conn, "fleet", "custom")
        (change,) = custom_changes(conn, "fleet")
    assert "colour" in effective["entities"]["vehicle"]["fields"]
    assert "colour" not in base["entities"]["vehicle"]["fields"]
    assert custom == {"blueprint": "fleet", "version": "1.0.0", "entities": {"vehicle": vehicle}}
    assert (change.status, change.path) == ("changed", "entities.vehicle")
    assert [(c.kind, c.path) for c in change.changes] == [
        ("added", "entities.vehicle.fields.colour")
    ]
    # The effective export imports elsewhere as a plain blueprint with the customisation in it.
    write_blueprint_folder(effective, tmp_path / "fleet")
    assert "colour" in (tmp_path / "fleet" / "entities.yaml").read_text(encoding="utf-8")


def test_custom_documents_are_written_and_removed_one_by_one(engine: sa.Engine) -> None:
    install_fleet(engine)
    view = {"entity": "vehicle", "type": "list", "columns": ["plate"]}
    with engine.begin() as conn:
        assert is_shipped(conn, "fleet") and not has_custom(conn, "fleet")
        set_custom_document(conn, Doc("view", "fleet", "cars", view))
        assert has_custom(conn, "fleet")
        assert Catalog.load(conn).blueprints["fleet"]["views"] == {"cars": view}
        # a custom document equal to the base is no customisation at all
        plate = next(d for d in read_layer(conn, "fleet", "base") if d.name == "vehicle")
        set_custom_document(conn, plate)
        assert [d.name for d in read_layer(conn, "fleet", "custom")] == ["cars"]
        delete_custom_document(conn, "fleet", "view", "cars")
        assert (
            not has_custom(conn, "fleet") and "views" not in Catalog.load(conn).blueprints["fleet"]
        )


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_import_reports_conflicts_and_exports_layers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SQLite only, like tests/test_cli.py: the command's engines live as long as the process.
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    v1 = tmp_path / "v1.yaml"
    v1.write_text(FLEET, encoding="utf-8")
    assert _run(capsys, "blueprint", "import", str(v1), "--db", db_url, "--with-data")[0] == 0
    from appblocks.engine.db import create_engine

    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            draft = drafts.open_draft(conn, "fleet")
            vehicle = copy.deepcopy(draft.document("entity", "vehicle"))
            vehicle["fields"]["seats"]["label"]["en"] = "Places"
            drafts.replace(conn, draft.id, "entity", "vehicle", vehicle)
        drafts.publish(engine, draft.id)
    finally:
        engine.dispose()
    newer = yaml.safe_load(FLEET)
    newer["version"] = "1.1.0"
    newer["entities"]["vehicle"]["fields"]["seats"]["label"]["en"] = "Seat count"
    v2 = tmp_path / "v2.yaml"
    v2.write_text(yaml.safe_dump(newer, allow_unicode=True), encoding="utf-8")
    code, _, err = _run(capsys, "blueprint", "import", str(v2), "--db", db_url)
    assert code == 1
    assert "entities.vehicle.fields.seats.label.en" in err
    assert '"Places"' in err and '"Seat count"' in err
    assert "1 conflict(s)" in err and "Nothing was changed." in err
    code, out, _ = _run(capsys, "blueprint", "list", "--db", db_url)
    assert "fleet\t1.0.0" in out
    out_dir = tmp_path / "custom"
    code, _, _ = _run(
        capsys,
        "blueprint",
        "export",
        "fleet",
        "--layer",
        "custom",
        "--out",
        str(out_dir),
        "--db",
        db_url,
    )
    assert code == 0
    exported = yaml.safe_load((out_dir / "entities.yaml").read_text(encoding="utf-8"))
    assert list(exported["entities"]) == ["vehicle"]
    assert exported["entities"]["vehicle"]["fields"]["seats"]["label"]["en"] == "Places"
    # A version that leaves the customised label alone merges, and says so.
    newer["entities"]["vehicle"]["fields"]["seats"]["label"]["en"] = "Seats"
    newer["entities"]["vehicle"]["fields"]["seats"]["label"]["zh-CN"] = "座位"
    v2.write_text(yaml.safe_dump(newer, allow_unicode=True), encoding="utf-8")
    code, out, err = _run(capsys, "blueprint", "import", str(v2), "--db", db_url)
    assert code == 0, err
    assert "The customisation of fleet was kept" in out
