"""CSV and XLSX import and export: all rows or none, every bad row named."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from appblocks.engine.blueprints import install
from appblocks.engine.catalog import Catalog
from appblocks.engine.dataio import ImportFailed, export_file, import_file
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.records import RecordStore

FLEET = """
blueprint: fleet
version: 1.0.0
entities:
  depot:
    label: {en: Depot, zh-CN: 车场}
    title: name
    fields:
      name: {type: text, required: true, unique: true}
  vehicle:
    label: {en: Vehicle, zh-CN: 车辆}
    title: plate
    fields:
      plate: {type: text, required: true, unique: true, label: {en: Plate, zh-CN: 车牌}}
      depot: {type: link, to: depot, label: {en: Depot, zh-CN: 车场}}
      seats: {type: integer, min: 1, label: {en: Seats, zh-CN: 座位}}
      bought: {type: date}
      electric: {type: boolean}
data:
  depot: [{name: North}, {name: South}]
"""


@pytest.fixture
def fleet(engine: sa.Engine) -> sa.Engine:
    install(engine, load_blueprint_text(FLEET, "fleet.yaml"), with_data=True)
    return engine


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM fleet_vehicle")).scalar_one()


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vehicles.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_import_resolves_links_by_title_or_id(fleet: sa.Engine, tmp_path: Path) -> None:
    path = _csv(
        tmp_path, "plate,depot,seats,bought,electric\nA-1,North,4,2025-01-02,yes\nB-2,2,7,,no\n"
    )
    assert import_file(fleet, "fleet.vehicle", path) == 2
    with fleet.connect() as conn:
        rows = RecordStore(Catalog.load(conn)).list(conn, "fleet.vehicle", sort="plate").items
    assert [(r["plate"], r["depot"], r["seats"], r["electric"]) for r in rows] == [
        ("A-1", 1, 4, True),
        ("B-2", 2, 7, False),
    ]


def test_csv_headers_may_be_labels_in_chinese(fleet: sa.Engine, tmp_path: Path) -> None:
    path = _csv(tmp_path, "\ufeff车牌,车场,座位\n沪A-1,South,5\n")
    assert import_file(fleet, "fleet.vehicle", path) == 1


def test_bad_rows_are_all_reported_and_nothing_is_imported(
    fleet: sa.Engine, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "plate,depot,seats\nA-1,North,4\nB-2,Nowhere,4\nC-3,South,zero\nD-4,South,0\nA-1,South,2\n",
    )
    with pytest.raises(ImportFailed) as failed:
        import_file(fleet, "fleet.vehicle", path)
    text = "\n".join(failed.value.problems)
    assert "row 3, column 2 (depot)" in text and "Nowhere" in text
    assert "row 4, column 3 (seats)" in text
    assert "row 5" in text and "at least 1" in text
    assert "row 6" in text  # the duplicate plate
    assert _count(fleet) == 0


def test_unknown_and_missing_columns_are_refused(fleet: sa.Engine, tmp_path: Path) -> None:
    path = _csv(tmp_path, "depot,colour\nNorth,red\n")
    with pytest.raises(ImportFailed) as failed:
        import_file(fleet, "fleet.vehicle", path)
    text = "\n".join(failed.value.problems)
    assert "colour" in text and "plate" in text


def test_xlsx_round_trip(fleet: sa.Engine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["plate", "depot", "seats", "bought"])
    sheet.append(["X-1", "North", 3, None])
    sheet.append(["X-2", "South", 9, None])
    source = tmp_path / "in.xlsx"
    book.save(source)
    assert import_file(fleet, "fleet.vehicle", source) == 2
    out = tmp_path / "out.xlsx"
    assert export_file(fleet, "fleet.vehicle", out, "xlsx") == 2
    rows = list(load_workbook(out).worksheets[0].iter_rows(values_only=True))
    assert rows[0][:3] == ("id", "plate", "depot")
    assert [r[1:3] for r in rows[1:]] == [("X-1", "North"), ("X-2", "South")]


def test_csv_export_then_import_elsewhere(fleet: sa.Engine, tmp_path: Path) -> None:
    import_file(fleet, "fleet.vehicle", _csv(tmp_path, "plate,depot,seats\nA-1,North,4\n"))
    out = tmp_path / "out.csv"
    assert export_file(fleet, "fleet.vehicle", out, "csv") == 1
    with fleet.begin() as conn:
        conn.execute(sa.text("DELETE FROM fleet_vehicle"))
    assert import_file(fleet, "fleet.vehicle", out) == 1  # id and system columns are skipped
    assert _count(fleet) == 1


def test_empty_and_unreadable_files(fleet: sa.Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="empty"):
        import_file(fleet, "fleet.vehicle", _csv(tmp_path, ""))
    binary = tmp_path / "junk.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage\x80")
    with pytest.raises(ImportFailed):
        import_file(fleet, "fleet.vehicle", binary)
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(ImportFailed, match="only .csv and .xlsx"):
        import_file(fleet, "fleet.vehicle", pdf)


def test_links_by_title_find_only_the_records_the_caller_may_read(fleet: sa.Engine) -> None:
    from appblocks.engine.dataio import load_rows

    with fleet.connect() as conn:
        catalog = Catalog.load(conn)
        conn.rollback()
        spec = catalog.entity("fleet.vehicle")
        depot = catalog.table("fleet.depot")
        fields = [spec.fields["plate"], spec.fields["depot"]]
        rows = [["A-1", "North"], ["B-2", "South"]]

        def north_only(entity: str) -> object:
            return depot.c.name == "North" if entity == "fleet.depot" else None

        transaction = conn.begin()
        done, problems = load_rows(conn, catalog, "fleet.vehicle", fields, rows, visible=north_only)
        transaction.rollback()
    # "South" exists but is not the caller's to see: the same answer as no depot at all.
    assert done == 2
    assert [(p.row, p.field) for p in problems] == [(3, "depot")]
    assert "South" in problems[0].message
    assert _count(fleet) == 0
