"""The list pages' pure parts: columns of an entity, the filter builder's rows <-> the
CONTRACT filter language, cells with link titles, saved views, export writers."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from openpyxl import load_workbook

from appblocks.engine.access import Scope
from appblocks.engine.catalog import Catalog
from appblocks.engine.query import compile_filter
from appblocks.server.web import catalog as translations
from appblocks.views import list_export, list_filters, list_saved
from appblocks.views.list_filters import FilterRow, RowError
from appblocks.views.lists import (
    Cell,
    cell,
    column_fields,
    default_columns,
    parse_columns,
    sortable,
    titles_for,
    wanted_links,
)

BLUEPRINT = yaml.safe_load(
    """
blueprint: t
version: 1.0.0
entities:
  vendor:
    title: name
    fields:
      name: {type: text, required: true}
      risk: {type: choice, options: [{value: low, label: {en: Low, zh-CN: 低}}, high]}
  order:
    title: number
    fields:
      number: {type: text}
      vendor: {type: link, to: vendor}
      vendor_risk: {type: lookup, via: vendor, field: risk}
      notes: {type: long_text}
      amount: {type: money, min: 0}
      due: {type: date}
      urgent: {type: boolean}
      tags: {type: multi_choice, options: [a, b]}
      watchers: {type: links, to: vendor}
      lines: {type: lines, to: order_line}
      secret: {type: text}
      extra: {type: integer}
  order_line:
    fields:
      qty: {type: integer}
workflows:
  flow: {entity: order, initial: draft, states: [draft, done], transitions: {finish: {from: draft, to: done}}}
