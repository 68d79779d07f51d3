"""List pages over httpx, on SQLite and PostgreSQL: query counts (no N+1), record rules and
hidden fields in the list, the count and the export, the filter builder without JavaScript,
htmx fragments, bulk actions all or none, saved views per user, a configured view's preset."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from appblocks.engine.blueprints import install
from appblocks.engine.db import create_engine
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.users import create_user
from tests.conftest import fresh_database
from tests.server.conftest import PASSWORD, Live, serve
from tests.ui.conftest import page_session

DEALS = """
blueprint: lst
version: 1.0.0
title: {en: Deals, zh-CN: 交易}
entities:
  region:
    title: name
    fields:
      name: {type: text, required: true, unique: true}
  team:
    title: name
    fields:
      name: {type: text, required: true}
  deal:
    label: {en: Deal, zh-CN: 交易}
    title: name
    fields:
      name: {type: text, required: true, label: {en: Name, zh-CN: 名称}}
      owner: {type: user}
      region: {type: link, to: region, label: {en: Region, zh-CN: 区域}}
      partner: {type: link, to: region, label: {en: Partner region, zh-CN: 合作区域}}
      team: {type: link, to: team}
      amount: {type: money, label: {en: Amount, zh-CN: 金额}}
      stage: {type: choice, options: [new, won, lost], default: new}
      closed_on: {type: date}
      secret: {type: text}
      lines: {type: lines, to: deal_line}
  deal_line:
    fields:
      item: {type: text}
  memo:
    title: text
    fields:
      text: {type: text}
      deal: {type: link, to: deal, on_delete: restrict}
workflows:
  deal_flow:
    entity: deal
    initial: open
    states: [open, closed]
    transitions:
      close: {from: open, to: closed, when: "amount is not None and amount > 0"}
views:
  big_deals:
    label: {en: Big deals, zh-CN: 大额交易}
    entity: deal
    type: list
    columns: [name, amount, region]
    filter: {amount: {gte: 1000}}
    sort: "-amount"
roles:
  rep:
    permissions:
      deal: {actions: [read, create, update, delete, export], where: {owner: "$user"}, fields: {secret: hidden}}
      region: [read]
      team: [read]
  boss:
    permissions:
      deal: [read, create, update, delete, export]
      deal_line: [read, create, update, delete]
      region: [read]
      memo: [read, create, delete]
      team: [read]
  peek:
    permissions:
      deal: [read]
      region: {actions: [read], where: {name: North}}
data:
  region:
    - {name: North}
    - {name: South}
  team:
    - {name: Alpha}
    - {name: Beta}
"""

USERS = {"rep1": ["rep"], "rep2": ["rep"], "boss1": ["boss"], "peek1": ["peek"]}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deals(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """A server with the `lst` blueprint and its users, on SQLite and on PostgreSQL."""
    with fresh_database(request.param, tmp_path_factory.mktemp("lists")) as url:
        engine = create_engine(url)
        install(engine, load_blueprint_text(DEALS, "lst.yaml"), with_data=True)
        with engine.begin() as conn:
            for name, roles in USERS.items():
                create_user(conn, name, password=PASSWORD, roles=roles)
        try:
            with serve(url, engine) as running:
                yield running
        finally:
            engine.dispose()


@pytest.fixture
def pages(deals: Live) -> Iterator[Callable[..., httpx.Client]]:
    made: list[httpx.Client] = []

    def open_as(user: str, locale: str = "en") -> httpx.Client:
        client = page_session(deals, user, locale)
        # Signing in starts a new session with a new CSRF token: send that one.
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
        assert token is not None
        client.headers["X-CSRF-Token"] = token.group(1)
        made.append(client)
        return client

    yield open_as
    for client in made:
        client.close()


_counter = iter(range(1, 1_000_000))


def add_deals(live: Live, count: int, **values: Any) -> tuple[str, list[int]]:
    """`count` deals named `<marker> <i>` (amount 10 * (i + 1), both links set); the marker
    and the ids."""
    marker = f"d{next(_counter):04d}x"
    rows = [
        {
            "name": f"{marker} {i:02d}",
            "owner": "boss1",
            "region": 1 + i % 2,
            "partner": 2 - i % 2,
            "team": 1 + i % 2,
            "amount": 10 * (i + 1),
            "secret": f"{marker}-secret",
            **values,
        }
        for i in range(count)
    ]
    with live.client("boss1") as client:
        answer = client.post("/api/v1/lst/deal/batch", json=rows)
        assert answer.status_code == 201, answer.text
    return marker, answer.json()["ids"]


def names(html: str) -> list[str]:
    """The record titles a list page shows, top to bottom."""
    return re.findall(r'class="record-link" href="[^"]+">([^<]+)</a>', html)


def count_text(html: str) -> str:
    found = re.search(r'id="list-count" role="status">\s*(.*?)\s*</p>', html, re.S)
    assert found, "the page shows a count"
    return " ".join(found.group(1).split())


class Statements:
    """Counts the SQL statements an engine runs, leaving out those every page makes (the
    catalog's freshness check, the session's user, the inbox count) and SQLite's BEGINs:
    they are the shell's, and come and go with its caches and their time to live."""

    SHELL = ("ab_document", "ab_user", "ab_task")

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def __enter__(self) -> Statements:
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement != "BEGIN" and not any(table in statement for table in self.SHELL):
            self.seen.append(statement)


