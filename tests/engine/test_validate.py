"""Blueprint validation: meta-schemas and cross-checks, every error with its file and line."""

from __future__ import annotations

import copy
import json
import random
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from appblocks.engine.fieldtypes import registry
from appblocks.engine.fieldtypes.base import FieldType
from appblocks.engine.loader import (
    BlueprintError,
    LoadedBlueprint,
    load_blueprint,
    load_blueprint_text,
)
from appblocks.engine.validate import validate_blueprint, validate_path

HERE = Path(__file__).parent
BROKEN = HERE / "blueprints" / "broken"
LIBRARY = HERE / "blueprints" / "library"
SHIPPED = HERE.parents[1] / "blueprints"

CRM: dict[str, Any] = {
    "blueprint": "crm",
    "version": "1.2.0",
    "entities": {
        "account": {"title": "name", "fields": {"name": {"type": "text"}}},
        "sales_order": {
            "title": "number",
            "fields": {
                "number": {"type": "text"},
                "account": {"type": "link", "to": "account"},
                "amount": {"type": "money"},
            },
        },
    },
    "workflows": {
        "order_flow": {
            "entity": "sales_order",
            "initial": "open",
            "states": ["open", "won"],
            "transitions": {"win": {"from": "open", "to": "won"}},
        }
    },
    "roles": {"sales_rep": {"permissions": {"sales_order": ["read"]}}},
}


def _located(path: Path, installed: dict[str, Any] | None = None) -> list[str]:
    _, errors = validate_path(path, installed)
    return [f"{Path(e.file).name}:{e.line}: {e.path}" for e in errors]


# --- one fixture per kind of broken blueprint ---------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("yaml_syntax.yaml", ["yaml_syntax.yaml:7: (file)"]),
        ("duplicate_key.yaml", ["duplicate_key.yaml:9: entities.supplier.fields.name"]),
        ("unknown_type.yaml", ["unknown_type.yaml:6: entities.supplier.fields.name.type"]),
        (
            "bad_names.yaml",
            [
                "bad_names.yaml:4: entities.Supplier",
                "bad_names.yaml:7: entities.order",
                "bad_names.yaml:9: entities.order.fields._x",
                "bad_names.yaml:10: entities.order.fields.select",
                "bad_names.yaml:11: entities."
                "a_name_that_goes_on_and_on_and_on_far_past_the_sixty_three_characters_allowed",
            ],
        ),
        ("missing_link.yaml", ["missing_link.yaml:10: entities.purchase_order.fields.supplier.to"]),
        (
            "app_not_required.yaml",
            ["app_not_required.yaml:6: entities.purchase_order.fields.sales_order.to"],
        ),
        ("choice_default.yaml", ["choice_default.yaml:9: entities.supplier.fields.risk.default"]),
        (
            "rollup_plain.yaml",
            ["rollup_plain.yaml:7: entities.purchase_order.fields.total.rollup.over"],
        ),
        (
            "formula_unknown.yaml",
            ["formula_unknown.yaml:8: entities.purchase_order_line.fields.amount.formula"],
        ),
        (
            "transition_state.yaml",
            [
                "transition_state.yaml:11: workflows.po_approval.states.2",
                "transition_state.yaml:16: workflows.po_approval.transitions.approve.to",
            ],
        ),
        ("version.yaml", ["version.yaml:2: version"]),
        (
            "cross_file_duplicate",
            ["more.yaml:5: entities.supplier", "more.yaml:8: version"],
        ),
    ],
)
def test_validate_broken_fixture_reports_file_line_and_path(
    fixture: str, expected: list[str]
) -> None:
    assert _located(BROKEN / fixture, {"crm": CRM}) == expected


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("yaml_syntax.yaml", "invalid YAML: expected ',' or '}', but got ':'"),
        ("duplicate_key.yaml", "duplicate key 'name' (first at line 7)"),
        ("unknown_type.yaml", "unknown field type 'txt' (known: text, long_text, integer,"),
        (
            "missing_link.yaml",
            "links to 'supplierr', which is not an entity of srm or of a required app",
        ),
        ("app_not_required.yaml", "add crm to requires"),
        ("choice_default.yaml", "default 'huge' is not one of the options: low, medium, high"),
        ("rollup_plain.yaml", "rollup over 'note', which is a text field"),
        (
            "formula_unknown.yaml",
            "formula names 'qty', which is not a field of purchase_order_line",
        ),
        (
            "transition_state.yaml",
            "transition 'approve' goes to 'done', which is not a state of po_approval",
        ),
        ("version.yaml", "version '1.0' is not semver (MAJOR.MINOR.PATCH)"),
        ("cross_file_duplicate", "'supplier' is defined twice (first at "),
    ],
)
def test_validate_broken_fixture_says_what_is_wrong(fixture: str, message: str) -> None:
    _, errors = validate_path(BROKEN / fixture, {"crm": CRM})
    assert any(message in e.message for e in errors), [str(e) for e in errors]


