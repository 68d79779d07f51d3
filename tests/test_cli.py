"""The `appblocks` command, as an implementer types it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from appblocks.cli import main

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "tests" / "engine" / "blueprints" / "library"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_the_shipped_blueprints(capsys: pytest.CaptureFixture[str]) -> None:
    for app in ("srm", "crm"):
        code, out, err = run(capsys, "blueprint", "validate", str(ROOT / "blueprints" / app))
        assert code == 0, err
        assert "is valid" in out


def test_validate_reports_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "blueprint: bad\nversion: 1.0\nentities:\n  thing:\n    fields:\n      x: {type: txt}\n"
    )
    code, _, err = run(capsys, "blueprint", "validate", str(bad))
    assert code == 1
    assert f"{bad}:2: version" in err
    assert f"{bad}:6: entities.thing.fields.x.type" in err


def test_plan_import_list_export_cycle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    code, out, _ = run(capsys, "blueprint", "plan", str(LIBRARY), "--db", db)
    assert code == 0 and "create table" in out
    code, out, _ = run(capsys, "blueprint", "import", str(LIBRARY), "--db", db, "--with-data")
    assert code == 0 and "Installed library" in out
    code, out, _ = run(capsys, "blueprint", "list", "--db", db)
    assert code == 0 and out.startswith("library\t")
    export = tmp_path / "export"
    code, out, _ = run(capsys, "blueprint", "export", "library", "--out", str(export), "--db", db)
    assert code == 0 and (export / "blueprint.yaml").exists()
    code, out, _ = run(capsys, "blueprint", "plan", str(export), "--db", db)
    assert code == 0 and "No changes" in out


def test_data_import_and_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "blueprint: fleet\nversion: 1.0.0\nentities:\n  car:\n    title: plate\n    fields:\n"
        "      plate: {type: text, required: true}\n      seats: {type: integer}\n"
    )
    assert run(capsys, "blueprint", "import", str(fleet), "--db", db)[0] == 0
    good = tmp_path / "cars.csv"
    good.write_text("plate,seats\nA,4\nB,5\n")
    code, out, _ = run(capsys, "data", "import", "fleet.car", str(good), "--db", db)
    assert code == 0 and "Imported 2" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("plate,seats\nC,many\n")
    code, _, err = run(capsys, "data", "import", "fleet.car", str(bad), "--db", db)
    assert code == 1 and "row 2, column 2 (seats)" in err and "no rows were imported" in err
    code, out, _ = run(capsys, "data", "export", "fleet.car", "--db", db)
    assert code == 0 and out.splitlines()[0] == "id,plate,seats" and len(out.splitlines()) == 3


def test_eval_prints_json_or_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "eval", "quantity * 2", "--vars", '{"quantity": 21}')
    assert code == 0 and json.loads(out) == 42
    code, _, err = run(capsys, "eval", "().__class__")
    assert code == 1 and err.strip()


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("appblocks")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    assert "blueprint" in out and "data" in out


def test_import_that_would_drop_data_is_refused_cleanly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    v1 = tmp_path / "v1.yaml"
    v1.write_text(
        "blueprint: fleet\nversion: 1.0.0\nentities:\n  car:\n    fields:\n"
        "      plate: {type: text}\n      fax: {type: text}\n"
        "data:\n  car: [{plate: A, fax: '123'}]\n"
    )
    assert run(capsys, "blueprint", "import", str(v1), "--db", db, "--with-data")[0] == 0
    v2 = tmp_path / "v2.yaml"
    v2.write_text(
        "blueprint: fleet\nversion: 1.1.0\nentities:\n  car:\n    fields:\n      plate: {type: text}\n"
    )
    code, _, err = run(capsys, "blueprint", "import", str(v2), "--db", db)
    assert code == 1 and "Nothing was changed" in err and "Traceback" not in err
    code, out, _ = run(capsys, "blueprint", "list", "--db", db)
    assert "1.0.0" in out
