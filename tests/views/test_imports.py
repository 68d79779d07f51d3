"""Imports from the pages: reading uploads, guessing the mapping, the dry run and the import."""

from __future__ import annotations

import io
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from appblocks.engine.access import Scope
from appblocks.engine.blueprints import install
from appblocks.engine.catalog import Catalog
from appblocks.engine.compute import build_store
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.sandbox_values import UserContext
from appblocks.views import imports
from appblocks.views.imports import ImportRunner, Job, UploadError

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
      plate: {type: text, required: true, unique: true, label: {en: Plate number, zh-CN: 车牌号}}
      depot: {type: link, to: depot, label: {en: Depot, zh-CN: 车场}}
      seats: {type: integer, min: 1, label: {en: Seats, zh-CN: 座位数（个）}}
      lead_time_days: {type: integer, label: {en: Lead time (days), zh-CN: 交付周期(天)}}
      bought: {type: date}
      note: {type: text}
      fleet_no: {type: autonumber, format: "V-{seq:03}"}
    rules:
      - when: "seats is not None and seats > 60"
        field: seats
        error: {en: A vehicle has at most 60 seats., zh-CN: 车辆最多 60 个座位。}
data:
  depot: [{name: North}, {name: South}]
"""


@pytest.fixture
def fleet(engine: sa.Engine) -> sa.Engine:
    install(engine, load_blueprint_text(FLEET, "fleet.yaml"), with_data=True)
    return engine


def _spec(engine: sa.Engine) -> Any:
    with engine.connect() as conn:
        return Catalog.load(conn).entity("fleet.vehicle")


# --- guessing the mapping ----------------------------------------------------------------------


def test_guess_mapping_by_name_and_english_label(fleet: sa.Engine) -> None:
    spec = _spec(fleet)
    fields = imports.importable_fields(spec, Scope("fleet.vehicle", None))
    header = ["PLATE NUMBER", "depot", " Seats ", "Lead Time (Days)", "colour", "Note"]
    assert imports.guess_mapping(fields, header) == [
        "plate", "depot", "seats", "lead_time_days", None, "note",
    ]  # fmt: skip


def test_guess_mapping_by_chinese_label_with_full_width_brackets(fleet: sa.Engine) -> None:
    spec = _spec(fleet)
    fields = imports.importable_fields(spec, Scope("fleet.vehicle", None))
    header = ["车牌号", "车场", "座位数(个)", "交付周期（天）", "车牌号"]
    # each field once: the second 车牌号 column is left to the user
    assert imports.guess_mapping(fields, header) == [
        "plate", "depot", "seats", "lead_time_days", None,
    ]  # fmt: skip


def test_importable_fields_leave_out_computed_hidden_and_read_only(fleet: sa.Engine) -> None:
    spec = _spec(fleet)
    scope = Scope(
        "fleet.vehicle", None, hidden=frozenset({"note"}), read_only=frozenset({"bought"})
    )
    names = [f.name for f in imports.importable_fields(spec, scope)]
    assert names == ["plate", "depot", "seats", "lead_time_days"]  # no autonumber either


def test_check_mapping_refuses_forged_doubled_and_missing_fields(fleet: sa.Engine) -> None:
    spec = _spec(fleet)
    scope = Scope("fleet.vehicle", None, hidden=frozenset({"note"}))
    fields = imports.importable_fields(spec, scope)
    header = ["a", "b", "c"]
    problems = imports.check_mapping(fields, header, ["note", "seats", "seats"])
    texts = [p.text % dict(p.params) for p in problems]
    assert "You may not import into the field “note”." in texts
    assert "The columns “b” and “c” both fill seats." in texts
    assert "Choose a column for the required field plate." in texts
    assert imports.check_mapping(fields, header, ["plate", None, "fleet_no"])  # computed: forged
    assert imports.check_mapping(fields, header, ["plate", None, None]) == []


# --- reading uploads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("cars.csv", b"", "The file is empty."),
        ("cars.csv", b"\xef\xbb\xbf\r\n\r\n", "The file is empty."),
        ("cars.csv", b"\xff\xfe\x00\x01garbage\x80", "The file is not text in UTF-8"),
        ("cars.csv", b"1,2026-01-02,3\n4,2026-02-03,5\n", "holds values"),
        ("cars.csv", b"plate,seats\n", "no rows to import"),
        ("cars.pdf", b"%PDF-1.4", "Only .csv and .xlsx"),
        ("cars.xlsx", b"PK\x03\x04 not really a workbook", "Excel workbook"),
    ],
)
def test_read_table_refuses_unreadable_files_with_a_reason(
    name: str, data: bytes, message: str
) -> None:
    with pytest.raises(UploadError) as refused:
        imports.read_table(name, data)
    assert message in str(refused.value)


def test_read_table_reads_gb18030_semicolons_and_keeps_row_numbers() -> None:
    data = "车牌号;座位数\n沪A-1;5\n\n沪B-2;7\n".encode("gb18030")
    table = imports.read_table("cars.csv", data)
    assert table[0] == ["车牌号", "座位数"]
    assert table[3] == ["沪B-2", "7"]  # row 4 of the file: the blank row 3 stays
    assert imports.data_rows(table) == 2


def test_read_table_reads_the_first_sheet_of_a_workbook() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["plate", "seats", "bought"])
    sheet.append(["X-1", 3, None])
    out = io.BytesIO()
    book.save(out)
    assert imports.read_table("cars.xlsx", out.getvalue())[1] == ["X-1", "3", ""]


# --- the dry run and the import ----------------------------------------------------------------


def _run(engine: sa.Engine, csv_text: str, mapping: list[str | None] | None = None) -> int:
    with engine.begin() as conn:
        catalog = Catalog.load(conn)
        spec = catalog.entity("fleet.vehicle")
        fields = imports.importable_fields(spec, Scope("fleet.vehicle", None))
        data = csv_text.encode()
        run_id = imports.create_run(
            conn, "clerk", "fleet.vehicle", "cars.csv", "text/csv", data,
            imports.read_table("cars.csv", data), fields,
        )  # fmt: skip
        if mapping is not None:
            run = imports.load_run(conn, run_id, "clerk", "fleet.vehicle")
            assert run is not None
            imports.save_mapping(conn, run, mapping)
    return run_id


def _execute(
    engine: sa.Engine, run_id: int, *, dry_run: bool, progress: bool = True
) -> dict[str, Any]:
    with engine.connect() as conn:
        catalog = Catalog.load(conn)
    job = Job(
        engine=engine, catalog=catalog, store=build_store(catalog), entity="fleet.vehicle",
        run_id=run_id, actor="clerk", user=UserContext("clerk"), fixed={}, scope=None,
        dry_run=dry_run,
    )  # fmt: skip
    seen: list[int] = []
    runner = ImportRunner()
    original = runner._progress

    def spy(job: Job) -> Any:
        report = original(job)
        return lambda done: (seen.append(done), report(done))

    runner._progress = spy  # type: ignore[method-assign]
    runner.run(job)
    with engine.connect() as conn:
        run = imports.load_run(conn, run_id, "clerk", "fleet.vehicle")
    assert run is not None and bool(seen) == progress, "progress was reported"
    return run


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM fleet_vehicle")).scalar_one())


def test_dry_run_reports_every_bad_row_and_writes_nothing(fleet: sa.Engine) -> None:
    text = (
        "Plate number,Depot,Seats,bought\n"
        "A-1,North,4,2026-01-02\n"
        "B-2,Nowhere,4,\n"  # row 3: no such depot
        "C-3,South,many,\n"  # row 4: not a number
        "D-4,South,0,\n"  # row 5: below the minimum
        "A-1,South,2,\n"  # row 6: the plate again
        "E-5,South,80,\n"  # row 7: the entity's rule
        ",South,3,\n"  # row 8: required
    )
    run = _execute(fleet, _run(fleet, text), dry_run=True)
    assert run["status"] == imports.CHECKED
    by_row = {e["row"]: e for e in run["errors"]}
    assert sorted(by_row) == [3, 4, 5, 6, 7, 8]
    assert by_row[3]["code"] == "link_unknown" and by_row[3]["params"]["value"] == "Nowhere"
    assert by_row[3]["title"] == "Depot" and by_row[3]["column"] == 2
    assert "not a whole number" in by_row[4]["message"] and by_row[4]["title"] == "Seats"
    assert "at least 1" in by_row[5]["message"]
    assert by_row[6]["code"] == "unique" and by_row[6]["field"] == "plate"
    assert (
        by_row[7]["code"] == "rule" and by_row[7]["params"]["message_zh"] == "车辆最多 60 个座位。"
    )
    assert by_row[8]["code"] == "required" and by_row[8]["title"] == "Plate number"
    assert _count(fleet) == 0


def test_skipping_the_bad_rows_then_importing_writes_the_good_ones(fleet: sa.Engine) -> None:
    run_id = _run(fleet, "plate,seats\nA-1,4\nB-2,zero\nC-3,5\n")
    run = _execute(fleet, run_id, dry_run=True)
    assert [e["row"] for e in run["errors"]] == [3]
    with fleet.begin() as conn:
        assert imports.skip_rows(conn, run) == 2
        assert imports.claim(conn, run_id, [imports.CHECKED], imports.IMPORTING)
        assert not imports.claim(conn, run_id, [imports.CHECKED], imports.IMPORTING)  # twice
    run = _execute(fleet, run_id, dry_run=False)
    assert run["status"] == imports.DONE and run["done"] == 2 and run["finished_at"]
    assert _count(fleet) == 2


def test_a_failing_import_leaves_no_rows_and_says_why(fleet: sa.Engine) -> None:
    run_id = _run(fleet, "plate,seats\nA-1,4\nB-2,5\n")
    assert _execute(fleet, run_id, dry_run=True)["errors"] == []
    with fleet.begin() as conn:  # someone adds B-2 between the check and the import
        build_store(Catalog.load(conn)).create(conn, "fleet.vehicle", {"plate": "B-2"})
    run = _execute(fleet, run_id, dry_run=False)
    assert run["status"] == imports.FAILED
    assert [(e["row"], e["code"]) for e in run["errors"]] == [(3, "unique")]
    assert _count(fleet) == 1  # only the row added by hand


def test_a_crashing_import_is_marked_failed(fleet: sa.Engine) -> None:
    run_id = _run(fleet, "plate,seats\nA-1,4\n")
    with fleet.begin() as conn:  # the uploaded file went missing
        conn.execute(
            sa.update(imports.RUNS).where(imports.RUNS.c.id == run_id).values(file_id=None)
        )
    run = _execute(fleet, run_id, dry_run=False, progress=False)
    assert run["status"] == imports.FAILED and run["errors"][0]["code"] == "crashed"
    assert _count(fleet) == 0