def test_validate_reports_every_error_of_a_file_at_once() -> None:
    _, errors = validate_path(BROKEN / "many_errors.yaml", {"crm": CRM})
    # the sandbox words the syntax error its own way; that it does not compile is what counts
    shown = [
        f"{e.line}: {e.path}: {e.message.split(':')[0] if 'compile' in e.message else e.message}"
        for e in errors
    ]
    assert shown == [
        "3: version: version '1.2' is not semver (MAJOR.MINOR.PATCH)",
        "9: entities.supplier.fields.name.colour: 'colour' does not apply to text fields "
        "(text takes formula, max_length, besides the common keys)",
        "10: entities.supplier.fields.risk.default: "
        "default 'huge' is not one of the options: low, medium, high",
        "11: entities.supplier.fields.score.formula: formula does not compile",
        "14: entities.purchase_order.fields.supplier.to: "
        "links to 'supplierr', which is not an entity of srm or of a required app",
        "15: entities.purchase_order.fields.customer.to: "
        "links to 'crm.customer', which is not an entity of crm",
        "18: entities.purchase_order.fields.count.max: max 1 is less than min 10",
        "22: entities.purchase_order_line.fields.amount.formula: "
        "formula names 'qty', which is not a field of purchase_order_line",
        "22: entities.purchase_order_line.fields.amount.formula: "
        "formula names 'unit_price', which is not a field of purchase_order_line",
        "29: workflows.po_approval.transitions.submit.roles.0: "
        "'buyer' is not a role of srm (nor a platform role: admin, designer)",
        "30: workflows.po_approval.transitions.approve.to: "
        "transition 'approve' goes to 'approved', which is not a state of po_approval",
        "34: views.open_pos.columns.1: 'totl' is not a field of purchase_order",
        "37: data.supplier.0.risk: 'huge' is not one of the options: low, medium, high",
    ]


def test_validate_library_fixture_has_no_errors() -> None:
    loaded, errors = validate_path(LIBRARY)
    assert [str(e) for e in errors] == []
    assert len(loaded.files) >= 2 and len(loaded.doc["entities"]) == 5


@pytest.mark.parametrize("app", ["srm", "crm"])
def test_validate_shipped_blueprint_has_no_errors(app: str) -> None:
    if not (SHIPPED / app / "blueprint.yaml").exists():
        pytest.skip(f"blueprints/{app} is not written yet")
    others = {
        other: load_blueprint(SHIPPED / other).doc
        for other in ("srm", "crm")
        if other != app and (SHIPPED / other / "blueprint.yaml").exists()
    }
    _, errors = validate_path(SHIPPED / app, others)
    assert [str(e) for e in errors] == []


def test_validate_path_skips_cross_checks_when_a_file_does_not_parse(tmp_path: Path) -> None:
    root = tmp_path / "app"
    root.mkdir()
    (root / "blueprint.yaml").write_text("blueprint: app\nversion: 1.0.0\n")
    (root / "a.yaml").write_text("entities:\n  one:\n    fields: {x: {type: link, to: two}}\n")
    (root / "b.yaml").write_text("entities:\n  two: {fields: {y: [\n")
    _, errors = validate_path(root)
    # `two` is in the file that does not parse: no false "links to 'two'" error
    assert [(Path(e.file).name, e.path) for e in errors] == [("b.yaml", "(file)")]


def test_validate_path_sorts_errors_by_file_then_line(tmp_path: Path) -> None:
    root = tmp_path / "app"
    root.mkdir()
    (root / "blueprint.yaml").write_text("blueprint: app\nversion: '1'\n")
    (root / "a.yaml").write_text(
        "views:\n  v: {entity: nope}\nentities:\n  e: {fields: {x: {type: txt}}}\n"
    )
    _, errors = validate_path(root)
    assert [(Path(e.file).name, e.line) for e in errors] == [
        ("blueprint.yaml", 2),
        ("a.yaml", 2),
        ("a.yaml", 4),
    ]


def test_validate_meta_schemas_are_valid_draft_2020_12() -> None:
    folder = resources.files("appblocks.engine.schemas")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
    assert {"blueprint.json", "entity.json", "field.json", "form.json", "workflow.json"} <= set(
        names
    )
    assert {"view.json", "dashboard.json", "role.json", "automation.json", "data.json"} <= set(
        names
    )
    for name in names:
        schema = json.loads((folder / name).read_text("utf-8"))
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# --- every cross-check, table-driven ------------------------------------------------------------

HEAD = "blueprint: srm\nversion: 1.0.0\n"


