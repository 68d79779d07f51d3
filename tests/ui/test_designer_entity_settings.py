"""The entity designer's own settings (label in both languages, title field, description) and
Delete entity: who may use them, CSRF, refusals that keep what was typed and leave the draft
as it was, a deletion refused while other entities link to it, and the publish plan's
data-loss confirmation afterwards. In Chromium: SRM's bill of materials relabelled and
retitled by admin1, seen in the end user's menu and on a record page, in en and zh-CN.

The page tests work on apps of their own; the browser test changes SRM's `bom` and puts it
back at the end, so the shared server's SRM stays as the other tests expect it."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from appblocks.engine import drafts
from appblocks.engine.db import reading
from appblocks.engine.layers import read_layer
from appblocks.engine.users import create_user
from appblocks.server.pages_designer_common import find_draft
from tests.server.conftest import PASSWORD, Live
from tests.ui.conftest import SCREENS, shot
from tests.ui.test_designer_pages import add_field, new_app, publish, signed

DESIGNER = "kai.designer"


@pytest.fixture(scope="module")
def designer(ui_live: Live) -> str:
    """A user with the platform role `designer` (and no other)."""
    with ui_live.engine.begin() as conn:
        create_user(conn, DESIGNER, password=PASSWORD, roles=["designer"])
    return DESIGNER


@pytest.fixture
def as_user(ui_live: Live) -> Iterator[Callable[..., httpx.Client]]:
    """`as_user(name, locale="en")`: a signed-in page client sending the CSRF token."""
    made: list[httpx.Client] = []

    def open_as(name: str, locale: str = "en") -> httpx.Client:
        made.append(signed(ui_live, name, locale))
        return made[-1]

    yield open_as
    for client in made:
        client.close()


def draft_entity(live: Live, user: str, app: str, entity: str) -> object:
    """An entity document of the user's open draft of `app` (None when it has none)."""
    with reading(live.engine) as conn:
        draft = find_draft(conn, app, user)
        assert draft is not None
        return draft.document("entity", entity)


SETTINGS = {
    "label_en": "Job",
    "label_zh": "作业",
    "title": "code",
    "description_en": "Work to do",
    "description_zh": "待办工作",
}


def test_entity_settings_pages_are_only_for_designers(
    ui_live: Live, as_user: Callable[..., httpx.Client]
) -> None:
    buyer = as_user("buyer1")
    assert buyer.get("/designer/srm/entities/bom/settings").status_code == 404
    assert buyer.get("/designer/srm/entities/bom?delete=1").status_code == 404
    assert buyer.post("/designer/srm/entities/bom/settings", data=SETTINGS).status_code == 404
    assert buyer.post("/designer/srm/entities/bom/delete").status_code == 404
    with reading(ui_live.engine) as conn:
        assert find_draft(conn, "srm", "buyer1") is None


def test_entity_settings_posts_refuse_a_missing_csrf_token(
    ui_live: Live, as_user: Callable[..., httpx.Client], designer: str
) -> None:
    client = as_user(designer)
    del client.headers["X-CSRF-Token"]
    assert client.post("/designer/srm/entities/bom/settings", data=SETTINGS).status_code == 403
    assert client.post("/designer/srm/entities/bom/delete").status_code == 403
    with reading(ui_live.engine) as conn:
        assert find_draft(conn, "srm", designer) is None


