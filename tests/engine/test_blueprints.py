"""Blueprint import, upgrade and export end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from appblocks.engine.blueprints import (
    BlueprintRefused,
    export_blueprint,
    install,
    satisfies,
    write_blueprint_folder,
)
from appblocks.engine.catalog import Catalog, installed_apps
from appblocks.engine.db import reading
from appblocks.engine.loader import load_blueprint, load_blueprint_text
from appblocks.engine.records import RecordStore
from appblocks.workflows.assembly import store_factory

HERE = Path(__file__).parent
LIBRARY = HERE / "blueprints" / "library"
ROOT = HERE.parents[1]


def _snapshot(engine: sa.Engine) -> dict[str, Any]:
    """Tables, their columns and row counts: what a failed import must leave untouched."""
    shape: dict[str, Any] = {}
    with reading(engine) as conn:
        inspector = sa.inspect(conn)
        for name in sorted(inspector.get_table_names()):
            columns = [c["name"] for c in inspector.get_columns(name)]
            count = conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar()  # noqa: S608
            shape[name] = (columns, count)
    return shape


def test_library_imports_with_data_and_exports_to_an_empty_plan(
    engine: sa.Engine, tmp_path: Path
) -> None:
    result = install(engine, load_blueprint(LIBRARY), with_data=True)
    assert result.applied and sum(result.records.values()) > 0
    with engine.connect() as conn:
        assert ("library", result.version) in installed_apps(conn)
        exported = export_blueprint(conn, "library")
    out = tmp_path / "export"
    write_blueprint_folder(exported, out)
    assert (out / "blueprint.yaml").exists() and (out / "entities.yaml").exists()
    replan = install(engine, load_blueprint(out), dry_run=True)
    assert replan.plan.is_empty, replan.plan.render()


def test_library_seed_links_resolve_by_title(engine: sa.Engine) -> None:
    install(engine, load_blueprint(LIBRARY), with_data=True)
    with engine.connect() as conn:
        catalog = Catalog.load(conn)
        store = RecordStore(catalog)
        linking = [
            (e, f)
            for e in catalog.specs.entities.values()
            for f in e.fields.values()
            if f.type == "link" and f.required and e.app == "library"
        ]
        assert linking, "the library fixture should have a required link"
        entity, field = linking[0]
        page = store.list(conn, entity.qualified, limit=5)
        assert page.items and all(isinstance(r[field.name], int) for r in page.items)


@pytest.mark.parametrize("app", ["srm", "crm"])
def test_shipped_blueprints_import_with_data(engine: sa.Engine, app: str) -> None:
    result = install(engine, load_blueprint(ROOT / "blueprints" / app), with_data=True)
    assert result.applied
    assert sum(result.records.values()) >= 20
    with engine.connect() as conn:
        exported = export_blueprint(conn, app)
    again = install(
        engine, load_blueprint_text(yaml.safe_dump(exported, allow_unicode=True)), dry_run=True
    )
    assert again.plan.is_empty, again.plan.render()


def test_broken_blueprint_changes_nothing(engine: sa.Engine) -> None:
    install(engine, load_blueprint(LIBRARY), with_data=True)
    before = _snapshot(engine)
    broken = """
blueprint: fleet
version: 1.0.0
entities:
  vehicle:
    title: plate
    fields:
      plate: {type: text}
      driver: {type: link, to: nobody}
"""
    with pytest.raises(BlueprintRefused) as refused:
        install(engine, load_blueprint_text(broken, "fleet.yaml"), with_data=True)
    assert "fleet.yaml:9: entities.vehicle.fields.driver.to" in str(refused.value)
    assert _snapshot(engine) == before


def test_failing_seed_data_rolls_back_tables_and_documents(engine: sa.Engine) -> None:
    install(engine, load_blueprint(LIBRARY), with_data=True)
    before = _snapshot(engine)
    fleet = """
blueprint: fleet
version: 1.0.0
entities:
  vehicle:
    title: plate
    fields:
      plate: {type: text, required: true, unique: true}
      seats: {type: integer, min: 1}
data:
  vehicle:
    - {plate: A-1, seats: 4}
    - {plate: A-1, seats: 5}
