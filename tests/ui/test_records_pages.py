"""The record page and the generated forms over HTTP (no browser): who sees what, what a save
accepts and refuses, transitions, files, the link lookup."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from tests.server.conftest import Live
from tests.ui.test_tasks import task_of

JINGGONG = "苏州精工五金制品有限公司"
HUAXIN = "深圳华芯电子科技有限公司"


@pytest.fixture
def pages(pages: Callable[..., httpx.Client]) -> Callable[..., httpx.Client]:
    """`pages(user, locale)` whose CSRF header is the session's current token (signing in
    starts a new session with a new token, after the sign-in page's was read)."""

    def open_as(user: str, locale: str = "en") -> httpx.Client:
        client = pages(user, locale)
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
        assert token is not None
        client.headers["X-CSRF-Token"] = token.group(1)
        return client

    return open_as


Pages = Callable[..., httpx.Client]


def api(live: Live, user: str, method: str, path: str, **kw: Any) -> httpx.Response:
    """One API call as `user` (bearer token)."""
    with live.client(user) as client:
        return client.request(method, path, **kw)


def first_id(live: Live, entity: str, where: dict[str, Any], user: str = "admin1") -> int:
    """The id of the first record of `entity` matching `where` (through the API)."""
    answer = api(live, user, "GET", f"/api/v1/srm/{entity}", params={"filter": json.dumps(where)})
    answer.raise_for_status()
    return int(answer.json()["items"][0]["id"])