def test_entity_settings_change_label_title_and_description(
    ui_live: Live, as_user: Callable[..., httpx.Client], designer: str
) -> None:
    client = as_user(designer)
    new_app(client, "settings_app")
    add_field(client, "settings_app", "item", type="text", name="code", label_en="Code")
    add_field(client, "settings_app", "item", type="boolean", name="done", label_en="Done")
    page = client.get("/designer/settings_app/entities/item").text
    assert 'id="entity-settings"' in page
    titles = re.findall(r'<option value="(\w+)"[^>]*>[^<]*</option>', page.split('id="e-title"')[1])
    assert titles[:2] == ["name", "code"] and "done" not in titles  # only short text names

    saved = client.post("/designer/settings_app/entities/item/settings", data=SETTINGS)
    assert saved.status_code == 303, saved.text
    doc = draft_entity(ui_live, designer, "settings_app", "item")
    assert isinstance(doc, dict)
    assert doc["label"] == {"en": "Job", "zh-CN": "作业"} and doc["title"] == "code"
    assert doc["description"] == {"en": "Work to do", "zh-CN": "待办工作"}
    page = client.get(saved.headers["location"]).text
    assert "Entity settings saved in your draft." in page
    assert re.search(r'<h1 id="entity-heading">Job\b', page)
    assert "Work to do" in client.get("/designer/settings_app/entities").text
    assert "待办工作" in as_user(designer, "zh-CN").get("/designer/settings_app/entities").text

    # Refused, in place, with what was typed: no name in either language; a title that is no
    # text field. The draft stays as it was.
    before = draft_entity(ui_live, designer, "settings_app", "item")
    nameless = {**SETTINGS, "label_en": "", "label_zh": "", "description_en": "Typed text"}
    answer = client.post("/designer/settings_app/entities/item/settings", data=nameless,
                         headers={"HX-Request": "true"})  # fmt: skip
    assert answer.status_code == 422
    assert "Give the entity a name in at least one language" in answer.text
    assert ">Typed text</textarea>" in answer.text and 'id="entity-work"' in answer.text
    wrong = client.post("/designer/settings_app/entities/item/settings",
                        data={**SETTINGS, "title": "done"})  # fmt: skip
    assert wrong.status_code == 422
    assert "Choose one of the entity&#39;s text fields to name its records" in wrong.text
    chinese = as_user(designer, "zh-CN")
    answer = chinese.post("/designer/settings_app/entities/item/settings", data=nameless)
    assert answer.status_code == 422 and "请至少用一种语言填写实体名称" in answer.text
    assert draft_entity(ui_live, designer, "settings_app", "item") == before


def test_entity_delete_is_refused_while_another_entity_links_to_it(
    ui_live: Live, as_user: Callable[..., httpx.Client], designer: str
) -> None:
    client = as_user(designer)
    new_app(client, "linked_app")
    made = client.post("/designer/linked_app/entities", data={"name": "tag", "label_en": "Tag"})
    assert made.status_code == 303
    linked = add_field(client, "linked_app", "tag", type="link", name="item", to="item",
                       label_en="Tagged item")  # fmt: skip
    assert linked.status_code == 303, linked.text

    dialog = client.get("/designer/linked_app/entities/item?delete=1").text
    assert 'data-open="true"' in dialog and "Tag › Tagged item" in dialog
    assert 'id="confirm-delete-entity"' not in dialog  # nothing to confirm: it cannot go
    refused = client.post("/designer/linked_app/entities/item/delete")
    assert refused.status_code == 422
    assert (
        "“Item” cannot be deleted while other entities link to it: Tag › Tagged item"
        in refused.text
    )
    chinese = as_user(designer, "zh-CN").post("/designer/linked_app/entities/item/delete")
    assert chinese.status_code == 422 and "仍有其他实体关联到“Item”" in chinese.text
    assert draft_entity(ui_live, designer, "linked_app", "item") is not None

    # The entity that links can go, and Undo brings it back.
    page = client.get("/designer/linked_app/entities/tag?delete=1").text
    assert "nothing else: no form, view, workflow or permission uses it" in page
    assert 'id="confirm-delete-entity"' in page
    gone = client.post("/designer/linked_app/entities/tag/delete")
    assert gone.status_code == 303 and gone.headers["location"] == "/designer/linked_app/entities"
    assert "“Tag” is deleted in your draft" in client.get(gone.headers["location"]).text
    with reading(ui_live.engine) as conn:
        draft = find_draft(conn, "linked_app", designer)
        assert draft is not None
        assert draft.document("entity", "tag") is None
        assert draft.undo_label == "Delete entity “Tag”"
    client.post("/designer/linked_app/draft/undo", data={"next": "/designer/linked_app"})
    assert draft_entity(ui_live, designer, "linked_app", "tag") is not None