"""
    from appblocks.engine.seed import SeedDataError

    with pytest.raises(SeedDataError):
        install(engine, load_blueprint_text(fleet, "fleet.yaml"), with_data=True)
    assert _snapshot(engine) == before


def test_upgrade_adds_a_field_and_keeps_records(engine: sa.Engine) -> None:
    v1 = """
blueprint: fleet
version: 1.0.0
entities:
  vehicle:
    title: plate
    fields:
      plate: {type: text, required: true}
data:
  vehicle: [{plate: A-1}, {plate: B-2}]
"""
    install(engine, load_blueprint_text(v1, "fleet.yaml"), with_data=True)
    v2 = v1.replace("version: 1.0.0", "version: 1.1.0").replace(
        "plate: {type: text, required: true}",
        "plate: {type: text, required: true}\n      seats: {type: integer}",
    )
    plan = install(engine, load_blueprint_text(v2, "fleet.yaml"), dry_run=True).plan
    assert "seats" in plan.render()
    result = install(engine, load_blueprint_text(v2, "fleet.yaml"))
    assert result.previous_version == "1.0.0"
    with engine.connect() as conn:
        store = RecordStore(Catalog.load(conn))
        items = store.list(conn, "fleet.vehicle", sort="plate").items
    assert [(r["plate"], r["seats"]) for r in items] == [("A-1", None), ("B-2", None)]


def test_downgrade_is_refused(engine: sa.Engine) -> None:
    text = "blueprint: fleet\nversion: 2.0.0\nentities:\n  car:\n    fields:\n      plate: {type: text}\n"
    install(engine, load_blueprint_text(text, "fleet.yaml"))
    with pytest.raises(BlueprintRefused, match="older"):
        install(engine, load_blueprint_text(text.replace("2.0.0", "1.9.0"), "fleet.yaml"))


@pytest.mark.parametrize(
    ("version", "spec", "ok"),
    [
        ("1.2.3", ">=1.0", True),
        ("0.9.0", ">=1.0", False),
        ("1.4.0", "^1.2", True),
        ("2.0.0", "^1.2", False),
        ("1.2.9", "~1.2", True),
        ("1.3.0", "~1.2", False),
        ("1.2.3", "1.2.3", True),
        ("1.2.4", "1.2.3", False),
        ("3.1.0", "*", True),
        ("1.5.0", ">=1.0,<2.0", True),
    ],
)
def test_requires_specifiers(version: str, spec: str, ok: bool) -> None:
    assert satisfies(version, spec) is ok


TRIPS = """
blueprint: fleet
version: 1.0.0
entities:
  trip:
    title: code
    fields:
      code: {type: text, required: true}
  driver:
    title: name
    fields:
      name: {type: text}
workflows:
  trip_flow:
    entity: trip
    initial: planned
    states: [planned, underway, finished]
    transitions:
      start: {from: planned, to: underway}
      finish: {from: underway, to: finished}
data:
  trip:
    - {code: T1}
    - {code: T2, _state: finished}
"""


def test_seed_data_may_put_a_record_in_a_later_state(engine: sa.Engine) -> None:
    blueprint = load_blueprint_text(TRIPS, "fleet.yaml")
    # Seeded the way the CLI seeds: through the workflow store, which starts records.
    install(engine, blueprint, with_data=True, store_factory=store_factory(automations=False))
    with engine.connect() as conn:
        table = Catalog.load(conn).table("fleet.trip")
        rows = conn.execute(sa.select(table.c.code, table.c._state).order_by(table.c.id)).all()
    assert [tuple(r) for r in rows] == [("T1", "planned"), ("T2", "finished")]


@pytest.mark.parametrize(
    ("instead", "problem"),
    [
        ("    - {code: T3, _state: lost}\n", "'lost' is not a state of trip's workflow"),
        ("  driver:\n    - {name: Wu, _state: planned}\n", "driver has no workflow"),
    ],
)
def test_seed_data_with_a_state_the_workflow_lacks_is_refused(
    engine: sa.Engine, instead: str, problem: str
) -> None:
    before = _snapshot(engine)
    text = TRIPS.replace("    - {code: T2, _state: finished}\n", instead)
    with pytest.raises(BlueprintRefused, match=problem):
        install(engine, load_blueprint_text(text, "fleet.yaml"), with_data=True)
    assert _snapshot(engine) == before