def test_lists_query_count_is_the_same_for_5_and_25_rows(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    marker, _ids = add_deals(deals, 40)
    client = pages("boss1")
    columns = "name,region,partner,team,amount,stage,_state"
    big = f"/lst/deal?q={marker}&columns={columns}"
    small = big + "&filter=" + json.dumps({"amount": {"lte": 50}})
    client.get(big)  # warm: the catalog, the compiled queries
    counts: dict[str, int] = {}
    own: dict[str, list[str]] = {}
    seen: dict[str, list[str]] = {}
    for label, url in (("25", big), ("5", small)):
        with Statements(deals.engine) as statements:
            answer = client.get(url)
        assert answer.status_code == 200, answer.text
        counts[label] = len(statements.seen)
        seen[label] = [s[:60] for s in statements.seen]
        own[label] = [s for s in statements.seen if "lst_" in s or "ab_saved_view" in s]
    assert len(names(client.get(big).text)) == 25
    assert len(names(client.get(small).text)) == 5
    assert counts["25"] == counts["5"], (counts, seen)
    # The page, its count, the titles of `region` (two link columns point there) and of
    # `team`, the saved views: nothing else.
    assert len(own["25"]) == len(own["5"]) == counts["25"] == 5, seen
    more = re.search(r'href="([^"]*cursor=[^"]*)"', client.get(big).text)
    assert more is not None
    with Statements(deals.engine) as statements:
        fragment = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert len(names(fragment.text)) == 15 and 'hx-swap-oob="true"' in fragment.text
    assert len(statements.seen) <= counts["25"]


def test_lists_record_rule_limits_rows_count_and_export(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    marker, ids = add_deals(deals, 6)
    with deals.client("boss1") as boss:
        for record_id in ids[:2]:
            boss.patch(f"/api/v1/lst/deal/{record_id}", json={"owner": "rep1", "_version": 1})
    rep = pages("rep1")
    page = rep.get(f"/lst/deal?q={marker}")
    assert sorted(names(page.text)) == [f"{marker} 00", f"{marker} 01"]
    assert count_text(page.text) == "2 records"
    exported = rep.get(f"/lst/deal/export.csv?q={marker}&columns=name,amount")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.text.removeprefix("\ufeff"))))
    assert rows[0] == ["Name", "Amount"]
    assert sorted(r[0] for r in rows[1:]) == [f"{marker} 00", f"{marker} 01"]
    assert count_text(pages("rep2").get(f"/lst/deal?q={marker}").text) == "0 records"