def test_entity_delete_then_the_plan_asks_to_confirm_the_data_loss(
    ui_live: Live, as_user: Callable[..., httpx.Client], designer: str
) -> None:
    client = as_user(designer)
    new_app(client, "drop_app")
    client.post("/designer/drop_app/entities", data={"name": "box", "label_en": "Box"})
    assert publish(client, "drop_app").status_code == 303
    with httpx.Client(base_url=ui_live.url) as rest:
        token = rest.post("/api/v1/auth/token", data={"username": "admin1", "password": PASSWORD})
        rest.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        assert rest.post("/api/v1/drop_app/box", json={"name": "Crate"}).status_code == 201

    assert client.post("/designer/drop_app/entities/box/delete").status_code == 303
    plan = client.get("/designer/drop_app/publish").text
    assert 'name="confirm_data_loss"' in plan and "Box" in plan
    assert publish(client, "drop_app").status_code == 422
    assert "drop_app.box" in ui_live.runtime.current().catalog.specs.entities
    done = publish(client, "drop_app", confirm_data_loss="yes")
    assert done.status_code == 303
    assert "drop_app.box" not in ui_live.runtime.current().catalog.specs.entities


def test_shipped_view_is_deleted_in_the_designer_and_the_plan_takes_it(
    ui_live: Live, as_user: Callable[..., httpx.Client], designer: str
) -> None:
    client = as_user(designer)
    try:
        gone = client.post("/designer/srm/views/open_pos/delete")
        assert gone.status_code == 303, gone.text
        with reading(ui_live.engine) as conn:
            draft = find_draft(conn, "srm", designer)
            assert draft is not None and draft.document("view", "open_pos") is None
        plan = client.get("/designer/srm/publish").text
        assert "View “Open purchase orders” is deleted" in plan
        assert re.search(r'<button type="submit" id="publish"\s*>', plan), "nothing stops it"
    finally:
        client.post("/designer/srm/draft/discard", data={"next": "/designer/srm"})
    assert "open_pos" in ui_live.runtime.current().catalog.blueprints["srm"]["views"]


# --- in the browser: SRM's bill of materials ------------------------------------------------


def _put_bom_back(live: Live) -> None:
    """Discard admin1's drafts of SRM and publish `bom` as it shipped (if it changed)."""
    with live.engine.begin() as conn:
        for draft in drafts.list_drafts(conn, "srm"):
            if draft.actor == "admin1":
                drafts.discard(conn, draft.id)
        shipped = next(d.body for d in read_layer(conn, "srm", "base") if d.name == "bom")
        draft = drafts.open_draft(conn, "srm", actor="cleanup")
        draft = drafts.replace(conn, draft.id, "entity", "bom", copy.deepcopy(shipped))
    if draft.changed():
        drafts.publish(live.engine, draft.id, note="test: bom as shipped")
    else:
        with live.engine.begin() as conn:
            drafts.discard(conn, draft.id)
    live.runtime.reload()


