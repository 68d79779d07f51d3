"""Lists: the filter language, sort, keyset pagination, search, count, expand, injections."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.paging import count_rows, decode_cursor, encode_cursor
from appblocks.engine.query import compile_filter, compile_sort
from appblocks.engine.record_errors import QueryError
from appblocks.engine.records import RecordStore

from .conftest import PURCHASING

Ids = dict[str, int]


@pytest.fixture(scope="module")
def catalog_m() -> Catalog:
    """The purchasing catalog, once per module."""
    return Catalog({"srm": PURCHASING})


@pytest.fixture(scope="module")
def store_m(catalog_m: Catalog) -> RecordStore:
    """A record store, once per module."""
    return RecordStore(catalog_m)


@pytest.fixture(scope="module")
def data(module_db: sa.Engine, store_m: RecordStore) -> Ids:
    """Suppliers A-E, materials, three orders and 120 goods receipts; their ids by label."""
    ids: Ids = {}
    with module_db.begin() as conn:
        create = store_m.create
        suppliers = {
            "A": {"name": "Acme Components", "email": "a@acme.com", "risk": "low", "rating": 5,
                  "active": True, "tags": ["local", "preferred"], "since": "2020-01-15",
                  "notes": "100% reliable"},
            "B": {"name": "Beta_Parts", "risk": "medium", "rating": 3, "active": False,
                  "tags": ["global"], "since": "2021-06-01"},
            "C": {"name": "Gamma Metals", "risk": "high", "tags": [], "notes": "slow"},
            "D": {"name": "delta supplies", "risk": "low", "rating": 1, "active": True,
                  "since": "2022-03-10"},
            "E": {"name": "Épsilon 供应商", "risk": "medium", "rating": 4, "active": True,
                  "tags": ["local"], "since": "2023-12-31"},
        }  # fmt: skip
        for label, values in suppliers.items():
            if label in "DE":
                values["parent"] = ids["A"]
            ids[label] = create(conn, "srm.supplier", values)["id"]
        for code in ("M-1", "M-2", "M-3"):
            ids[code] = create(conn, "srm.material", {"code": code})["id"]
        ids["P1"] = create(conn, "srm.purchase_order", {
            "supplier": ids["A"], "amount": 100, "order_date": "2024-01-10",
            "materials": [ids["M-1"]],
            "lines": [{"material": ids["M-1"], "quantity": 10}, {"material": ids["M-2"], "quantity": 2}],
        })["id"]  # fmt: skip
        ids["P2"] = create(conn, "srm.purchase_order", {
            "supplier": ids["D"], "amount": "50.5", "materials": [ids["M-2"], ids["M-3"]],
            "lines": [{"material": ids["M-3"], "quantity": 1}],
        })["id"]  # fmt: skip
        ids["P3"] = create(conn, "srm.purchase_order", {"supplier": ids["B"]})["id"]
        orders = [ids["P1"], ids["P2"], ids["P3"], None, None]
        receipts = [
            {
                "purchase_order": orders[i % 5],
                "quantity": None if i % 3 == 0 else i % 7,
                "received_on": None if i % 4 == 0 else str(dt.date(2024, 1, 1 + i % 10)),
            }
            for i in range(120)
        ]
        store_m.create_many(conn, "srm.goods_receipt", receipts)
    return ids


@pytest.fixture
def mconn(module_db: sa.Engine, data: Ids) -> Iterator[sa.Connection]:
    """A read connection on the module's data."""
    with module_db.connect() as conn:
        yield conn


def _resolve(value: Any, ids: Ids) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        return ids[value[1:]]
    if isinstance(value, list):
        return [_resolve(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, ids) for k, v in value.items()}
    return value


SUPPLIERS = ("A", "B", "C", "D", "E")
ORDERS = ("P1", "P2", "P3")


def _labels(ids: Ids, found: list[int], labels: tuple[str, ...] = SUPPLIERS) -> set[str]:
    names = {ids[label]: label for label in labels}
    return {names[i] for i in found}