"""
)


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return Catalog({"t": BLUEPRINT})


def fields(cat: Catalog, hidden: frozenset[str] = frozenset()) -> dict[str, Any]:
    return column_fields(cat.entity("t.order"), hidden, {"draft": "Draft", "done": "Done"})


def no_titles(target: str, text: str) -> int | None:
    return {"Acme": 7}.get(text) if target == "t.vendor" else None


def test_lists_columns_leave_out_lines_and_hidden_fields(cat: Catalog) -> None:
    found = fields(cat, frozenset({"secret"}))
    assert "lines" not in found and "secret" not in found
    assert list(found)[-5:] == [
        "_state",
        "_created_at",
        "_created_by",
        "_updated_at",
        "_updated_by",
    ]
    assert found["_state"].type == "choice"


def test_lists_default_columns_title_first_then_six_then_state(cat: Catalog) -> None:
    assert default_columns(cat.entity("t.order"), fields(cat)) == [
        "number", "vendor", "vendor_risk", "amount", "due", "urgent", "tags", "_state",
    ]  # fmt: skip


def test_lists_parse_columns_refuses_unknown_and_hidden(cat: Catalog) -> None:
    visible = fields(cat, frozenset({"secret"}))
    assert parse_columns("amount, number,amount", visible) == (["amount", "number"], [])
    assert parse_columns("number,secret,nope", visible) == (["number"], ["secret", "nope"])


def test_lists_links_do_not_sort_plain_fields_do(cat: Catalog) -> None:
    found = fields(cat)
    assert not sortable(found["vendor"]) and not sortable(found["tags"])
    assert sortable(found["amount"]) and sortable(found["_state"])


@pytest.mark.parametrize(
    ("name", "kind", "first"),
    [
        ("number", "text", "contains"),
        ("amount", "number", "eq"),
        ("due", "date", "eq"),
        ("_created_at", "datetime", "lt"),
        ("vendor", "link", "eq"),
        ("vendor_risk", "choice", "eq"),
        ("urgent", "boolean", "eq"),
        ("tags", "multi", "contains"),
        ("watchers", "links", "contains"),
        ("_state", "choice", "eq"),
    ],
)
def test_lists_operators_depend_on_the_field_type(
    cat: Catalog, name: str, kind: str, first: str
) -> None:
    spec = fields(cat)[name]
    assert list_filters.kind(spec) == kind
    assert list_filters.operators(spec)[0] == first
    assert "empty" in list_filters.operators(spec)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (FilterRow("number", "contains", ("PO-1",)), {"number": {"contains": "PO-1"}}),
        (FilterRow("number", "startswith", (" PO ",)), {"number": {"startswith": "PO"}}),
        (FilterRow("amount", "gte", ("1,000.50",)), {"amount": {"gte": "1000.5"}}),
        (FilterRow("amount", "lt", ("-5",)), {"amount": {"lt": -5}}),  # past the field's min
        (FilterRow("amount", "between", ("1",), "9"), {"amount": {"gte": 1, "lte": 9}}),
        (FilterRow("due", "eq", ("2026/03/01",)), {"due": {"eq": "2026-03-01"}}),
        (FilterRow("vendor", "eq", ("Acme",)), {"vendor": {"eq": 7}}),
        (
            FilterRow("vendor_risk", "in", ("Low", "high", "")),
            {"vendor_risk": {"in": ["low", "high"]}},
        ),
        (FilterRow("urgent", "eq", ("false",)), {"urgent": {"eq": False}}),
        (FilterRow("tags", "contains", ("b",)), {"tags": {"contains": "b"}}),
        (FilterRow("watchers", "contains", ("Acme",)), {"watchers": {"contains": 7}}),
        (FilterRow("due", "empty"), {"due": {"isnull": True}}),
        (FilterRow("vendor", "notempty"), {"vendor": {"isnull": False}}),
        (FilterRow("_state", "ne", ("done",)), {"_state": {"ne": "done"}}),
    ],
)
def test_lists_rows_become_the_contract_filter(
    cat: Catalog, row: FilterRow, expected: dict[str, Any]
) -> None:
    found = fields(cat)
    assert list_filters.condition(found[row.field], row, no_titles) == expected
    compile_filter(cat, "t.order", expected)  # the engine accepts what the builder writes


@pytest.mark.parametrize(
    ("row", "code"),
    [
        (FilterRow("amount", "gte", ("lots",)), "bad_value"),
        (FilterRow("amount", "gte", ("",)), "needs_value"),
        (FilterRow("amount", "between", ("1",), ""), "needs_value"),
        (FilterRow("amount", "contains", ("1",)), "bad_operator"),
        (FilterRow("vendor", "eq", ("Nobody",)), "no_title"),
        (FilterRow("vendor_risk", "in", ()), "needs_value"),
        (FilterRow("urgent", "eq", ("maybe",)), "needs_value"),
    ],
)
def test_lists_rows_that_say_nothing_clear_are_refused(
    cat: Catalog, row: FilterRow, code: str
) -> None:
    with pytest.raises(RowError) as caught:
        list_filters.condition(fields(cat)[row.field], row, no_titles)
    assert caught.value.code == code


def test_lists_parse_rows_keeps_the_refused_row_and_the_rest(cat: Catalog) -> None:
    rows = [
        FilterRow("amount", "gt", ("5",)),
        FilterRow("amount", "lt", ("x",)),
        FilterRow("secret", "eq", ("a",)),
    ]
    parsed = list_filters.parse_rows(
        rows, fields(cat, frozenset({"secret"})), no_titles, {"or": []}
    )
    assert parsed.failed and [r.error for r in parsed.rows] == [None, "bad_value", "unknown_field"]
    assert parsed.filter == {"amount": {"gt": 5}, "or": []} or parsed.filter == {
        "and": [{"amount": {"gt": 5}}, {"or": []}]
    }


def test_lists_filter_reads_back_as_rows_and_keeps_what_rows_cannot_say(cat: Catalog) -> None:
    spec = {
        "amount": {"gte": 1, "lte": 9},
        "vendor": 7,
        "vendor_risk": {"in": ["low"]},
        "due": {"isnull": True},
        "vendor.name": {"contains": "Ac"},
        "or": [{"urgent": True}],
        "number": {"gt": 1, "lt": 5},
    }
    rows, rest = list_filters.rows_from_filter(spec, fields(cat))
    assert [(r.field, r.op, r.values, r.value2) for r in rows] == [
        ("amount", "between", ("1",), "9"),
        ("vendor", "eq", ("7",), ""),
        ("vendor_risk", "in", ("low",), ""),
        ("due", "empty", (), ""),
    ]
    assert rest == {
        "vendor.name": {"contains": "Ac"},
        "or": [{"urgent": True}],
        "number": {"gt": 1, "lt": 5},
    } or rest == {
        "and": [
            {"vendor.name": {"contains": "Ac"}},
            {"or": [{"urgent": True}]},
            {"number": {"gt": 1, "lt": 5}},
        ]
    }


def test_lists_combine_flattens_unless_keys_repeat() -> None:
    assert list_filters.combine([None, {}]) is None
    assert list_filters.combine([{"a": 1}, {"b": 2}]) == {"a": 1, "b": 2}
    assert list_filters.combine([{"a": 1}, {"a": 2}]) == {"and": [{"a": 1}, {"a": 2}]}
    assert list(list_filters.paths({"a": 1, "or": [{"b.c": 1}, {"not": {"d": 2}}]})) == [
        "a", "b.c", "d",
    ]  # fmt: skip


def test_lists_operator_labels_have_chinese() -> None:
    # The template labels operators with literal _() calls; the menu must read in Chinese.
    table = translations("zh-CN")
    for label in ("contains", "is", "is not", "between", "is any of", "starts with",
                  "is empty", "is not empty", "includes"):  # fmt: skip
        assert label in table, label


@pytest.fixture
def conn(cat: Catalog) -> Any:
    engine = sa.create_engine("sqlite://")
    cat.metadata.create_all(engine)
    with engine.begin() as connection:
        vendors = cat.table("t.vendor")
        now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        connection.execute(
            sa.insert(vendors),
            [
                {"id": i, "name": n, "_version": 1, "_created_at": now, "_updated_at": now}
                for i, n in ((1, "Acme"), (2, "Zeta"))
            ],
        )
        yield connection
    engine.dispose()


def test_lists_titles_one_query_per_target_under_its_scope(cat: Catalog, conn: Any) -> None:
    records = [{"vendor": 1, "watchers": [1, 2]}, {"vendor": 2, "watchers": []}, {"vendor": None}]
    found = fields(cat)
    wanted = wanted_links(records, [found["vendor"], found["watchers"]])
    assert wanted == {"t.vendor": {1, 2}}
    statements: list[str] = []
    sa.event.listen(conn.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    vendors = cat.table("t.vendor")
    only_acme = Scope("t.vendor", vendors.c.name == "Acme")
    titles = titles_for(conn, cat, wanted, lambda e: only_acme)
    assert titles == {"t.vendor": {1: "Acme"}} and len(statements) == 1
    assert cell(cat, found["vendor"], 1, titles, "en") == Cell("Acme", "/t/vendor/1")
    assert cell(cat, found["vendor"], 2, titles, "en") == Cell("#2")
    assert cell(cat, found["watchers"], [1, 2], titles, "en") == Cell("Acme, #2")
    hidden_title = Scope("t.vendor", None, frozenset({"name"}))
    assert titles_for(conn, cat, wanted, lambda e: hidden_title) == {"t.vendor": {}}
    assert titles_for(conn, cat, wanted, lambda e: None) == {"t.vendor": {}}


def test_lists_cells_show_values_in_the_callers_language(cat: Catalog) -> None:
    found = fields(cat)
    assert cell(cat, found["vendor_risk"], "low", {}, "zh-CN").text == "低"
    assert cell(cat, found["_state"], "done", {}, "en").text == "Done"
    amount = cell(cat, found["amount"], 1234.5, {}, "en")
    assert amount.numeric and "1,234.50" in amount.text


def test_lists_saved_views_are_found_only_by_their_owner(engine: sa.Engine) -> None:
    body = list_saved.body(["a", "b"], {"x": 1}, "-a", "hello")
    with engine.begin() as c:
        first = list_saved.save(c, "ann", "t.order", "Mine", body)
        again = list_saved.save(c, "ann", "t.order", "Mine", {**body, "q": "bye"})
        list_saved.save(c, "bob", "t.order", "Mine", body)
    assert first == again
    with engine.connect() as c:
        assert [v["name"] for v in list_saved.listed(c, "ann", "t.order")] == ["Mine"]
        found = list_saved.find(c, "ann", "t.order", first)
        assert found is not None and found["body"]["q"] == "bye"
        assert list_saved.find(c, "bob", "t.order", first) is None
        assert list_saved.find(c, "ann", "t.other", first) is None
    with engine.begin() as c:
        assert not list_saved.delete(c, "bob", "t.order", first)
        assert list_saved.delete(c, "ann", "t.order", first)
    assert list_saved.state({"columns": "oops", "filter": [1], "sort": 3}) == {
        "columns": None, "filter": None, "sort": None, "q": None,
    }  # fmt: skip


def test_lists_export_writers_stream_csv_and_xlsx() -> None:
    rows = [["PO-1", 12.5, None], ["采购", 3, "x"]] * 150
    chunks = list(list_export.csv_chunks(["Number", "Total", "Note"], iter(rows)))
    assert len(chunks) == 2  # a chunk per 200 rows, then the rest
    text = b"".join(chunks).decode("utf-8")
    assert text.startswith("\ufeffNumber,Total,Note\r\nPO-1,12.5,\r\n采购,3,x\r\n")
    handle = list_export.xlsx_file("订单", ["Number", "Total"], iter([["PO-1", 12.5]]))
    try:
        sheet = load_workbook(io.BytesIO(handle.read()), read_only=True).worksheets[0]
        assert sheet.title == "订单"
        assert [list(r) for r in sheet.iter_rows(values_only=True)] == [
            ["Number", "Total"],
            ["PO-1", 12.5],
        ]
    finally:
        handle.close()
