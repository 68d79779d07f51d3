"""The designer's pages without a browser: who may open them, CSRF, the engine's messages on a
bad edit, undo and redo, the formula preview, a publish that loses data, versions and restore.

Each test works on an app of its own (or its own draft), made by a designer user of this
module, so the shared server's SRM and CRM stay as the other tests expect them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from appblocks.engine.db import reading
from appblocks.engine.users import create_user
from appblocks.server.pages_designer_common import find_draft
from tests.server.conftest import PASSWORD, Live
from tests.ui.conftest import page_session

DESIGNER = "ana.designer"


@pytest.fixture(scope="module")
def designer(ui_live: Live) -> str:
    """A user with the platform role `designer` (and no other)."""
    with ui_live.engine.begin() as conn:
        create_user(conn, DESIGNER, password=PASSWORD, roles=["designer"])
    return DESIGNER


def signed(live: Live, user: str, locale: str = "en") -> httpx.Client:
    """A page session sending the CSRF token of the signed-in session (signing in starts a
    new session, with a new token)."""
    client = page_session(live, user, locale)
    page = client.get("/").text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token, page
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


@pytest.fixture
def as_user(ui_live: Live) -> Iterator[Callable[..., httpx.Client]]:
    """`as_user(name, locale="en")`: a signed-in page client (closed after the test)."""
    made: list[httpx.Client] = []

    def open_as(name: str, locale: str = "en") -> httpx.Client:
        made.append(signed(ui_live, name, locale))
        return made[-1]

    yield open_as
    for client in made:
        client.close()


def new_app(client: httpx.Client, app: str, entity: str = "item") -> None:
    """A draft of a new app with one entity (its Name field)."""
    made = client.post("/designer/apps", data={"name": app, "label_en": app.title()})
    assert made.status_code == 303, made.text
    made = client.post(f"/designer/{app}/entities", data={"name": entity, "label_en": "Item"})
    assert made.status_code == 303, made.text


def add_field(client: httpx.Client, app: str, entity: str, **values: str) -> httpx.Response:
    """Save the side panel of a new field."""
    return client.post(f"/designer/{app}/entities/{entity}/fields", data={"original": "", **values})


def publish(client: httpx.Client, app: str, **values: str) -> httpx.Response:
    """Open the plan page and press Publish."""
    plan = client.get(f"/designer/{app}/publish")
    draft = re.search(r'name="draft" value="(\d+)"', plan.text)
    assert draft, plan.text
    return client.post(f"/designer/{app}/publish", data={"draft": draft.group(1), **values})


def test_designer_pages_are_only_for_admins_and_designers(
    ui_live: Live, as_user: Callable[..., httpx.Client], designer: str
) -> None:
    buyer = as_user("buyer1")
    for path in ("/designer", "/designer/srm", "/designer/srm/entities/purchase_order",
                 "/designer/srm/relations", "/designer/srm/forms/purchase_order"):  # fmt: skip
        assert buyer.get(path).status_code == 404, path
    assert buyer.post("/designer/apps", data={"name": "sneaky"}).status_code == 404
    with httpx.Client(base_url=ui_live.url) as anonymous:
        answer = anonymous.get("/designer/srm")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/designer/srm"
    assert as_user(designer).get("/designer").status_code == 200
    assert as_user("admin1").get("/designer/srm/entities").status_code == 200


def test_designer_pages_refuse_a_post_without_the_csrf_token(
    ui_live: Live, as_user: Callable[..., httpx.Client], designer: str
) -> None:
    client = as_user(designer)
    del client.headers["X-CSRF-Token"]
    answer = client.post("/designer/apps", data={"name": "forged_app", "label_en": "Forged"})
    assert answer.status_code == 403
    with reading(ui_live.engine) as conn:
        assert find_draft(conn, "forged_app", designer) is None


def test_designer_pages_bad_field_name_shows_the_engines_message(
    ui_live: Live, as_user: Callable[..., httpx.Client], designer: str
) -> None:
    client = as_user(designer)
    taken = client.post("/designer/apps", data={"name": "srm", "label_en": "Mine"})
    assert taken.status_code == 422 and "An app called “srm” exists already" in taken.text
    bad = client.post("/designer/apps", data={"name": "2fast", "label_en": "Fast"})
    assert bad.status_code == 422 and "is not a valid name" in bad.text
    new_app(client, "naming_app")
    answer = add_field(client, "naming_app", "item", type="text", name="Bad Name",
                       label_en="Weight")  # fmt: skip
    assert answer.status_code == 422
    assert "is not a valid name: use lower-case letters" in answer.text
    assert 'value="Weight"' in answer.text, "what was typed stays"
    keyword = add_field(client, "naming_app", "item", type="text", name="select")
    assert keyword.status_code == 422 and "reserved word of SQL" in keyword.text
    chinese = as_user(designer, "zh-CN")
    answer = add_field(chinese, "naming_app", "item", type="text", name="_secret")
    assert answer.status_code == 422 and "系统字段保留" in answer.text
    # An edit the engine's validation refuses: a lookup through a link that is not there.
    lookup = add_field(client, "naming_app", "item", type="lookup", name="via_nothing",
                       via="ghost", lookup_field="name")  # fmt: skip
    assert lookup.status_code == 422
    assert "The change was not made" in lookup.text
    with reading(ui_live.engine) as conn:
        draft = find_draft(conn, "naming_app", designer)
        assert draft is not None
        assert list(draft.document("entity", "item")["fields"]) == ["name"]


def test_designer_pages_undo_and_redo_a_draft_edit(
    ui_live: Live, as_user: Callable[..., httpx.Client], designer: str
) -> None:
    client = as_user(designer)
    new_app(client, "undo_app")
    added = add_field(client, "undo_app", "item", type="integer", name="stock", label_en="Stock")
    assert added.status_code == 303
    page = client.get("/designer/undo_app/entities/item").text
    assert 'data-name="stock"' in page and "3 unpublished changes" in page
    assert re.search(r'id="redo" disabled', page)
    back = client.post(
        "/designer/undo_app/draft/undo", data={"next": "/designer/undo_app/entities/item"}
    )
    assert (
        back.status_code == 303 and back.headers["location"] == "/designer/undo_app/entities/item"
    )
    page = client.get("/designer/undo_app/entities/item").text
    assert 'data-name="stock"' not in page and "2 unpublished changes" in page
    assert not re.search(r'id="redo" disabled', page)
    client.post("/designer/undo_app/draft/redo", data={"next": "/designer/undo_app/entities/item"})
    page = client.get("/designer/undo_app/entities/item").text
    assert 'data-name="stock"' in page
    # The keyboard's way to reorder: the field's up button, one edit more.
    moved = client.post("/designer/undo_app/entities/item/fields/stock/move", data={"step": "-1"})
    assert moved.status_code == 303
    page = client.get("/designer/undo_app/entities/item").text
    assert page.index('data-name="stock"') < page.index('data-name="name"')
    assert "4 unpublished changes" in page
    with reading(ui_live.engine) as conn:
        draft = find_draft(conn, "undo_app", designer)
        assert draft is not None and draft.can_undo and not draft.can_redo
        assert list(draft.document("entity", "item")["fields"]) == ["stock", "name"]


def test_designer_pages_formula_preview_evaluates_in_the_sandbox(
    as_user: Callable[..., httpx.Client],
) -> None:
    client = as_user("admin1")
    url = "/designer/srm/entities/purchase_order_line/formula"
    typed = client.post(url, data={"formula": "quantity * unit_price", "sample__quantity": "3",
                                   "sample__unit_price": "2.5"})  # fmt: skip
    assert typed.status_code == 200
    assert re.search(r'<output id="formula-value">7\.5</output>', typed.text)
    sample = client.post(url, data={"formula": "quantity * 2"})
    assert "Sample values from the record" in sample.text
    broken = client.post(url, data={"formula": "quantity / 0", "sample__quantity": "1"})
    assert 'id="formula-error">division by zero' in broken.text
    escape = client.post(url, data={"formula": "__import__('os').getcwd()"})
    assert 'id="formula-error"' in escape.text and "formula-value" not in escape.text


def test_designer_pages_publish_that_drops_a_field_needs_the_data_loss_confirmation(
    ui_live: Live, as_user: Callable[..., httpx.Client], designer: str
) -> None:
    client = as_user(designer)
    new_app(client, "loss_app")
    add_field(client, "loss_app", "item", type="decimal", name="weight", label_en="Weight")
    assert publish(client, "loss_app").status_code == 303
    with httpx.Client(base_url=ui_live.url) as rest:
        token = rest.post("/api/v1/auth/token", data={"username": "admin1", "password": PASSWORD})
        rest.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        made = rest.post("/api/v1/loss_app/item", json={"name": "Crate", "weight": 12.5})
        assert made.status_code == 201, made.text

    removed = client.post("/designer/loss_app/entities/item/fields/weight/delete")
    assert removed.status_code == 303
    plan = client.get("/designer/loss_app/publish").text
    assert "Remove “Weight” from “Item” (stored values deleted: 1)" in plan
    assert 'name="confirm_data_loss"' in plan
    refused = publish(client, "loss_app")
    assert refused.status_code == 422
    assert "Tick the box to confirm" in refused.text
    assert "weight" in ui_live.runtime.current().catalog.entity("loss_app.item").fields
    done = publish(client, "loss_app", confirm_data_loss="yes", note="Weight is gone")
    assert done.status_code == 303 and done.headers["location"] == "/designer/loss_app/versions"
    assert "weight" not in ui_live.runtime.current().catalog.entity("loss_app.item").fields
    versions = client.get("/designer/loss_app/versions").text
    assert "Weight is gone" in versions and "#2" in versions

    # Restore the first version: its plan first, then publish; the field comes back.
    restore = client.post("/designer/loss_app/versions/1/restore")
    assert restore.status_code == 303
    plan = client.get(restore.headers["location"]).text
    assert "Restore version 1" in plan and "Add “Weight” to “Item”" in plan
    draft = re.search(r'name="draft" value="(\d+)"', plan)
    assert draft
    again = client.post("/designer/loss_app/publish", data={"draft": draft.group(1)})
    assert again.status_code == 303
    assert "weight" in ui_live.runtime.current().catalog.entity("loss_app.item").fields
    assert "Restored version 1" in client.get("/designer/loss_app/versions").text


def test_designer_pages_link_dialog_refuses_a_taken_field_name(
    as_user: Callable[..., httpx.Client], designer: str
) -> None:
    client = as_user(designer)
    new_app(client, "link_app")
    answer = client.post(
        "/designer/link_app/relations",
        data={"holder": "link_app.item", "target": "srm.supplier", "kind": "link",
              "name": "name", "label_en": "Supplier"},
    )  # fmt: skip
    assert answer.status_code == 422
    assert "A field called “name” exists already" in answer.text
    assert 'data-open="true"' in answer.text, "the dialog opens again with what was typed"
    made = client.post(
        "/designer/link_app/relations",
        data={"holder": "link_app.item", "target": "srm.supplier", "kind": "link",
              "name": "supplier", "label_en": "Supplier"},
    )  # fmt: skip
    assert made.status_code == 303
    plan = client.get("/designer/link_app/publish").text
    assert "The app now uses SRM (version 1.2 or later)" in plan