SUPPLIER_FILTERS: list[tuple[dict[str, Any], str]] = [
    ({"name": "Acme Components"}, "A"),
    ({"name": {"eq": "Acme Components"}}, "A"),
    ({"name": {"eq": "acme components"}}, ""),  # eq is exact
    ({"risk": {"ne": "low"}}, "BCE"),
    ({"rating": {"ne": 5}}, "BCDE"),  # "not 5" includes no rating
    ({"rating": {"lt": 3}}, "D"),
    ({"rating": {"lte": 3}}, "BD"),
    ({"rating": {"gt": 3}}, "AE"),
    ({"rating": {"gte": 4}}, "AE"),
    ({"rating": {"gte": "4"}}, "AE"),  # coerced by the field's type
    ({"rating": {"in": [1, 5]}}, "AD"),
    ({"rating": {"nin": [1, 5]}}, "BCE"),
    ({"rating": {"in": [1, None]}}, "CD"),
    ({"rating": {"nin": [1, None]}}, "ABE"),
    ({"rating": {"in": []}}, ""),
    ({"rating": {"isnull": True}}, "C"),
    ({"rating": {"isnull": False}}, "ABDE"),
    ({"rating": None}, "C"),
    ({"rating": {"gt": 1, "lt": 5}}, "BE"),
    ({"name": {"contains": "ME"}}, "AC"),  # case-insensitive: Acme, Gamma Metals
    ({"name": {"startswith": "d"}}, "D"),
    ({"name": {"startswith": "DELTA"}}, "D"),
    ({"name": {"contains": "_"}}, "B"),  # _ is not a wildcard
    ({"notes": {"contains": "%"}}, "A"),  # % is not a wildcard
    ({"name": {"contains": "供应"}}, "E"),
    ({"email": {"contains": "@acme."}}, "A"),
    ({"since": {"gte": "2022-01-01"}}, "DE"),
    ({"since": {"lt": "2021-01-01"}}, "A"),
    ({"since": {"eq": "2021-06-01"}}, "B"),
    ({"since": {"isnull": True}}, "C"),
    ({"active": True}, "ADE"),
    ({"active": {"ne": True}}, "BC"),
    ({"active": {"eq": False}}, "B"),
    ({"tags": {"contains": "local"}}, "AE"),
    ({"tags": {"contains": "preferred"}}, "A"),
    ({"tags": {"isnull": True}}, "CD"),
    ({"tags": {"isnull": False}}, "ABE"),
    ({"risk": {"in": ["low", "high"]}}, "ACD"),
    ({"risk": {"contains": "ed"}}, "BE"),
    ({"or": [{"risk": "high"}, {"rating": 5}]}, "AC"),
    ({"and": [{"risk": "low"}, {"rating": {"gt": 2}}]}, "A"),
    (
        {"or": [{"and": [{"risk": "low"}, {"active": True}]}, {"name": {"startswith": "Gam"}}]},
        "ACD",
    ),
    ({"not": {"risk": "low"}}, "BCE"),
    ({"and": []}, "ABCDE"),
    ({"or": []}, ""),
    ({"risk": "low", "active": True}, "AD"),
    ({"parent.name": {"contains": "acme"}}, "DE"),  # through a link
    ({"parent": "$A"}, "DE"),
    ({"parent": {"isnull": True}}, "ABC"),
    ({"parent.rating": {"gte": 5}, "risk": "medium"}, "E"),
    ({"id": {"in": ["$A", "$C"]}}, "AC"),
    ({"id": "$B"}, "B"),
    ({"_created_at": {"lte": "2999-01-01"}}, "ABCDE"),
    ({"_updated_at": {"gt": "2999-01-01"}}, ""),
]


