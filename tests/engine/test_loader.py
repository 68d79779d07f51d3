"""Loading blueprint files and folders: merged documents that remember each key's file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appblocks.engine.loader import (
    BlueprintError,
    LoadedBlueprint,
    load_blueprint,
    load_blueprint_text,
)

HERE = Path(__file__).parent
BROKEN = HERE / "blueprints" / "broken"
LIBRARY = HERE / "blueprints" / "library"

SUPPLIER = """\
blueprint: srm
version: 1.0.0
entities:
  supplier:
    title: name
    fields:
      name: {type: text, required: true}
      risk:
        type: choice
        options:
          - low
          - high
data:
  supplier:
    - {name: Acme, since: 2026-01-01}
"""


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _shown(loaded: LoadedBlueprint) -> list[str]:
    return [f"{Path(e.file).name}:{e.line}: {e.path}: {e.message}" for e in loaded.errors]


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("blueprint",), 1),
        (("entities",), 3),
        (("entities", "supplier"), 4),
        (("entities", "supplier", "fields", "name"), 7),
        (("entities", "supplier", "fields", "name", "required"), 7),
        (("entities", "supplier", "fields", "risk", "type"), 9),
        (("entities", "supplier", "fields", "risk", "options", 1), 12),
        (("data", "supplier", 0, "since"), 15),
        # unknown paths fall back to the nearest ancestor that was written
        (("entities", "supplier", "fields", "risk", "options", 7), 10),
        (("entities", "nothing", "fields"), 3),
        ((), 1),
    ],
)
def test_loader_where_gives_the_line_of_the_deepest_known_key(
    path: tuple[str | int, ...], line: int
) -> None:
    loaded = load_blueprint_text(SUPPLIER, "srm.yaml")
    assert loaded.errors == []
    assert loaded.where(path) == ("srm.yaml", line)


def test_loader_keeps_dates_and_keys_as_text() -> None:
    loaded = load_blueprint_text(
        "blueprint: x\nversion: 1.0.0\non: {yes: no}\nwhen: 2026-01-01\nat: 2026-01-01 10:30:00\n"
    )
    assert loaded.doc["when"] == "2026-01-01"
    assert loaded.doc["at"] == "2026-01-01 10:30:00"
    # `on:` and `yes:` would be the key True under plain PyYAML; keys are the text written.
    assert loaded.doc["on"] == {"yes": False}
    assert json.loads(json.dumps(loaded.doc)) == loaded.doc


def test_loader_keeps_insertion_order_and_plain_types() -> None:
    loaded = load_blueprint_text(SUPPLIER)
    fields = loaded.doc["entities"]["supplier"]["fields"]
    assert list(fields) == ["name", "risk"]
    assert fields["risk"]["options"] == ["low", "high"]
    assert type(loaded.doc) is dict and loaded.root == Path("<upload>")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: 1\nb: 2\na: 3\n",
            ["t.yaml:3: a: duplicate key 'a' (first at line 1)"],
        ),
        (
            "e:\n  f:\n    name: {type: text}\n    name: {type: long_text}\n",
            ["t.yaml:4: e.f.name: duplicate key 'name' (first at line 3)"],
        ),
        (
            "e: {type: text, type: long_text}\n",
            ["t.yaml:1: e.type: duplicate key 'type' (first at line 1)"],
        ),
        (
            "d:\n  - {x: 1}\n  - {y: 1, y: 2}\n",
            ["t.yaml:3: d.1.y: duplicate key 'y' (first at line 3)"],
        ),
    ],
)
def test_loader_refuses_duplicate_keys_with_both_lines(text: str, expected: list[str]) -> None:
    loaded = load_blueprint_text(text, "t.yaml")
    assert _shown(loaded) == expected


def test_loader_keeps_the_first_of_duplicate_keys() -> None:
    loaded = load_blueprint_text("a: 1\na: 2\n")
    assert loaded.doc == {"a": 1}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: [1, 2\nb: 3\n", 2, "expected ',' or ']'"),
        ("a: 1\n b: 2\n", 2, "mapping values are not allowed here"),
        ("a:\n\t- 1\n", 2, "found character '\\t'"),
        ("a: 'open\n", 2, "found unexpected end of stream"),
        ("--- 1\n--- 2\n", 2, "expected a single document"),
    ],
)
def test_loader_reports_yaml_syntax_errors_with_their_line(
    text: str, line: int, words: str
) -> None:
    loaded = load_blueprint_text(text, "t.yaml")
    assert not loaded.complete
    [error] = loaded.errors
    assert (error.file, error.line, error.path) == ("t.yaml", line, "(file)")
    assert error.message.startswith("invalid YAML: ") and words in error.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- 1\n- 2\n", "t.yaml:1: (file): a blueprint file must be a mapping of keys to sections"),
        ("a: !!binary aGk=\n", "t.yaml:1: a: a bytes value cannot be used here"),
        ("a: !thing 1\n", "t.yaml:1: a: invalid YAML value"),
        ("a: &x [*x]\n", "t.yaml:1: a.0: an alias refers to itself"),
        ("? [1, 2]\n: x\n", "t.yaml:1: (file): a key must be plain text"),
    ],
)
def test_loader_refuses_values_json_cannot_hold(text: str, message: str) -> None:
    loaded = load_blueprint_text(text, "t.yaml")
    assert [str(e) for e in loaded.errors if str(e).startswith(message)], _shown(loaded)


def test_loader_merge_keys_let_written_keys_win() -> None:
    loaded = load_blueprint_text(
        "base: &b {type: text, max_length: 5}\nf: {<<: *b, max_length: 9}\n"
    )
    assert loaded.errors == []
    assert loaded.doc["f"] == {"max_length": 9, "type": "text"}
    assert loaded.where(("f", "max_length")) == ("<upload>", 2)


def test_loader_reads_an_empty_file_as_an_empty_blueprint() -> None:
    loaded = load_blueprint_text("# nothing yet\n")
    assert loaded.doc == {} and loaded.errors == [] and loaded.complete


def test_loader_merges_a_folder_manifest_first_then_files_by_name(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "app",
        {
            "blueprint.yaml": "blueprint: app\nversion: 1.0.0\nentities:\n  one: {fields: {a: {type: text}}}\n",
            "zeta.yml": "entities:\n  three: {fields: {c: {type: text}}}\n",
            "alpha.yaml": "\n\nentities:\n  two: {fields: {b: {type: text}}}\nforms: {}\n",
            "notes.txt": "not yaml: [",
            ".hidden.yaml": "entities: [",
        },
    )
    loaded = load_blueprint(root)
    assert loaded.errors == []
    assert list(loaded.doc["entities"]) == ["one", "two", "three"]
    assert [Path(f).name for f in loaded.files] == ["blueprint.yaml", "alpha.yaml", "zeta.yml"]
    assert loaded.where(("entities", "two", "fields", "b")) == (str(root / "alpha.yaml"), 4)
    assert loaded.where(("entities", "three")) == (str(root / "zeta.yml"), 2)
    assert loaded.where(("entities",)) == (str(root / "blueprint.yaml"), 3)
    assert loaded.root == root


def test_loader_refuses_the_same_key_in_two_files() -> None:
    loaded = load_blueprint(BROKEN / "cross_file_duplicate")
    assert _shown(loaded) == [
        f"more.yaml:5: entities.supplier: 'supplier' is defined twice "
        f"(first at {BROKEN / 'cross_file_duplicate' / 'blueprint.yaml'}:4)",
        "more.yaml:8: version: 'version' is a manifest key: it belongs in blueprint.yaml",
    ]
    # the first definition stays; the rest of the second file is merged
    assert loaded.doc["entities"]["supplier"]["fields"]["name"] == {"type": "text"}
    assert "material" in loaded.doc["entities"] and loaded.doc["version"] == "1.0.0"


def test_loader_refuses_a_top_level_key_given_in_two_files(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "app",
        {"blueprint.yaml": "blueprint: app\nversion: 1.0.0\nextra: 1\n", "b.yaml": "extra: 2\n"},
    )
    assert _shown(load_blueprint(root)) == [
        f"b.yaml:1: extra: 'extra' is given twice (first at {root / 'blueprint.yaml'}:3)"
    ]


def test_loader_needs_blueprint_yaml_in_a_folder(tmp_path: Path) -> None:
    root = _write(tmp_path / "app", {"entities.yaml": "entities: {}\n"})
    loaded = load_blueprint(root)
    assert [str(e) for e in loaded.errors] == [
        f"{root / 'blueprint.yaml'}:1: (file): missing: a blueprint folder needs a blueprint.yaml"
    ]
    assert not loaded.complete


def test_loader_reports_a_missing_path(tmp_path: Path) -> None:
    loaded = load_blueprint(tmp_path / "nowhere")
    assert [e.message for e in loaded.errors] == ["no such file or folder"]


def test_loader_reports_syntax_errors_of_each_file_of_a_folder(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "app",
        {"blueprint.yaml": "blueprint: app\nversion: [1\n", "more.yaml": "a: 1\n  b: 2\n"},
    )
    loaded = load_blueprint(root)
    assert [(Path(e.file).name, e.line) for e in loaded.errors] == [
        ("blueprint.yaml", 3),
        ("more.yaml", 2),
    ]


def test_loader_reads_a_single_file_with_everything(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(SUPPLIER, encoding="utf-8")
    loaded = load_blueprint(str(path))
    assert loaded.errors == [] and loaded.doc["blueprint"] == "srm"
    assert loaded.where(("entities", "supplier")) == (str(path), 4)


def test_loader_reads_the_library_fixture() -> None:
    loaded = load_blueprint(LIBRARY)
    assert loaded.errors == []
    assert {"entities", "workflows", "roles", "data"} <= set(loaded.doc)


def test_blueprint_error_prints_file_line_path_and_message() -> None:
    error = BlueprintError("srm/entities.yaml", 12, "entities.supplier.fields.risk", "bad")
    assert str(error) == "srm/entities.yaml:12: entities.supplier.fields.risk: bad"
    with pytest.raises(AttributeError):
        error.line = 3  # type: ignore[misc]
