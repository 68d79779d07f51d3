"""Form documents: the default form of an entity, a form resolved for one viewer."""

from __future__ import annotations

from appblocks.engine.spec import AppSpecs
from appblocks.forms.layout import default_form, find_form, resolve
from appblocks.forms.widgets import input_value, widget_for
from tests.forms.conftest import SHOP


def test_default_form_two_columns_and_lines_in_their_own_section(specs: AppSpecs) -> None:
    doc = default_form(specs.entity("shop.order"))
    sections = doc["sections"]
    assert [s.get("columns") for s in sections] == [2, None, 2]
    assert sections[1]["fields"] == ["lines"]
    assert sections[1]["title"] == {"en": "Lines"}
    assert sections[0]["fields"][:3] == ["number", "customer", "placed_on"]
    assert sections[2]["fields"] == ["total", "count", "attachment"]
    names = [f for s in sections for f in s["fields"]]
    assert names == list(specs.entity("shop.order").fields)


def test_default_form_of_an_entity_without_lines_is_one_section(specs: AppSpecs) -> None:
    doc = default_form(specs.entity("shop.customer"))
    assert doc == {
        "entity": "customer",
        "sections": [{"title": {"en": "Details", "zh-CN": "基本信息"}, "columns": 2,
                      "fields": ["name"]}],
    }  # fmt: skip


def test_find_form_prefers_the_blueprint_form_then_the_default(specs: AppSpecs) -> None:
    order = specs.entity("shop.order")
    blueprints = {"shop": SHOP}
    assert find_form(blueprints, order)[0] == "quick"
    assert find_form(blueprints, order, "quick")[0] == "quick"
    name, doc = find_form(blueprints, specs.entity("shop.customer"))
    assert name is None and doc["entity"] == "customer"


def test_resolve_hides_hidden_and_locks_computed_and_read_only_fields(specs: AppSpecs) -> None:
    order = specs.entity("shop.order")
    form = resolve(default_form(order), order, specs, hidden=frozenset({"secret"}),
                   read_only=frozenset({"status"}))  # fmt: skip
    names = [f.name for f in form.fields()]
    assert "secret" not in names and "status" in names
    editable = form.editable()
    for locked in ("number", "status", "approved_at", "total", "count"):
        assert locked not in editable, locked
    assert {"customer", "placed_on", "lines", "notes"} <= set(editable)
    assert form.field("customer") is not None and form.field("customer").required
    assert form.field("number").widget.kind == "output"


def test_resolve_lines_table_has_inputs_outputs_and_totals(specs: AppSpecs) -> None:
    order = specs.entity("shop.order")
    form = resolve(default_form(order), order, specs)
    table = form.tables["lines"]
    assert [(c.name, c.editable) for c in table.columns] == [
        ("product", True), ("quantity", True), ("unit_price", True), ("amount", False),
    ]  # fmt: skip
    assert table.totals == {"amount": "total"}
    assert table.count_field == "count"
    hidden = resolve(default_form(order), order, specs,
                     line_hidden={"shop.order_line": frozenset({"unit_price"})})  # fmt: skip
    assert [c.name for c in hidden.tables["lines"].columns] == ["product", "quantity", "amount"]


def test_resolve_a_blueprint_form_with_its_own_labels_and_required(specs: AppSpecs) -> None:
    order = specs.entity("shop.order")
    name, doc = find_form({"shop": SHOP}, order)
    form = resolve(doc, order, specs, name=name)
    assert [f.name for f in form.fields()] == ["customer", "placed_on", "status", "lines", "total"]
    assert form.sections[0].columns == 3
    placed = form.field("placed_on")
    assert placed is not None and placed.required and placed.label("en") == "When"
    assert form.required == frozenset({"placed_on"})
    assert "status" not in form.editable()


def test_widgets_per_field_type(specs: AppSpecs) -> None:
    fields = specs.entity("shop.order").fields
    kinds = {name: widget_for(f) for name, f in fields.items()}
    assert (kinds["placed_on"].kind, kinds["placed_on"].input_type) == ("input", "date")
    assert kinds["due_at"].input_type == "datetime-local"
    assert kinds["rush"].kind == "checkbox"
    assert kinds["status"].kind == "select"
    assert kinds["tags"].kind == "checkboxes"
    assert kinds["customer"].kind == "link"
    assert kinds["notes"].kind == "textarea" and kinds["meta"].kind == "textarea"
    assert kinds["discount"].inputmode == "decimal" and kinds["discount"].step == "0.01"
    assert kinds["attachment"].kind == "file"
    assert kinds["total"].kind == "output"


def test_input_value_writes_stored_values_as_typed(specs: AppSpecs) -> None:
    import datetime as dt
    import decimal

    fields = specs.entity("shop.order").fields
    assert input_value(fields["discount"], decimal.Decimal("12.5000")) == "12.5"
    assert input_value(fields["discount"], decimal.Decimal("100.00")) == "100"
    assert input_value(fields["placed_on"], dt.date(2026, 1, 5)) == "2026-01-05"
    moment = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC)
    assert input_value(fields["due_at"], moment) == "2026-01-05T09:30"
    assert input_value(fields["rush"], True) == "true"
    assert input_value(fields["tags"], None) == []
    assert input_value(fields["meta"], {"a": 1}) == '{\n  "a": 1\n}'