@pytest.mark.parametrize(("spec", "expected"), SUPPLIER_FILTERS)
def test_filter_on_suppliers(
    store_m: RecordStore, mconn: sa.Connection, data: Ids, spec: dict[str, Any], expected: str
) -> None:
    page = store_m.list(mconn, "srm.supplier", filter=_resolve(spec, data), limit=100)
    assert _labels(data, [r["id"] for r in page.items]) == set(expected)


ORDER_FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"supplier.name": {"startswith": "Acme"}}, {"P1"}),
    ({"supplier.parent.name": "Acme Components"}, {"P2"}),  # two links
    ({"supplier.risk": {"ne": "low"}}, {"P3"}),
    ({"materials": "$M-2"}, {"P2"}),  # a links field: has this target
    ({"materials": {"in": ["$M-1", "$M-3"]}}, {"P1", "P2"}),
    ({"materials": {"nin": ["$M-1"]}}, {"P2", "P3"}),
    ({"materials": {"isnull": True}}, {"P3"}),
    ({"materials.code": "M-3"}, {"P2"}),  # through a links field
    ({"lines.quantity": {"gt": 5}}, {"P1"}),  # through lines
    ({"lines.material.code": "M-3"}, {"P2"}),
    ({"lines": {"isnull": True}}, {"P3"}),
    ({"amount": {"gt": "50.49"}}, {"P1", "P2"}),
    ({"amount": {"lt": 100}}, {"P2"}),
    ({"amount": 50.5}, {"P2"}),
    ({"order_date": {"gte": "2024-01-10"}}, {"P1"}),
    ({"status": "draft"}, {"P1", "P2", "P3"}),
    ({"number": {"startswith": "PO-"}}, {"P1", "P2", "P3"}),
    ({"_state": {"isnull": True}}, {"P1", "P2", "P3"}),
]