def screen(page: Page, name: str) -> None:
    """A screenshot of what the window shows (a modal dialog over the page)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"))


def _first_bom(live: Live) -> int:
    table = live.runtime.current().catalog.table("srm.bom")
    with reading(live.engine) as conn:
        return int(
            conn.execute(sa.select(table.c.id).where(table.c.product_code == "P-1001")).scalar_one()
        )


def test_entity_settings_relabel_and_retitle_srm_bom_in_the_browser(
    ui_live: Live, signed_in: Callable[..., Page]
) -> None:
    try:
        page = signed_in("admin1", "en")
        page.goto("/designer/srm/entities/bom")
        expect(page.locator("#panel-title")).to_have_text("Entity settings")
        # A refusal first: it shows in place, and what was typed stays.
        page.fill("#e-label-en", "")
        page.fill("#e-label-zh", "")
        page.fill("#e-description-en", "How a product is built")
        page.click("#save-entity-settings")
        expect(page.locator("#e-err-label")).to_contain_text("Give the entity a name")
        expect(page.locator("#e-description-en")).to_have_value("How a product is built")
        expect(page.locator("#draft-bar")).to_contain_text("No unpublished changes")

        page.fill("#e-label-en", "Product structure")
        page.fill("#e-label-zh", "产品结构")
        page.select_option("#e-title", "product_code")
        page.click("#save-entity-settings")
        expect(page.locator(".flash.success")).to_contain_text("Entity settings saved")
        expect(page.locator("#entity-heading")).to_contain_text("Product structure")
        expect(page.locator("#field-list [data-name='product_code'] .badges")).to_contain_text(
            "title"
        )
        shot(page, "designer-entity-settings-en")

        # Delete entity asks first and says what goes with it (not confirmed here).
        page.click("#delete-entity")
        dialog = page.locator("#delete-entity-dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("its line items “BOM line” (their records too)")
        expect(dialog).to_contain_text("its table and every record in it are deleted")
        screen(page, "designer-entity-delete-dialog-en")
        page.click("#delete-entity-dialog [data-close-dialog]")
        expect(dialog).to_be_hidden()

        page.click("#plan-publish")
        page.click("#publish")
        expect(page.locator(".flash.success")).to_be_visible()

        # The end user's menu and the record page show the new label and title.
        page.goto("/srm")
        expect(page.locator("#sidenav")).to_contain_text("Product structure")
        record = _first_bom(ui_live)
        page.goto(f"/srm/bom/{record}")
        expect(page.locator("h1")).to_contain_text("P-1001")
        shot(page, "designer-entity-settings-record-en")

        chinese = signed_in("admin1", "zh-CN")
        chinese.goto("/srm")
        expect(chinese.locator("#sidenav")).to_contain_text("产品结构")
        chinese.goto(f"/srm/bom/{record}")
        expect(chinese.locator("h1")).to_contain_text("P-1001")
        shot(chinese, "designer-entity-settings-record-zh")

        # zh-CN: the settings panel, then a field deleted: the plan asks to confirm the loss.
        chinese.goto("/designer/srm/entities/bom")
        expect(chinese.locator("#panel-title")).to_have_text("实体设置")
        shot(chinese, "designer-entity-settings-zh")
        chinese.goto("/designer/srm/entities/bom?field=active")
        chinese.once("dialog", lambda box: box.accept())
        chinese.click(".delete-field button")
        expect(chinese.locator("#field-list [data-name='active']")).to_have_count(0)
        chinese.click("#plan-publish")
        expect(chinese.locator(".plan-steps .loss")).to_be_visible()
        expect(chinese.locator(".loss-warning")).to_contain_text("我了解这些已存储的数据将被删除")
        shot(chinese, "designer-entity-field-deleted-plan-zh")

        # A deletion that links stop: the dialog names them and offers no Delete button.
        chinese.goto("/designer/srm/entities/supplier")
        chinese.click("#delete-entity")
        box = chinese.locator("#delete-entity-dialog")
        expect(box).to_be_visible()
        expect(box).to_contain_text("仍有其他实体关联到它")
        expect(box.locator("#removal-links")).to_contain_text("采购订单 › 供应商")
        expect(chinese.locator("#confirm-delete-entity")).to_have_count(0)
        screen(chinese, "designer-entity-delete-refused-zh")

        # On a phone: the settings sit under the field list, the dialog fits the screen.
        phone = signed_in("admin1", "en", phone=True)
        phone.goto("/designer/srm/entities/contract_template")
        expect(phone.locator("#entity-settings")).to_be_visible()
        shot(phone, "designer-entity-settings-phone-en")
        phone.click("#delete-entity")
        expect(phone.locator("#delete-entity-dialog [data-close-dialog]")).to_be_in_viewport()
        screen(phone, "designer-entity-delete-dialog-phone-en")
    finally:
        _put_bom_back(ui_live)
    assert ui_live.runtime.current().catalog.entity("srm.bom").title == "name"