def new_order(live: Live, supplier: str = JINGGONG, lines: int = 2, **extra: Any) -> dict[str, Any]:
    """A purchase order made by buyer1 through the API, with `lines` lines."""
    material = first_id(live, "material", {"code": "M-1001"})
    body = {
        "supplier": first_id(live, "supplier", {"name": supplier}),
        "order_date": "2026-03-01",
        "lines": [{"material": material, "quantity": 2, "unit_price": "10.5"}] * lines,
        **extra,
    }
    answer = api(live, "buyer1", "POST", "/api/v1/srm/purchase_order", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def released_order(live: Live, **kw: Any) -> dict[str, Any]:
    """`new_order`, submitted by buyer1 and approved by manager1: a supplier sees its orders
    only once approved."""
    order = new_order(live, **kw)
    path = f"/api/v1/srm/purchase_order/{order['id']}"
    moved = api(live, "buyer1", "POST", f"{path}/transitions/submit", json={})
    assert moved.status_code == 200, moved.text
    task = task_of(live, "manager1", order["id"])
    assert api(live, "manager1", "POST", f"/api/v1/tasks/{task}/approve", json={}).is_success
    after = api(live, "buyer1", "GET", path).json()
    assert after["_state"] == "approved", after
    return dict(after)


def test_records_page_shows_fields_lines_related_and_history(ui_live: Live, pages: Pages) -> None:
    order = new_order(ui_live)
    page = pages("buyer1").get(f"/srm/purchase_order/{order['id']}")
    assert page.status_code == 200
    html = page.text
    assert order["number"] in html
    assert JINGGONG in html  # the supplier link shows its title
    assert "CN¥21.00" in html and "CN¥42.00" in html  # line amounts and the total
    assert "Submit for approval" in html and "History" in html
    supplier = first_id(ui_live, "supplier", {"name": JINGGONG})
    related = pages("buyer1").get(f"/srm/supplier/{supplier}").text
    assert order["number"] in related  # the supplier lists its purchase orders
    assert "Supplier contact" in related and "Qualification" in related
    link = re.search(r'href="(/srm/purchase_order\?filter=[^"]+)"', related)
    assert link is not None
    assert json.loads(httpx.URL(link.group(1).replace("&amp;", "&")).params["filter"]) == {
        "supplier": supplier
    }
    new = f"/srm/purchase_order/new?supplier={supplier}"
    assert f'href="{new}"' in related  # a new order for this supplier, the link chosen
    form = pages("buyer1").get(new).text
    assert f'name="supplier" value="{supplier}"' in form and f'value="{JINGGONG}"' in form


def test_records_hidden_fields_are_absent_from_the_page_and_the_form(
    ui_live: Live, pages: Pages
) -> None:
    order = released_order(ui_live, notes="internal note: squeeze the price")
    quality = pages("quality1").get(f"/srm/purchase_order/{order['id']}").text
    assert order["number"] in quality
    # quality engineers do not see prices: neither fields, line columns, totals nor history
    assert "Unit price" not in quality and "CN¥" not in quality and "Approved total" not in quality
    portal = pages("jinggong")
    page = portal.get(f"/srm/purchase_order/{order['id']}").text
    assert "squeeze the price" not in page and "Supplier risk" not in page
    form = portal.get(f"/srm/purchase_order/{order['id']}/edit")
    assert form.status_code == 200
    assert 'name="notes"' not in form.text and "squeeze the price" not in form.text
    assert "Supplier risk" not in form.text
    assert 'name="supplier"' not in form.text  # read-only for the portal: shown, not an input
    assert 'name="supplier_confirmed"' in form.text


def test_records_forged_fields_are_refused_and_nothing_changes(ui_live: Live, pages: Pages) -> None:
    order = new_order(ui_live)
    url = f"/srm/purchase_order/{order['id']}/edit"
    form = {
        "_version": str(order["_version"]),
        "supplier": str(order["supplier"]),
        "order_date": "2026-03-02",
        "currency": "CNY",
        "approved_total": "1",  # read-only for buyers
    }
    answer = pages("buyer1").post(url, data=form)
    assert answer.status_code == 422
    assert "These fields cannot be changed here: approved_total" in answer.text
    assert 'value="2026-03-02"' in answer.text  # what was typed is still there
    after = api(ui_live, "admin1", "GET", f"/api/v1/srm/purchase_order/{order['id']}").json()
    assert after["_version"] == order["_version"] and after["order_date"] == "2026-03-01"
    # The supplier may confirm its approved order, not write the buyer's notes.
    released = released_order(ui_live)
    url = f"/srm/purchase_order/{released['id']}/edit"
    portal = pages("jinggong").post(url, data={"_version": str(released["_version"]), "notes": "x"})
    assert portal.status_code == 422 and "notes" in portal.text
    after = api(ui_live, "admin1", "GET", f"/api/v1/srm/purchase_order/{released['id']}").json()
    assert after["_version"] == released["_version"] and not after.get("notes")


def test_records_outside_the_record_rule_is_404_everywhere(ui_live: Live, pages: Pages) -> None:
    order = released_order(ui_live, supplier=JINGGONG)
    buyer = pages("buyer1")
    upload = buyer.post(
        f"/srm/purchase_order/{order['id']}/files",
        files={"file": ("spec.txt", b"drawing rev B", "text/plain")},
    )
    assert upload.status_code == 303
    key = re.search(r'href="/files/([^"]+)"', buyer.get(f"/srm/purchase_order/{order['id']}").text)
    assert key is not None
    other = pages("huaxin")
    for path in (
        f"/srm/purchase_order/{order['id']}",
        f"/srm/purchase_order/{order['id']}/edit",
        f"/files/{key.group(1)}",
        "/srm/purchase_order/lookup/supplier?q=",  # read-only for a portal user
    ):
        assert other.get(path).status_code == 404, path
    mine = pages("jinggong").get(f"/files/{key.group(1)}")
    assert mine.status_code == 200 and mine.content == b"drawing rev B"
    assert mine.headers["content-disposition"].startswith("attachment")


def test_records_lookup_searches_only_what_the_caller_may_read(pages: Pages) -> None:
    portal = pages("jinggong").get("/srm/supplier_contact/lookup/supplier", params={"q": ""})
    assert portal.status_code == 200
    assert JINGGONG in portal.text and HUAXIN not in portal.text
    buyer = pages("buyer1").get(
        "/srm/purchase_order/lookup/supplier", params={"supplier__label": "华芯"}
    )
    assert HUAXIN in buyer.text and JINGGONG not in buyer.text
    lines = pages("buyer1").get("/srm/purchase_order/lookup/lines.material", params={"q": "M-1003"})
    assert "M-1003" in lines.text and "M-1001" not in lines.text
    assert pages("buyer1").get("/srm/purchase_order/lookup/notes").status_code == 404


def test_records_missing_csrf_token_is_refused(ui_live: Live, pages: Pages) -> None:
    client = pages("buyer1")
    del client.headers["X-CSRF-Token"]
    answer = client.post("/srm/purchase_order/new", data={"order_date": "2026-01-01"})
    assert answer.status_code == 403
    order = new_order(ui_live)
    refused = client.post(f"/srm/purchase_order/{order['id']}/transitions/submit")
    assert refused.status_code == 403


def test_records_refused_save_keeps_every_value_and_says_why(ui_live: Live, pages: Pages) -> None:
    supplier = first_id(ui_live, "supplier", {"name": JINGGONG})
    material = first_id(ui_live, "material", {"code": "M-1001"})
    form = {
        "supplier": str(supplier),
        "supplier__label": JINGGONG,
        "order_date": "2026-05-01",
        "expected_date": "2026-04-01",  # before the order: an entity rule says no
        "currency": "USD",
        "notes": "call before delivery",
        "lines-0-material": str(material),
        "lines-0-material__label": "M-1001",
        "lines-0-quantity": "1,500",
        "lines-0-unit_price": "2.5",
        "lines-3-material": "",
        "lines-3-quantity": "abc",
        "lines-3-unit_price": "",
    }
    answer = pages("buyer1", "zh-CN").post("/srm/purchase_order/new", data=form)
    assert answer.status_code == 422
    html = answer.text
    assert "预计到货日期不能早于下单日期" in html
    assert 'id="e-expected_date"' in html and 'aria-invalid="true"' in html
    assert "请输入数字" in html  # the line's quantity
    for value in ("2026-05-01", "2026-04-01", "call before delivery", "1,500", "abc"):
        assert value in html, value
    assert 'name="lines-3-quantity" value="abc"' in html
    assert "US$3,750.00" in html  # computed by the engine for the re-shown form


def test_records_save_creates_and_redirects_with_a_flash(ui_live: Live, pages: Pages) -> None:
    client = pages("buyer1")
    supplier = first_id(ui_live, "supplier", {"name": JINGGONG})
    material = first_id(ui_live, "material", {"code": "M-1003"})
    form = {
        "supplier": str(supplier),
        "order_date": "2026-05-01",
        "currency": "CNY",
        "lines-0-material": str(material),
        "lines-0-quantity": "4",
        "lines-0-unit_price": "0.5",
    }
    answer = client.post("/srm/purchase_order/new", data=form)
    assert answer.status_code == 303, answer.text
    page = client.get(answer.headers["location"])
    assert "Saved." in page.text and "M-1003" in page.text and "CN¥2.00" in page.text


def test_records_version_conflict_keeps_the_input(ui_live: Live, pages: Pages) -> None:
    order = new_order(ui_live)
    client = pages("buyer1")
    changed = api(
        ui_live, "buyer1", "PATCH", f"/api/v1/srm/purchase_order/{order['id']}",
        json={"notes": "changed elsewhere", "_version": order["_version"]},
    )  # fmt: skip
    assert changed.status_code == 200
    form = {
        "_version": str(order["_version"]),
        "supplier": str(order["supplier"]),
        "order_date": "2026-03-01",
        "currency": "CNY",
        "notes": "my own note",
    }
    answer = client.post(f"/srm/purchase_order/{order['id']}/edit", data=form)
    assert answer.status_code == 409
    assert "Someone else changed this record" in answer.text and "my own note" in answer.text
    again = client.post(
        f"/srm/purchase_order/{order['id']}/edit",
        data={**form, "_version": str(changed.json()["_version"])},
    )
    assert again.status_code == 303


def test_records_preview_computes_without_saving(ui_live: Live, pages: Pages) -> None:
    material = first_id(ui_live, "material", {"code": "M-1001"})
    count = {"count": "true"}
    before = api(ui_live, "admin1", "GET", "/api/v1/srm/purchase_order", params=count)
    form = {
        "currency": "CNY",
        "lines-0-material": str(material),
        "lines-0-quantity": "3",
        "lines-0-unit_price": "1,000",
        "lines-5-quantity": "2",
        "lines-5-unit_price": "0.25",
    }
    answer = pages("buyer1").post("/srm/purchase_order/preview", data=form)
    assert answer.status_code == 200
    assert re.search(r'id="o-lines-0-amount"[^>]*>CN¥3,000.00<', answer.text)
    assert re.search(r'id="o-lines-5-amount"[^>]*>CN¥0.50<', answer.text)
    assert re.search(r'id="o-foot-total"[^>]*>CN¥3,000.50<', answer.text)
    after = api(ui_live, "admin1", "GET", "/api/v1/srm/purchase_order", params=count)
    assert after.json()["total"] == before.json()["total"]


def test_records_refused_transition_says_why(ui_live: Live, pages: Pages) -> None:
    order = new_order(ui_live, lines=0)  # total 0: `submit` needs total > 0
    page = pages("buyer1").get(f"/srm/purchase_order/{order['id']}").text
    assert "Needs: total &gt; 0" in page
    answer = pages("buyer1").post(
        f"/srm/purchase_order/{order['id']}/transitions/submit",
        data={"_version": str(order["_version"])},
    )
    assert answer.status_code == 409
    assert "This step cannot run yet" in answer.text
    cancel = pages("buyer1").post(f"/srm/purchase_order/{order['id']}/transitions/cancel")
    assert cancel.status_code == 422 and "Write a comment saying why." in cancel.text


def test_records_delete_restricted_is_shown_clearly(ui_live: Live, pages: Pages) -> None:
    supplier = first_id(ui_live, "supplier", {"name": JINGGONG})
    answer = pages("manager1").post(f"/srm/supplier/{supplier}/delete")
    assert answer.status_code == 409
    assert "This record cannot be deleted" in answer.text and "Purchase order" in answer.text
    assert pages("buyer1").post(f"/srm/supplier/{supplier}/delete").status_code == 403
    contact = api(ui_live, "manager1", "POST", "/api/v1/srm/supplier_contact",
                  json={"supplier": supplier, "name": "Temp Contact"}).json()  # fmt: skip
    manager = pages("manager1")
    deleted = manager.post(f"/srm/supplier_contact/{contact['id']}/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/srm/supplier_contact"
    assert manager.get(f"/srm/supplier_contact/{contact['id']}").status_code == 404


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_records_pages_speak_the_users_language(ui_live: Live, pages: Pages, locale: str) -> None:
    order = new_order(ui_live)
    page = pages("buyer1", locale).get(f"/srm/purchase_order/{order['id']}").text
    form = pages("buyer1", locale).get(f"/srm/purchase_order/{order['id']}/edit").text
    if locale == "zh-CN":
        assert "历史记录" in page and "附件" in page and "提交审批" in page
        assert "添加一行" in form and "保存" in form and "订单明细" in form
    else:
        assert "History" in page and "Attachments" in page
        assert "Add line" in form and "Save" in form


def test_records_file_field_upload_is_kept_and_guarded(ui_live: Live, pages: Pages) -> None:
    portal = pages("jinggong")
    mine = first_id(ui_live, "supplier", {"name": JINGGONG})
    form = {"supplier": str(mine), "kind": "iso9001", "certificate_no": ""}  # number missing
    upload = {"file__file": ("iso.pdf", b"%PDF-1.4 certificate", "application/pdf")}
    refused = portal.post("/srm/qualification/new", data=form, files=upload)
    assert refused.status_code == 422
    key = re.search(r'name="file" value="([^"]+)"', refused.text)
    assert key is not None and "iso.pdf" in refused.text  # the chosen file is kept
    saved = portal.post(
        "/srm/qualification/new", data={**form, "certificate_no": "QC-1", "file": key.group(1)}
    )
    assert saved.status_code == 303, saved.text
    page = portal.get(saved.headers["location"]).text
    assert f'href="/files/{key.group(1)}"' in page
    assert pages("buyer1").get(f"/files/{key.group(1)}").content == b"%PDF-1.4 certificate"
    assert pages("huaxin").get(f"/files/{key.group(1)}").status_code == 404


def test_records_portal_user_cannot_save_outside_their_rule(ui_live: Live, pages: Pages) -> None:
    other = first_id(ui_live, "supplier", {"name": HUAXIN})
    form = {"supplier": str(other), "kind": "iso9001", "certificate_no": "QC-2"}
    answer = pages("jinggong").post("/srm/qualification/new", data=form)
    assert answer.status_code == 422
    assert "You could not see the record after this change" in answer.text
    found = api(ui_live, "admin1", "GET", "/api/v1/srm/qualification",
                params={"filter": json.dumps({"certificate_no": "QC-2"})})  # fmt: skip
    assert found.json()["items"] == []


class _Controls(HTMLParser):
    """The inputs of a page's record form, and what names them."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str]] = []
        self.label_for: set[str] = set()
        self.ids: set[str] = set()
        self.in_form = False
        self.in_template = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form" and "data-record-form" in found:
            self.in_form = True
        if tag == "template":
            self.in_template += 1
        if "id" in found:
            self.ids.add(found["id"])
        if tag == "label" and "for" in found:
            self.label_for.add(found["for"])
        visible = found.get("type") != "hidden" and not self.in_template
        if tag in ("input", "select", "textarea") and self.in_form and visible:
            self.inputs.append(found)

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self.in_template -= 1
        if tag == "form":
            self.in_form = False


def test_records_form_inputs_are_named_and_labelled(ui_live: Live, pages: Pages) -> None:
    order = new_order(ui_live)
    catalog = ui_live.runtime.current().catalog
    fields = {
        *catalog.entity("srm.purchase_order").fields,
        *catalog.entity("srm.purchase_order_line").fields,
    }
    for path in ("/srm/purchase_order/new", f"/srm/purchase_order/{order['id']}/edit"):
        parser = _Controls()
        parser.feed(pages("buyer1").get(path).text)
        assert len(parser.inputs) > 10
        for control in parser.inputs:
            labels = control.get("aria-labelledby", "").split()
            assert control.get("id") in parser.label_for or labels, control
            assert all(ref in parser.ids for ref in labels), control
            name = control.get("name", "")
            if name:  # named after its field (a line's input after the line's field)
                base = name.split("-")[-1].removesuffix("__label").removesuffix("__file")
                assert base in fields, name