@pytest.mark.parametrize(("spec", "expected"), ORDER_FILTERS)
def test_filter_on_orders_through_links(
    store_m: RecordStore, mconn: sa.Connection, data: Ids, spec: dict[str, Any], expected: set[str]
) -> None:
    page = store_m.list(mconn, "srm.purchase_order", filter=_resolve(spec, data))
    assert _labels(data, [r["id"] for r in page.items], ORDERS) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"purchase_order.supplier.name": {"startswith": "acme"}}, 24),
        ({"purchase_order.supplier.parent.name": "Acme Components"}, 24),
        ({"purchase_order": {"isnull": True}}, 48),
        ({"purchase_order.lines.quantity": {"lte": 2}}, 48),
        ({"quantity": {"isnull": True}}, 40),
    ],
)
def test_filter_on_receipts_through_two_links(
    store_m: RecordStore, mconn: sa.Connection, spec: dict[str, Any], expected: int
) -> None:
    page = store_m.list(mconn, "srm.goods_receipt", filter=spec, count=True, limit=1)
    assert page.total == expected
    assert page.total_is_estimate is False


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"colour": "red"}, "'colour' is not a field of srm.supplier"),
        ({"parent.colour": "red"}, "'parent.colour' is not a field of srm.supplier"),
        ({"name.first": "x"}, "'name' of srm.supplier is not a link"),
        ({"name": {"like": "x"}}, "'like' is not a filter operator"),
        ({"rating": {"contains": 1}}, "operator 'contains' does not apply to 'rating'"),
        ({"active": {"lt": True}}, "operator 'lt' does not apply to 'active'"),
        ({"tags": {"eq": "local"}}, "operator 'eq' does not apply to 'tags'"),
        ({"tags": {"contains": "nowhere"}}, "is not one of the options"),
        ({"since": {"gt": "soon"}}, "filter on 'since': 'soon' is not a date"),
        ({"rating": {"in": 5}}, "in takes a list"),
        ({"rating": {"isnull": "yes"}}, "isnull takes true or false"),
        ({"rating": {"gt": None}}, "gt needs a value"),
        ({"rating": {}}, "'rating' has no operator"),
        ({"or": {"rating": 1}}, "'or' takes a list of filters"),
        ({"or": ["rating"]}, "a filter must be a JSON object"),
        ({"parent.parent.parent.parent.parent.name": "x"}, "follows too many links"),
    ],
)
def test_filter_errors_are_query_errors(
    catalog_m: Catalog, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(")):
        compile_filter(catalog_m, "srm.supplier", spec)


def test_filter_refuses_deep_nesting(catalog_m: Catalog) -> None:
    spec: dict[str, Any] = {"rating": 1}
    for _ in range(20):
        spec = {"and": [spec]}
    with pytest.raises(QueryError, match="nests too deeply"):
        compile_filter(catalog_m, "srm.supplier", spec)


def test_filter_values_are_bound_not_spliced(catalog_m: Catalog) -> None:
    clause = compile_filter(catalog_m, "srm.supplier", {"name": "x' OR '1'='1"})
    sql = str(clause.compile(compile_kwargs={}))
    assert "OR '1'" not in sql and ":name_1" in sql


# --- injection attempts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filter": {"name; DROP TABLE srm_supplier; --": "x"}},
        {"filter": {"name": {"eq); DROP TABLE srm_supplier; --": "x"}}},
        {"filter": {"\"name\" = 'x' OR 1=1 --": 1}},
        {"sort": "name; DROP TABLE srm_supplier"},
        {"sort": "(select 1)"},
        {"sort": "name desc"},
        {"cursor": "'; DROP TABLE srm_supplier; --"},
        {"cursor": "eyJzIjoiaWQiLCJ2IjpbIjEgT1IgMT0xIl19"},  # {"s":"id","v":["1 OR 1=1"]}
        {"expand": ["supplier; DROP TABLE srm_supplier"]},
    ],
)
def test_injection_through_names_is_refused(
    store_m: RecordStore, mconn: sa.Connection, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(QueryError):
        store_m.list(mconn, "srm.supplier", **kwargs)
    assert store_m.list(mconn, "srm.supplier", count=True).total == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filter": {"name": "x' OR '1'='1"}},
        {"filter": {"name": {"contains": "'; DROP TABLE srm_supplier; --"}}},
        {"filter": {"name": {"in": ["a') OR ('1'='1"]}}},
        {"q": "'; DROP TABLE srm_supplier; --"},
        {"q": "%' OR 1=1 --"},
    ],
)
def test_injection_through_values_is_harmless(
    store_m: RecordStore, mconn: sa.Connection, kwargs: dict[str, Any]
) -> None:
    assert store_m.list(mconn, "srm.supplier", **kwargs).items == []
    assert store_m.list(mconn, "srm.supplier", count=True).total == 5


# --- sort --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("rating", "DBEAC"),  # NULLs last
        ("-rating", "AEBDC"),  # NULLs last in both directions
        ("risk,-rating", "CADEB"),
        ("-since", "EDBAC"),
        ("since,name", "ABDEC"),
        ("+rating", "DBEAC"),
        (None, "ABCDE"),
        ("-id", "EDCBA"),
    ],
)
def test_sort_orders_with_nulls_last(
    store_m: RecordStore, mconn: sa.Connection, data: Ids, sort: str | None, expected: str
) -> None:
    items = store_m.list(mconn, "srm.supplier", sort=sort).items
    labels = {data[label]: label for label in SUPPLIERS}
    assert "".join(labels[r["id"]] for r in items) == expected