def _errors(body: str, installed: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    text = textwrap.dedent(body).lstrip("\n")
    loaded = load_blueprint_text(text if text.startswith("blueprint:") else HEAD + text, "t.yaml")
    assert loaded.errors == []
    return [(e.path, e.message) for e in validate_blueprint(loaded, installed)]


# fmt: off
ENTITY_CASES = [
    # field types and their keys
    ("entities: {s: {fields: {n: {type: text, options: [a]}}}}",
     "entities.s.fields.n.options", "'options' does not apply to text fields (text takes formula, max_length"),
    ("entities: {s: {fields: {n: {type: user, max_length: 9}}}}",
     "entities.s.fields.n.max_length", "'max_length' does not apply to user fields (user takes no keys of its own"),
    ("entities: {s: {fields: {n: {type: text, colour: red}}}}",
     "entities.s.fields.n.colour", "'colour' does not apply to text fields"),
    ("entities: {s: {fields: {n: {type: link}}}}",
     "entities.s.fields.n.to", "'to' is required for link fields"),
    ("entities: {s: {fields: {n: {type: choice}}}}",
     "entities.s.fields.n.options", "'options' is required for choice fields"),
    ("entities: {s: {fields: {n: {type: autonumber}}}}",
     "entities.s.fields.n.format", "'format' is required for autonumber fields"),
    ("entities: {s: {fields: {n: {type: integer, formula: '1', required: true}}}}",
     "entities.s.fields.n.required", "its value is computed"),
    ("entities: {s: {fields: {n: {type: lookup, via: n, field: x, default: 1}}}}",
     "entities.s.fields.n.default", "its value is computed"),
    ("entities: {s: {title: t, fields: {t: {type: text}, n: {type: links, to: s, unique: true}}}}",
     "entities.s.fields.n.unique", "it has no column"),
    ("entities: {s: {fields: {n: {type: json, index: true}}}}",
     "entities.s.fields.n.index", "its values are stored as JSON"),
    # links, lines and delete rules
    ("entities: {s: {fields: {n: {type: link, to: a.b.c}}}}",
     "entities.s.fields.n.to", "which is not an entity name (use entity or app.entity)"),
    ("requires: {crm: '>=1.0'}\nentities: {s: {fields: {n: {type: lines, to: crm.sales_order}}}}",
     "entities.s.fields.n.to", "line items must be an entity of srm, not 'crm.sales_order'"),
    ("entities: {s: {fields: {n: {type: lines, to: s}}}}",
     "entities.s.fields.n.to", "s cannot be its own line items"),
    ("entities: {a: {fields: {l1: {type: lines, to: c}}}, b: {fields: {l2: {type: lines, to: c}}}, c: {fields: {x: {type: text}}}}",
     "entities.b.fields.l2.to", "c is already the line items of a.l1; a child entity belongs to one lines field"),
    ("entities: {a: {fields: {kids: {type: lines, to: b}}}, b: {fields: {kids: {type: lines, to: a}}}}",
     "entities.a.fields.kids.to", "line items go round in a circle: a -> b -> a"),
    ("entities: {s: {title: n, fields: {n: {type: text}}}, o: {fields: {s: {type: link, to: s, required: true, on_delete: set_null}}}}",
     "entities.o.fields.s.on_delete", "set_null cannot apply to a required link (use restrict or cascade)"),
    ("entities: {s: {title: n, fields: {n: {type: text}}}, o: {fields: {s: {type: link, to: s, on_delete: nothing}}}}",
     "entities.o.fields.s.on_delete", "'nothing' is not one of: restrict, cascade, set_null"),
    ("entities: {s: {fields: {n: {type: text}}}, o: {fields: {s: {type: link, to: s}}}}",
     "entities.s", "s is the target of a link (o.s), so it needs a title"),
    # choices, bounds, sizes and defaults
    ("entities: {s: {fields: {n: {type: choice, options: [a, b, a]}}}}",
     "entities.s.fields.n.options.2", "option 'a' is given twice"),
    ("entities: {s: {fields: {n: {type: choice, options: [{value: a}, {value: a}]}}}}",
     "entities.s.fields.n.options.1", "option 'a' is given twice"),
    ("entities: {s: {fields: {n: {type: choice, options: []}}}}",
     "entities.s.fields.n.options", "must not be empty"),
    ("entities: {s: {fields: {n: {type: choice, options: [yes, no]}}}}",
     "entities.s.fields.n.options.0", "quote yes, no, on and off"),
    ("entities: {s: {fields: {n: {type: multi_choice, options: [a, b], default: [a, c]}}}}",
     "entities.s.fields.n.default", "default 'c' is not one of the options: a, b"),
    ("entities: {s: {fields: {n: {type: integer, min: 5, max: 1}}}}",
     "entities.s.fields.n.max", "max 1 is less than min 5"),
    ("entities: {s: {fields: {n: {type: date, min: someday}}}}",
     "entities.s.fields.n.min", "min 'someday' is not a date (use YYYY-MM-DD)"),
    ("entities: {s: {fields: {n: {type: date, min: 2026-01-01, default: 2025-12-31}}}}",
     "entities.s.fields.n.default", "default '2025-12-31' must be on or after 2026-01-01"),
    ("entities: {s: {fields: {n: {type: integer, default: many}}}}",
     "entities.s.fields.n.default", "default 'many' is not a whole number"),
    ("entities: {s: {fields: {n: {type: integer, min: 0, default: -1}}}}",
     "entities.s.fields.n.default", "default -1 must be at least 0"),
    ("entities: {s: {fields: {n: {type: boolean, default: maybe}}}}",
     "entities.s.fields.n.default", "default: expected true or false"),
    ("entities: {s: {fields: {n: {type: text, max_length: 0}}}}",
     "entities.s.fields.n.max_length", "must be at least 1"),
    ("entities: {s: {fields: {n: {type: text, max_length: 20000000}}}}",
     "entities.s.fields.n.max_length", "max_length is at most 10,485,760"),
    ("entities: {s: {fields: {n: {type: money, scale: 18}}}}",
     "entities.s.fields.n.scale", "scale is at most 17 for money fields"),
    ("entities: {s: {fields: {n: {type: money, currency: euro}}}}",
     "entities.s.fields.n.currency", "'euro' does not match the pattern"),
    # formulas
    ("entities: {s: {fields: {n: {type: integer, formula: 'round(x * 2'}}}}",
     "entities.s.fields.n.formula", "formula does not compile"),
    ("entities: {s: {fields: {n: {type: integer, formula: 'len(__class__)'}}}}",
     "entities.s.fields.n.formula", "formula does not compile"),
    ("entities: {s: {fields: {n: {type: integer, formula: 'open(1)'}}}}",
     "entities.s.fields.n.formula", "formula names 'open', which is not a field of s"),
    ("entities: {s: {fields: {a: {type: integer, formula: b + 1}, b: {type: integer, formula: a + 1}}}}",
     "entities.s.fields.a.formula", "formulas go round in a circle: a -> b -> a"),
    ("entities: {s: {fields: {n: {type: choice, options: [a], formula: 'x'}}}}",
     "entities.s.fields.n.formula", "formula names 'x', which is not a field of s"),
    ("entities: {s: {fields: {n: {type: multi_choice, options: [a], formula: 'x'}}}}",
     "entities.s.fields.n.formula", "'formula' does not apply to multi_choice fields"),
    # rollups
    ("entities: {s: {fields: {n: {type: text, rollup: {over: x, agg: count}}}}}",
     "entities.s.fields.n.rollup", "'rollup' does not apply to text fields"),
    ("entities: {s: {fields: {n: {type: integer, rollup: {over: x, agg: count}}}}}",
     "entities.s.fields.n.rollup.over", "rollup over 'x', which is not a field of s"),
    ("entities: {s: {fields: {n: {type: integer, rollup: {over: l, agg: middle}}}}}",
     "entities.s.fields.n.rollup.agg", "'middle' is not one of: sum, count, min, max, avg"),
    ("entities: {o: {fields: {lines: {type: lines, to: l}, t: {type: money, formula: '2', rollup: {over: lines, agg: count}}}}, l: {fields: {a: {type: money}}}}",
     "entities.o.fields.t.rollup", "a field has a formula or a rollup, not both"),
    ("entities: {o: {fields: {lines: {type: lines, to: l}, t: {type: money, rollup: {over: lines, agg: sum}}}}, l: {fields: {a: {type: money}}}}",
     "entities.o.fields.t.rollup", "rollup sum needs 'field': the field of l to aggregate"),
    ("entities: {o: {fields: {lines: {type: lines, to: l}, t: {type: money, rollup: {over: lines, agg: max, field: zz}}}}, l: {fields: {a: {type: money}}}}",
     "entities.o.fields.t.rollup.field", "'zz' is not a field of l"),
    ("entities: {o: {fields: {lines: {type: lines, to: l}, t: {type: money, rollup: {over: lines, agg: avg, field: a}}}}, l: {fields: {a: {type: text}}}}",
     "entities.o.fields.t.rollup.field", "rollup avg needs a number field; 'a' is a text field"),
    ("entities: {o: {fields: {lines: {type: lines, to: l}, d: {type: date, rollup: {over: lines, agg: count}}}}, l: {fields: {a: {type: date}}}}",
     "entities.o.fields.d.rollup.agg", "a rollup onto date fields is min or max, not count"),
    ("entities: {o: {fields: {lines: {type: lines, to: l}, t: {type: integer, rollup: {over: lines, agg: count, where: zz > 1}}}}, l: {fields: {a: {type: money}}}}",
     "entities.o.fields.t.rollup.where", "where names 'zz', which is not a field of l"),
    ("entities: {s: {title: n, fields: {n: {type: text}, c: {type: integer, rollup: {over: p.other, agg: count}}}}, x: {title: n, fields: {n: {type: text}}}, p: {fields: {other: {type: link, to: x}}}}",
     "entities.s.fields.c.rollup.over", "rollup over 'p.other': that link points at 'x', not at s"),
    ("entities: {s: {fields: {c: {type: integer, rollup: {over: p.note, agg: count}}}}, p: {fields: {note: {type: text}}}}",
     "entities.s.fields.c.rollup.over", "rollup over 'p.note': 'note' is not a link field of p"),
    ("entities: {s: {fields: {c: {type: integer, rollup: {over: nope.f, agg: count}}}}}",
     "entities.s.fields.c.rollup.over", "rollup over 'nope.f': 'nope' which is not an entity of srm or of a required app"),
    # lookups
    ("entities: {s: {fields: {n: {type: text}, c: {type: lookup, via: n, field: n}}}}",
     "entities.s.fields.c.via", "lookup via 'n', which is a text field, not a link"),
    ("entities: {s: {fields: {c: {type: lookup, via: zz, field: n}}}}",
     "entities.s.fields.c.via", "lookup via 'zz', which is not a field of s"),
    ("entities: {s: {fields: {c: {type: lookup, via: n}}}}",
     "entities.s.fields.c.field", "'field' is required for lookup fields"),
    ("entities: {s: {title: n, fields: {n: {type: text}}}, p: {fields: {s: {type: link, to: s}, c: {type: lookup, via: s, field: zz}}}}",
     "entities.p.fields.c.field", "'zz' is not a field of s"),
    # autonumbers
    ("entities: {s: {fields: {n: {type: autonumber, format: 'PO-{yyyy}'}}}}",
     "entities.s.fields.n.format", "format 'PO-{yyyy}' needs exactly one {seq} or {seq:0N}"),
    ("entities: {s: {fields: {n: {type: autonumber, format: 'PO-{year}-{seq}'}}}}",
     "entities.s.fields.n.format", "has an unknown token {year}"),
    ("entities: {s: {fields: {n: {type: autonumber, format: 'PO-{seq:05'}}}}",
     "entities.s.fields.n.format", "has an unmatched brace"),
    # renames
    ("entities: {s: {fields: {a: {type: text}, b: {type: text, renamed_from: a}}}}",
     "entities.s.fields.b.renamed_from", "renamed_from 'a' is the name of another field of s"),
    ("entities: {s: {fields: {b: {type: text, renamed_from: Old}}}}",
     "entities.s.fields.b.renamed_from", "'Old' is not a valid name"),
    ("entities: {s: {fields: {b: {type: text, renamed_from: b}}}}",
     "entities.s.fields.b.renamed_from", "renamed_from names the field itself"),
    # entity keys
    ("entities: {s: {title: nme, fields: {name: {type: text}}}}",
     "entities.s.title", "title 'nme' is not a field of s"),
    ("entities: {s: {title: t, fields: {t: {type: json}}}}",
     "entities.s.title", "title 't' is a json field; a title holds one value"),
    ("entities: {s: {unique: [[n, zz]], fields: {n: {type: text}}}}",
     "entities.s.unique.0.1", "'zz' is not a field of s"),
    ("entities: {s: {indexes: [tags], title: n, fields: {n: {type: text}, tags: {type: links, to: s}}}}",
     "entities.s.indexes.0", "'tags' is a links field, which has no column"),
    ("entities: {s: {rules: [{when: 'zz > 1', error: nope}], fields: {n: {type: text}}}}",
     "entities.s.rules.0.when", "when names 'zz', which is not a field of s"),
    ("entities: {s: {rules: [{when: 'n', field: zz, error: nope}], fields: {n: {type: text}}}}",
     "entities.s.rules.0.field", "'zz' is not a field of s"),
    ("entities: {s: {colour: red, fields: {n: {type: text}}}}",
     "entities.s.colour", "unknown key 'colour' (allowed: label, description, title, fields, unique, indexes, rules)"),
    ("entities: {s: {fields: {n: {label: Name}}}}",
     "entities.s.fields.n.type", "'type' is required here"),
    ("entities: {s: {label: {english: Supplier}, fields: {n: {type: text}}}}",
     "entities.s.label", "'english' is not a locale (like en or zh-CN)"),
    ("entities: {s: {fields: {}}}",
     "entities.s.fields", "must not be empty"),
    ("entities: {s: {fields: {id: {type: integer}}}}",
     "entities.s.fields.id", "'id' is a system column; choose another name"),
    ("entities: {eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee: {fields: {n: {type: text}}}}",
     "entities.eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "the table name 'srm_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee' is 64 characters long; at most 63"),
    ("entities: {eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee: {title: n, fields: {n: {type: text}, tags_of_it: {type: links, to: eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee}}}}",
     "entities.eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.fields.tags_of_it", "the link table name 'srm_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee__tags_of_it' is 66 characters long; at most 63"),
]


S = "entities: {s: {fields: {n: {type: text}}}}\n"
# a workflow on `s`; `%s` adds keys to it
WF = S + "workflows: {w: {entity: s, initial: draft, states: [draft, done], transitions: {go: {from: draft, to: done%s}}%s}}"
SP = "entities:\n  s: {title: n, fields: {n: {type: text}}}\n  p: {fields: {s: {type: link, to: s}}}\n"
LINES = "entities:\n  o: {fields: {lines: {type: lines, to: l}}}\n  l: {fields: {q: {type: integer}}}\n"

DOCUMENT_CASES = [
    # manifest
    ("blueprint: SRM\nversion: 1.0.0", "blueprint", "'SRM' is not a valid name"),
    ("blueprint: srm\nversion: v1.0.0", "version", "version 'v1.0.0' is not semver"),
    ("blueprint: srm\n", "version", "'version' is required here"),
    ("requires: {crm: about 1}", "requires.crm", "'about 1' is not a version specifier"),
    ("requires: {srm: '*'}", "requires.srm", "srm cannot require itself"),
    ("entitys: {}", "entitys", "unknown key 'entitys'"),
    # workflows
    (WF.replace("initial: draft", "initial: start") % ("", ""),
     "workflows.w.initial", "initial state 'start' is not a state of w"),
    (WF.replace("from: draft", "from: [draft, zz]") % ("", ""),
     "workflows.w.transitions.go.from.1", "transition 'go' starts from 'zz', which is not a state of w"),
    (WF % (", roles: [boss]", ""), "workflows.w.transitions.go.roles.0", "'boss' is not a role of srm"),
    (WF % (", when: 'total > 1'", ""),
     "workflows.w.transitions.go.when", "when names 'total', which is not a field of s"),
    (WF % (", colour: red", ""), "workflows.w.transitions.go.colour", "unknown key 'colour'"),
    (WF.replace("done", "Done") % ("", ""), "workflows.w.states.1", "'Done' is not a valid state name"),
    (WF % ("", ", on_enter: {finished: [{set: {n: \"'x'\"}}]}"),
     "workflows.w.on_enter.finished", "'finished' is not a state of w"),
    (WF % ("", ", on_enter: {done: [{set: {closed_at: 'now()'}}]}"),
     "workflows.w.on_enter.done.0.set.closed_at", "'closed_at' is not a field of s"),
    (WF % ("", ", on_exit: {draft: [{set: {n: closed}}]}"),
     "workflows.w.on_exit.draft.0.set.n", "value names 'closed', which is not a field of s"),
    (WF.replace("type: text", "type: integer, formula: '1'") % ("", ", on_enter: {done: [{set: {n: '2'}}]}"),
     "workflows.w.on_enter.done.0.set.n", "'n' is computed (formula); it cannot be set"),
    (WF.replace(S, "") % ("", ""), "workflows.w.entity", "workflow of 's', which is not an entity of srm"),
    ("requires: {crm: ^1.0}\n" + WF.replace(S, "").replace("entity: s", "entity: crm.account") % ("", ""),
     "workflows.w.entity", "a workflow owns an entity of its own app, not 'crm.account'"),
    (S + "workflows:\n  w1: {entity: s, initial: a, states: [a, b], transitions: {go: {from: a, to: b}}}\n"
     "  w2: {entity: s, initial: a, states: [a, b], transitions: {go: {from: a, to: b}}}",
     "workflows.w2.entity", "s already has the workflow w1"),
    (S + "workflows: {Order: {entity: s, initial: a, states: [a, b], transitions: {go: {from: a, to: b}}}}",
     "workflows.Order", "'Order' is not a valid name"),
    # forms
    (S + "forms: {f: {entity: s, sections: [{fields: [n, zz]}]}}",
     "forms.f.sections.0.fields.1", "'zz' is not a field of s"),
    (S + "forms: {f: {entity: s, sections: [{fields: [n]}, {fields: [{field: n}]}]}}",
     "forms.f.sections.1.fields.0", "'n' is listed twice"),
    (S + "forms: {f: {entity: s, rules: [{when: zz, error: nope}]}}",
     "forms.f.rules.0.when", "when names 'zz', which is not a field of s"),
    ("forms: {f: {entity: nope}}", "forms.f.entity", "form of 'nope', which is not an entity"),
    # views
    (S + "views: {v: {entity: s, columns: [n.x]}}",
     "views.v.columns.0", "'n' is not a link, so 'n.x' cannot go through it"),
    (SP + "views: {v: {entity: p, columns: [s.zz]}}", "views.v.columns.0", "'zz' is not a field of s"),
    (S + "views: {v: {entity: s, filter: {or: [{n: x}, {zz: {eq: 1}}]}}}",
     "views.v.filter.or.1.zz", "'zz' is not a field of s"),
    (S + "views: {v: {entity: s, filter: {n: {like: x}}}}",
     "views.v.filter.n", "'like' is not one of: eq, ne, lt"),
    (S + "views: {v: {entity: s, sort: '-n,zz'}}", "views.v.sort", "'zz' is not a field of s"),
    (S + "views: {v: {entity: s, type: calendar, date_field: n}}",
     "views.v.date_field", "'n' is a text field, not a date"),
    (S + "views: {v: {entity: s, type: kanban}}", "views.v.group_by", "'group_by' is required here"),
    ("views: {v: {entity: crm.account}}",
     "views.v.entity", "view of 'crm.account', but crm is not in requires (add crm to requires)"),
    # dashboards
    (S + "dashboards: {d: {widgets: [{chart: bar, entity: s, measure: {sum: n}}]}}",
     "dashboards.d.widgets.0.measure.sum", "sum needs a number field; 'n' is a text field"),
    (S + "dashboards: {d: {widgets: [{chart: bar, entity: s, group_by: zz}]}}",
     "dashboards.d.widgets.0.group_by", "'zz' is not a field of s"),
    (S + "dashboards: {d: {widgets: [{chart: donut, entity: s}]}}",
     "dashboards.d.widgets.0.chart", "'donut' is not one of: number, bar, line, pie, funnel, gauge"),
    ("dashboards: {d: {widgets: [{chart: pie, entity: zz}]}}",
     "dashboards.d.widgets.0.entity", "chart of 'zz', which is not an entity"),
    # roles
    (S + "roles: {r: {permissions: {s: [read, approve]}}}",
     "roles.r.permissions.s.1", "'approve' is not an action on s"),
    (S + "roles: {r: {permissions: {s: {actions: [read], where: {owner: $user}}}}}",
     "roles.r.permissions.s.where.owner", "'owner' is not a field of s"),
    (S + "roles: {r: {permissions: {s: {actions: [read], where: {n: $usr.name}}}}}",
     "roles.r.permissions.s.where.n", "'$usr.name' is not $user or $user.<attribute>"),
    (S + "roles: {r: {permissions: {s: {actions: [read], fields: {n: read, zz: hidden}}}}}",
     "roles.r.permissions.s.fields.zz", "'zz' is not a field of s"),
    (S + "roles: {r: {permissions: {s: {actions: [read], fields: {n: secret}}}}}",
     "roles.r.permissions.s.fields.n", "'secret' is not one of: hidden, read, write"),
    (S + "roles: {r: {permissions: {s: {actions: [read], where: {or: [{n: {in: [$user, $me]}}]}}}}}",
     "roles.r.permissions.s.where.or.0.n.in.1", "'$me' is not $user or $user.<attribute>"),
    ("roles: {r: {permissions: {zz: [read]}}}",
     "roles.r.permissions.zz", "permission for 'zz', which is not an entity"),
    ("roles: {r: {permissions: {s: read}}}",
     "roles.r.permissions.s", "expected a list or a mapping, got 'read'"),
    # automations
    (S + "automations: {a: {on: {entity: s, events: [saved]}, do: [{set: {n: \"'x'\"}}]}}",
     "automations.a.on.events.0", "'saved' is not one of: created, updated, deleted"),
    (S + "automations: {a: {on: {entity: s, events: [field_changed]}, do: [{set: {n: \"'x'\"}}]}}",
     "automations.a.on", "field_changed needs 'field'"),
    (S + "automations: {a: {on: {entity: s, events: [state_entered], state: done}, do: [{set: {n: \"'x'\"}}]}}",
     "automations.a.on.state", "'done' is not a state of a workflow on s"),
    (S + "automations: {a: {on: {schedule: every day}, do: [{create: {entity: s}}]}}",
     "automations.a.on.schedule", "schedule 'every day' is not hourly, daily, weekly"),
    (S + "automations: {a: {on: {schedule: daily}, do: [{create: {entity: t}}]}}",
     "automations.a.do.0.create.entity", "creates 't', which is not an entity"),
    (S + "automations: {a: {on: {entity: s, events: [created]}, do: [{create: {entity: s, values: {zz: n}}}]}}",
     "automations.a.do.0.create.values.zz", "'zz' is not a field of s"),
    (S + "automations: {a: {on: {entity: s, events: [created]}, when: zz, do: [{set: {n: \"'x'\"}}]}}",
     "automations.a.when", "when names 'zz', which is not a field of s"),
    (S + "automations: {a: {on: {entity: s}, do: [{set: {n: \"'x'\"}}]}}",
     "automations.a.on", "give `entity` and `events`, or a `schedule`"),
    # seed data
    ("entities: {s: {fields: {n: {type: integer}}}}\ndata: {s: [{n: 1, zz: 2}]}",
     "data.s.0.zz", "'zz' is not a field of s"),
    ("entities: {s: {fields: {n: {type: integer}, c: {type: integer, formula: 'n * 2'}}}}\ndata: {s: [{n: 1, c: 2}]}",
     "data.s.0.c", "'c' is computed (formula); it is never given in data"),
    ("entities: {s: {fields: {n: {type: integer}}}}\ndata: {s: [{n: 1}, {n: lots}]}",
     "data.s.1.n", "'lots' is not a whole number"),
    ("entities: {s: {fields: {n: {type: integer, required: true}, m: {type: text}}}}\ndata: {s: [{m: x}]}",
     "data.s.0.n", "'n' is required"),
    ("entities: {s: {fields: {n: {type: integer}}}}\ndata: {s: [1, 2]}", "data.s.0", "expected a mapping, got 1"),
    (SP + "data: {s: [{n: Acme}], p: [{s: Acme}, {s: 1}, {s: Nobody}]}",
     "data.p.2.s", "'Nobody' is not the n of a s record given earlier in data"),
    (SP + "data: {p: [{s: Acme}], s: [{n: Acme}]}",
     "data.p.0.s", "'Acme' is not the n of a s record given earlier in data"),
    (LINES + "data: {o: [{lines: [{q: 1}, {q: 2, zz: 3}]}]}", "data.o.0.lines.1.zz", "'zz' is not a field of l"),
    (LINES + "data: {l: [{q: 1}]}", "data.l", "l holds line items: give its records nested under o.lines"),
    ("data: {zz: [{n: 1}]}", "data.zz", "data for 'zz', which is not an entity"),
]
# fmt: on


@pytest.mark.parametrize(("body", "path", "message"), ENTITY_CASES + DOCUMENT_CASES)
def test_validate_cross_check_reports_path_and_message(body: str, path: str, message: str) -> None:
    errors = _errors(body, {"crm": CRM})
    assert [p for p, m in errors if p == path and message in m], errors


@pytest.mark.parametrize(
    "body",
    [
        "blueprint: srm\nversion: 1.0.0-beta.1+build.5\n",
        "requires: {crm: '>=1.0,<2.0'}\nentities: {o: {fields: {so: {type: link, to: crm.sales_order}}}}",
        "requires: {crm: 1.2.0}\nviews: {v: {entity: crm.sales_order, columns: [account.name]}}",
        "requires: {crm: '~1.2'}\nroles: {r: {permissions: {crm.sales_order: [read, win]}}}",
        """
        entities:
          s:
            title: n
            fields:
              n: {type: text}
              orders: {type: integer, rollup: {over: srm.p.s, agg: count}}
              biggest: {type: money, rollup: {over: p.s, agg: max, field: amount, where: "amount > 0"}}
          p: {fields: {s: {type: link, to: s}, amount: {type: money}}}
        """,
        """
        entities:
          o:
            fields:
              lines: {type: lines, to: l}
              total: {type: money, formula: "sum(x.amount for x in lines if x.amount)"}
              when_: {type: date, formula: "add_days(today(), 3)"}
          l: {fields: {amount: {type: money}}}
        """,
        """
        entities: {s: {fields: {n: {type: text}}}}
        workflows:
          w:
            entity: s
            initial: a
            states: [a, {name: b, label: {en: B, zh-CN: 乙}}]
            transitions: {go: {from: a, to: b, roles: [admin, crm.sales_rep]}}
            approvals: {b: {approve_to: a, reject_to: a, levels: [{roles: [admin, crm.sales_rep], mode: any}]}}
        requires: {crm: ^1.0}
        """,
        """
        entities: {s: {fields: {n: {type: text}}}}
        automations:
          nightly: {on: {schedule: "30 2 * * 1-5"}, do: [{notify: {role: admin}}]}
          watch: {on: {entity: s, events: [field_changed], field: n}, do: [{set: {n: "n.strip()"}}]}
        """,
        "forms:\nviews:\n",
    ],
)
def test_validate_accepts_valid_documents(body: str) -> None:
    assert _errors(body, {"crm": CRM}) == []


def test_validate_link_into_an_app_that_is_not_installed() -> None:
    body = (
        "requires: {crm: '>=1.0'}\nentities: {s: {fields: {n: {type: link, to: crm.sales_order}}}}"
    )
    assert _errors(body) == [
        (
            "entities.s.fields.n.to",
            "links to 'crm.sales_order', but crm is not installed (install it first)",
        )
    ]


def test_validate_skips_cross_checks_of_parts_that_fail_the_schema() -> None:
    errors = _errors(
        """
        entities:
          s:
            fields:
              n: {type: txt, required: maybe}
              m: {type: txt}
        views: {v: {entity: s, columns: [zz], sort: 5}}
        """
    )
    # n fails the schema (so its unknown type waits); m passed and is cross-checked; the view
    # fails the schema, so its columns are not looked up yet.
    assert [p for p, _ in errors] == [
        "entities.s.fields.n.required",
        "entities.s.fields.m.type",
        "views.v.sort",
    ]


def test_validate_schema_error_lines_point_at_the_offending_key() -> None:
    text = (
        HEAD + "entities:\n  s:\n    fields:\n      n:\n        type: text\n        colour: red\n"
    )
    loaded = load_blueprint_text(text, "t.yaml")
    [error] = validate_blueprint(loaded)
    assert str(error).startswith("t.yaml:8: entities.s.fields.n.colour: ")


def test_validate_accepts_field_types_added_by_a_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    class Rating(FieldType):
        name = "rating"
        options = frozenset({"stars"})

    monkeypatch.setitem(registry._types, "rating", Rating())
    assert _errors("entities: {s: {fields: {r: {type: rating, stars: 5}}}}") == []
    assert _errors("entities: {s: {fields: {r: {type: rating, moons: 5}}}}") == [
        (
            "entities.s.fields.r.moons",
            "'moons' does not apply to rating fields (rating takes stars, besides the common keys)",
        )
    ]


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix] if prefix else []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, item in items:
        found += _paths(item, (*prefix, key))
    return found


def test_validate_never_raises_on_malformed_documents() -> None:
    library = load_blueprint(LIBRARY)
    odd_values: list[Any] = [
        None,
        0,
        -1,
        1.5,
        True,
        "",
        "zz.yy",
        "a.b.c",
        "$me",
        [],
        [1],
        {},
        {"x": 1},
    ]
    rnd = random.Random(20260101)
    for _ in range(100):
        doc = copy.deepcopy(library.doc)
        for _ in range(rnd.randint(1, 3)):
            *parents, last = rnd.choice(_paths(doc))
            node: Any = doc
            for key in parents:
                node = node[key]
            node[last] = rnd.choice(odd_values)
        mutated = LoadedBlueprint(
            doc=doc, root=library.root, files=library.files, positions=library.positions
        )
        assert all(isinstance(e, BlueprintError) for e in validate_blueprint(mutated, {"crm": CRM}))