def test_lists_hidden_field_is_no_column_filter_sort_search_or_export(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    marker, ids = add_deals(deals, 2, owner="rep1")
    rep = pages("rep1")
    page = rep.get(f"/lst/deal?q={marker}")
    assert 'value="secret"' not in page.text  # neither a column nor a filter choice
    forged = json.dumps({"secret": {"contains": marker}})
    for url in (
        "/lst/deal?columns=name,secret",
        f"/lst/deal?filter={forged}",
        "/lst/deal?sort=secret",
        f"/lst/deal?f.0=secret&op.0=contains&v.0={marker}",
        f"/lst/deal/export.csv?filter={forged}",
        "/lst/deal/export.csv?columns=name,secret",
        "/lst/deal/export.xlsx?sort=-secret",
    ):
        answer = rep.get(url)
        assert answer.status_code == 422, (url, answer.status_code)
        assert "secret" in answer.text
    # The hidden text is not searchable, and the export has no such column.
    assert names(rep.get(f"/lst/deal?q={marker}-secret").text) == []
    header = rep.get(f"/lst/deal/export.csv?q={marker}").text.removeprefix("\ufeff")
    assert "secret" not in header.lower() and marker in header


def test_lists_export_needs_the_export_permission(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    peek = pages("peek1")
    page = peek.get("/lst/deal")
    assert page.status_code == 200 and "export.csv" not in page.text
    assert peek.get("/lst/deal/export.csv").status_code == 403
    assert "/lst/deal/new" not in page.text  # and it may not create


def test_lists_link_titles_follow_the_target_rule(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    marker, _ids = add_deals(deals, 2)
    page = pages("peek1").get(f"/lst/deal?q={marker}&columns=name,region")
    assert ">North</a>" in page.text  # peek may read North ...
    assert "South" not in page.text and "#2" in page.text  # ... but not South


def test_lists_filter_builder_without_javascript_writes_the_contract_filter(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    marker, _ids = add_deals(deals, 6)
    boss = pages("boss1")
    answer = boss.get(
        f"/lst/deal?q={marker}&f.0=amount&op.0=between&v.0=20&v2.0=50"
        "&f.1=region&op.1=eq&v.1=North&f.2=stage&op.2=in&v.2=new&v.2=won&f.3="
    )
    assert answer.status_code == 303
    query = parse_qs(urlparse(answer.headers["location"]).query)
    assert json.loads(query["filter"][0]) == {
        "amount": {"gte": 20, "lte": 50},
        "region": {"eq": 1},
        "stage": {"in": ["new", "won"]},
    }
    page = boss.get(answer.headers["location"])
    assert sorted(names(page.text)) == [f"{marker} 02", f"{marker} 04"]
    # The filter reads back as rows: the link shows its title, not its number.
    assert 'name="v.1" type="text" value="North"' in page.text
    # A row that cannot be read is refused where it stands; the typed text stays.
    bad = boss.get("/lst/deal?f.0=amount&op.0=gte&v.0=lots&f.1=region&op.1=eq&v.1=Atlantis")
    assert bad.status_code == 422
    assert "“lots” is not a valid value here." in bad.text and 'value="lots"' in bad.text
    assert "Nothing is called “Atlantis”." in bad.text
    zh = pages("boss1", "zh-CN").get("/lst/deal?f.0=amount&op.0=gte&v.0=")
    assert zh.status_code == 422 and "请输入值。" in zh.text
    # Removing a row drops it from the filter.
    removed = boss.get("/lst/deal?f.0=amount&op.0=gte&v.0=5&f.1=stage&op.1=eq&v.1=new&remove=0")
    assert json.loads(parse_qs(urlparse(removed.headers["location"]).query)["filter"][0]) == {
        "stage": {"eq": "new"}
    }


def test_lists_column_chooser_without_javascript(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    boss = pages("boss1")
    base = "/lst/deal?chooser=1&q=x&order=name&order=amount&order=region&col=name&col=amount"
    moved = boss.get(base + "&move=amount:up")
    assert moved.status_code == 303
    assert moved.headers["location"] == "/lst/deal?q=x&columns=amount%2Cname&open=columns#columns"
    page = boss.get(moved.headers["location"])
    assert re.search(r'<details class="popover columns-chooser" id="columns" open>', page.text)
    headers = re.findall(r'<th scope="col"[^>]*>\s*(?:<a[^>]*>)?([^<]+)', page.text)
    assert [h.strip() for h in headers] == ["Amount", "Name"]
    applied = boss.get(base.replace("&col=amount", ""))
    assert applied.headers["location"] == "/lst/deal?q=x&columns=name"


def test_lists_htmx_gets_the_listing_and_the_canonical_url(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    marker, _ids = add_deals(deals, 3)
    boss = pages("boss1")
    answer = boss.get(
        f"/lst/deal?q={marker}&f.0=amount&op.0=gt&v.0=10", headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200 and "<html" not in answer.text
    assert 'id="list-form"' in answer.text and count_text(answer.text) == "2 records"
    pushed = parse_qs(urlparse(answer.headers["hx-push-url"]).query)
    assert json.loads(pushed["filter"][0]) == {"amount": {"gt": 10}} and pushed["q"] == [marker]
    row = boss.get("/lst/deal/filter-row?i=3&f.3=closed_on", headers={"HX-Request": "true"})
    assert 'type="date"' in row.text and 'value="between"' in row.text
    options = boss.get("/lst/deal/link-options?field=region&q=nor")
    assert options.text.strip() == '<option value="North"></option>'


def test_lists_bulk_delete_is_all_or_none(deals: Live, pages: Callable[..., httpx.Client]) -> None:
    marker, ids = add_deals(deals, 3)
    with deals.client("boss1") as api:
        memo = api.post("/api/v1/lst/memo", json={"text": "keep", "deal": ids[1]}).json()
    boss = pages("boss1")
    form = {"action": "delete", "id": [str(i) for i in ids[:2]], "back": f"/lst/deal?q={marker}"}
    refused = boss.post("/lst/deal/bulk", data=form)
    assert refused.status_code == 422
    assert f"{marker} 01" in refused.text and "memo" in refused.text.lower()
    assert len(names(boss.get(f"/lst/deal?q={marker}").text)) == 3  # nothing was deleted
    with deals.client("boss1") as api:
        assert api.delete(f"/api/v1/lst/memo/{memo['id']}").status_code == 204
    done = boss.post("/lst/deal/bulk", data=form)
    assert done.status_code == 303 and done.headers["location"] == f"/lst/deal?q={marker}"
    page = boss.get(done.headers["location"])
    assert names(page.text) == [f"{marker} 02"] and "Deleted 2 records." in page.text
    # Without the delete permission the action is refused.
    denied = pages("peek1").post("/lst/deal/bulk", data={"action": "delete", "id": [str(ids[2])]})
    assert denied.status_code == 403


def test_lists_bulk_transition_is_all_or_none(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    marker, ids = add_deals(deals, 2)
    with deals.client("boss1") as api:
        api.patch(f"/api/v1/lst/deal/{ids[0]}", json={"amount": 0, "_version": 1})
    boss = pages("boss1")
    form = {"action": "transition", "transition": "close", "id": [str(i) for i in ids]}
    refused = boss.post("/lst/deal/bulk", data=form, headers={"HX-Request": "true"})
    assert refused.status_code == 422 and "<html" not in refused.text
    assert f"{marker} 00" in refused.text and f"{marker} 01" not in refused.text
    listed = boss.get(f"/lst/deal?q={marker}&columns=name,_state").text
    assert listed.count('state-open">Open<') == 2  # neither moved
    with deals.client("boss1") as api:
        api.patch(f"/api/v1/lst/deal/{ids[0]}", json={"amount": 5, "_version": 2})
    done = boss.post("/lst/deal/bulk", data=form, headers={"HX-Request": "true"})
    assert done.status_code == 200 and done.headers["hx-redirect"] == "/lst/deal"
    listed = boss.get(f"/lst/deal?q={marker}&columns=name,_state").text
    assert listed.count('state-closed">Closed<') == 2


def test_lists_saved_views_belong_to_their_user(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    marker, _ids = add_deals(deals, 4, owner="rep1")
    rep = pages("rep1")
    saved = rep.post(
        "/lst/deal/saved-views",
        data={"name": f"Mine {marker}", "q": marker, "sort": "-amount", "columns": "name,amount"},
    )
    assert saved.status_code == 303
    view_url = saved.headers["location"]
    page = rep.get(view_url)
    assert names(page.text) == [f"{marker} 03", f"{marker} 02", f"{marker} 01", f"{marker} 00"]
    assert f"Mine {marker}</option>" in page.text
    other = pages("rep2")
    assert f"Mine {marker}" not in other.get("/lst/deal").text
    assert other.get(view_url).status_code == 404
    view_id = view_url.rsplit("=", 1)[1]
    assert other.post(f"/lst/deal/saved-views/{view_id}/delete").status_code == 404
    assert rep.post("/lst/deal/saved-views", data={"name": "  "}).status_code == 422
    assert rep.post(f"/lst/deal/saved-views/{view_id}/delete").status_code == 303
    assert rep.get(view_url).status_code == 404


def test_lists_xlsx_export_holds_the_filtered_rows(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    marker, _ids = add_deals(deals, 5)
    boss = pages("boss1", "zh-CN")
    filter = json.dumps({"amount": {"gte": 30}})
    answer = boss.get(
        f"/lst/deal/export.xlsx?q={marker}&filter={filter}&sort=amount&columns=name,region,amount"
    )
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(answer.content), read_only=True).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["名称", "区域", "金额"]
    assert rows[1:] == [
        [f"{marker} 02", "North", 30],
        [f"{marker} 03", "South", 40],
        [f"{marker} 04", "North", 50],
    ]


def test_lists_configured_view_keeps_its_filter(
    deals: Live, pages: Callable[..., httpx.Client]
) -> None:
    marker, _ids = add_deals(deals, 3, amount=5)
    with deals.client("boss1") as api:
        api.post("/api/v1/lst/deal", json={"name": f"{marker} big", "amount": 5000})
    boss = pages("boss1")
    page = boss.get(f"/lst/views/big_deals?q={marker}")
    assert page.status_code == 200
    assert names(page.text) == [f"{marker} big"]  # the preset filter always applies
    assert ">Amount" in page.text and "Big deals" in page.text
    everything = boss.get(f"/lst/views/big_deals?q={marker}&filter=")
    assert names(everything.text) == [f"{marker} big"]


def test_lists_line_items_and_unknown_entities_have_no_list(
    pages: Callable[..., httpx.Client],
) -> None:
    boss = pages("boss1")
    assert boss.get("/lst/deal_line").status_code == 404
    assert boss.get("/lst/nothing").status_code == 404
    assert pages("rep1").get("/lst/memo").status_code == 404  # may not read memos