@pytest.mark.parametrize(
    ("sort", "message"),
    [
        ("colour", "cannot sort on 'colour'"),
        ("tags", "only plain fields sort"),
        ("supplier.name", "cannot sort on 'supplier.name'"),
    ],
)
def test_sort_errors(catalog_m: Catalog, sort: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        compile_sort(catalog_m, "srm.supplier", sort)


def test_sort_always_ends_with_id(catalog_m: Catalog) -> None:
    assert compile_sort(catalog_m, "srm.supplier", "-rating, name").text == "-rating,name,id"
    assert compile_sort(catalog_m, "srm.supplier", "-id").text == "-id"


# --- keyset pagination -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort",
    [
        "quantity",
        "-quantity",
        "received_on,-quantity",
        "-received_on,quantity",
        "purchase_order,-received_on",
        "-_created_at",  # one timestamp for the whole batch: only id decides
        "_updated_at,quantity",
        "-id",
        None,
    ],
)
def test_keyset_pages_return_every_row_once(
    store_m: RecordStore, mconn: sa.Connection, sort: str | None
) -> None:
    everything = store_m.list(mconn, "srm.goods_receipt", sort=sort, limit=1000).items
    assert len(everything) == 120
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = store_m.list(mconn, "srm.goods_receipt", sort=sort, limit=25, cursor=cursor)
        pages += 1
        seen.extend(r["id"] for r in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 5
    assert seen == [r["id"] for r in everything]  # same order, nothing lost or repeated


def test_keyset_pages_with_a_filter(store_m: RecordStore, mconn: sa.Connection) -> None:
    spec = {"quantity": {"isnull": False}}
    seen: list[int] = []
    cursor = None
    while True:
        page = store_m.list(
            mconn, "srm.goods_receipt", filter=spec, sort="-quantity", limit=7, cursor=cursor
        )
        seen.extend(r["id"] for r in page.items)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 80


def test_cursor_round_trips_typed_values(catalog_m: Catalog) -> None:
    order = compile_sort(catalog_m, "srm.purchase_order", "-amount,order_date,_created_at")
    now = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    values = [Decimal("12.30"), dt.date(2024, 1, 2), now, 7]
    assert decode_cursor(order, encode_cursor(order, values)) == values
    assert decode_cursor(order, encode_cursor(order, [None, None, now, 7]))[0] is None


def test_cursor_of_another_sort_is_refused(store_m: RecordStore, mconn: sa.Connection) -> None:
    page = store_m.list(mconn, "srm.goods_receipt", sort="quantity", limit=10)
    assert page.next_cursor
    with pytest.raises(QueryError, match="cursor is not valid"):
        store_m.list(mconn, "srm.goods_receipt", sort="-quantity", cursor=page.next_cursor)


def test_limit_is_bounded(store_m: RecordStore, mconn: sa.Connection) -> None:
    with pytest.raises(QueryError, match="limit must be between"):
        store_m.list(mconn, "srm.supplier", limit=0)


# --- search and count --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("acme", "A"),
        ("ACME", "A"),
        ("  metals ", "C"),
        ("a", "ABCD"),  # names, e-mail and notes; not Épsilon
        ("s@", ""),
        ("100%", "A"),  # notes are searched too, % literally
        ("%", "A"),
        ("_", "B"),
        ("供应商", "E"),
        ("", "ABCDE"),
    ],
)
def test_search_q_over_text_fields(
    store_m: RecordStore, mconn: sa.Connection, data: Ids, q: str, expected: str
) -> None:
    items = store_m.list(mconn, "srm.supplier", q=q).items
    assert _labels(data, [r["id"] for r in items]) == set(expected)


def test_search_q_combines_with_filter(
    store_m: RecordStore, mconn: sa.Connection, data: Ids
) -> None:
    items = store_m.list(mconn, "srm.supplier", q="a", filter={"risk": "low"}).items
    assert _labels(data, [r["id"] for r in items]) == {"A", "D"}


def test_search_q_finds_autonumbers(store_m: RecordStore, mconn: sa.Connection) -> None:
    assert len(store_m.list(mconn, "srm.purchase_order", q="po-").items) == 3


def test_count_is_exact_below_the_cap(store_m: RecordStore, mconn: sa.Connection) -> None:
    page = store_m.list(mconn, "srm.goods_receipt", filter={"quantity": 1}, count=True, limit=2)
    expected = sum(1 for i in range(120) if i % 3 and i % 7 == 1)
    assert (page.total, page.total_is_estimate) == (expected, False)
    assert store_m.list(mconn, "srm.supplier").total is None


def test_count_past_the_cap_is_an_estimate(
    catalog_m: Catalog, mconn: sa.Connection, data: Ids
) -> None:
    table = catalog_m.table("srm.goods_receipt")
    assert count_rows(mconn, table, None, cap=200) == (120, False)
    total, estimate = count_rows(mconn, table, None, cap=50)
    assert estimate is True and total >= 51
    where = compile_filter(catalog_m, "srm.goods_receipt", {"quantity": {"isnull": False}})
    total, estimate = count_rows(mconn, table, where, cap=10)
    assert estimate is True and total >= 11
    if mconn.dialect.name == "postgresql":  # once analysed, the catalogue's estimate is used
        mconn.exec_driver_sql("ANALYZE srm_goods_receipt")
        assert count_rows(mconn, table, None, cap=50) == (120, True)
        mconn.rollback()


def test_count_caps_at_ten_thousand(store: RecordStore, conn: sa.Connection) -> None:
    rows = [{"name": f"S{i:05d}", "rating": i % 6} for i in range(10_050)]
    store.create_many(conn, "srm.supplier", rows)
    page = store.list(conn, "srm.supplier", count=True, limit=5)
    assert page.total_is_estimate is True
    assert page.total is not None and page.total > 10_000
    page = store.list(conn, "srm.supplier", filter={"rating": 0}, count=True, limit=5)
    assert (page.total, page.total_is_estimate) == (1675, False)


# --- expand without N+1 --------------------------------------------------------------------------


def _orders(store: RecordStore, conn: sa.Connection, n: int) -> None:
    suppliers = store.create_many(conn, "srm.supplier", [{"name": f"S{i}"} for i in range(n)])
    materials = store.create_many(conn, "srm.material", [{"code": f"M{i}"} for i in range(3)])
    rows = [
        {
            "supplier": suppliers[i],
            "materials": materials[: 1 + i % 3],
            "lines": [{"material": materials[j % 3], "quantity": j} for j in range(1 + i % 4)],
        }
        for i in range(n)
    ]
    store.create_many(conn, "srm.purchase_order", rows)


def _queries(engine: sa.Engine, run: Any) -> int:
    statements: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
    return len(statements)


def test_expand_takes_a_constant_number_of_queries(
    store: RecordStore, db: sa.Engine, conn: sa.Connection
) -> None:
    _orders(store, conn, 30)
    expand = ["supplier", "lines"]
    few = _queries(db, lambda: store.list(conn, "srm.purchase_order", limit=5, expand=expand))
    many = _queries(db, lambda: store.list(conn, "srm.purchase_order", limit=25, expand=expand))
    assert few == many <= 6  # page, materials, supplier, lines (+ the lines' own links)
    page = store.list(conn, "srm.purchase_order", limit=25, expand=expand)
    first = page.items[0]
    assert first["supplier"]["name"] == "S0"
    assert [x["quantity"] for x in first["lines"]] == [0]
    assert len(page.items[3]["lines"]) == 4
    third = page.items[2]
    assert third["materials"] == store.get(conn, "srm.purchase_order", third["id"])["materials"]
    plain = store.list(conn, "srm.purchase_order", limit=25)
    assert "lines" not in plain.items[0]  # lines only when expanded in lists
    assert isinstance(plain.items[0]["materials"], list)


def test_expand_of_links_inlines_records(store: RecordStore, conn: sa.Connection) -> None:
    _orders(store, conn, 3)
    items = store.list(conn, "srm.purchase_order", expand=["materials"]).items
    assert [m["code"] for m in items[2]["materials"]] == ["M0", "M1", "M2"]


@pytest.mark.parametrize("expand", [["colour"], ["amount"], ["number"]])
def test_expand_refuses_other_fields(
    store: RecordStore, conn: sa.Connection, expand: list[str]
) -> None:
    with pytest.raises(QueryError, match="cannot expand"):
        store.list(conn, "srm.purchase_order", expand=expand)
