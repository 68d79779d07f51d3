"""The publish page and workflow states: records of a removed state wait for the analyst to
choose where they go (publishing is refused until then, nothing changes), a renamed state takes
its records along. httpx against a real server, on SQLite and PostgreSQL, in en and zh-CN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest
import sqlalchemy as sa

from appblocks.engine import drafts
from tests.server.conftest import Live, module_db_url, shipped
from tests.ui.conftest import page_session

__all__ = ["module_db_url", "shipped"]  # the fixtures, for pytest to find here
HTMX = {"HX-Request": "true"}
BASE = "/designer/srm/workflows/po_approval"


def _client(live: Live, locale: str = "en") -> httpx.Client:
    client = page_session(live, "admin1", locale)
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert token
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


@pytest.fixture
def admin(shipped: Live) -> Iterator[httpx.Client]:
    client = _client(shipped)
    yield client
    client.close()
    with shipped.engine.begin() as conn:
        for draft in drafts.list_drafts(conn, "srm"):
            drafts.discard(conn, draft.id)


def _put_orders(live: Live, state: str, count: int) -> list[int]:
    """The first `count` purchase orders (by id) put in `state`; their ids."""
    with live.engine.begin() as conn:
        ids = [
            int(i)
            for i in conn.execute(
                sa.text("SELECT id FROM srm_purchase_order ORDER BY id LIMIT :n"), {"n": count}
            ).scalars()
        ]
        for record in ids:
            conn.execute(
                sa.text("UPDATE srm_purchase_order SET _state = :s WHERE id = :i"),
                {"s": state, "i": record},
            )
    return ids


def _states(live: Live, ids: list[int]) -> list[str]:
    with live.engine.connect() as conn:
        query = sa.text("SELECT id, _state FROM srm_purchase_order ORDER BY id")
        found = {int(i): s for i, s in conn.execute(query)}
    return [str(found[i]) for i in ids]


def _draft_id(live: Live) -> int:
    with live.engine.begin() as conn:
        [draft] = [d for d in drafts.list_drafts(conn, "srm") if d.actor == "admin1"]
        return draft.id


def _publish_button(page: str) -> str:
    found = re.search(r'<button type="submit" id="publish"[^>]*>', page)
    assert found
    return found.group(0)


def test_a_removed_state_with_records_asks_where_they_go(
    shipped: Live, admin: httpx.Client
) -> None:
    ids = _put_orders(shipped, "cancelled", 2)
    answer = admin.post(f"{BASE}/states/cancelled/delete", headers=HTMX)
    assert answer.status_code == 200, answer.text
    page = admin.get("/designer/srm/publish").text
    assert "The state “Cancelled” of “Purchase order” is removed, but 2 records are in it" in page
    assert "choose the state they move to, then publish" in page
    # A labelled select of the new workflow's states, and publishing held back until chosen.
    assert re.search(r'<label for="move-to-\d+">Move its records to</label>', page)
    select = re.search(
        r'<select id="move-to-\d+" name="target" required>(.*?)</select>', page, re.S
    )
    assert select
    options = re.findall(r'<option value="(\w+)">', select.group(1))
    assert options == ["draft", "pending", "approved", "closed"]
    assert "disabled" in _publish_button(page)

    with closing(_client(shipped, "zh-CN")) as zh:  # admin1 again: the same draft, in Chinese
        page_zh = zh.get("/designer/srm/publish").text
    assert "已被删除，但仍有 2 条记录处于该状态" in page_zh and "将其记录转到" in page_zh

    # Publishing anyway is refused with the state, the entity and the count; nothing changes.
    draft_id = _draft_id(shipped)
    refused = admin.post("/designer/srm/publish", data={"draft": str(draft_id)})
    assert refused.status_code == 422
    assert "2 records of srm.purchase_order are in the state &#39;cancelled&#39;" in refused.text
    assert _states(shipped, ids) == ["cancelled", "cancelled"]

    # A state the workflow lacks is refused and records nothing.
    bad = {"draft": str(draft_id), "entity": "srm.purchase_order", "state": "cancelled"}
    answer = admin.post("/designer/srm/publish/move-records", data={**bad, "target": "gone"})
    assert answer.status_code == 303
    assert "gone is not a state" in admin.get(answer.headers["location"]).text
    assert "disabled" in _publish_button(admin.get("/designer/srm/publish").text)

    answer = admin.post("/designer/srm/publish/move-records", data={**bad, "target": "closed"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/designer/srm/publish?draft={draft_id}"
    page = admin.get(answer.headers["location"]).text
    assert "will move to “closed” when you publish" in page
    assert (
        "Move 2 records of “Purchase order” from the state “Cancelled” to “Closed (received)”"
        in page
    )
    assert "disabled" not in _publish_button(page)
    done = admin.post("/designer/srm/publish", data={"draft": str(draft_id)})
    assert done.status_code == 303, done.text
    assert _states(shipped, ids) == ["closed", "closed"]


def test_a_renamed_state_takes_its_records_along(shipped: Live, admin: httpx.Client) -> None:
    ids = _put_orders(shipped, "pending", 3)
    answer = admin.post(
        f"{BASE}/states/pending",
        data={"state_name": "waiting", "label_en": "Waiting", "label_zh": "等待中"},
        headers=HTMX,
    )
    assert answer.status_code == 200, answer.text
    assert "Records in this state move with it when you rename it." in answer.text
    page = admin.get("/designer/srm/publish").text
    assert "Move 3 records of “Purchase order” from the state “Pending approval” to “Waiting”" in (
        page
    )
    assert "move-records" not in page  # nothing to choose
    done = admin.post("/designer/srm/publish", data={"draft": str(_draft_id(shipped))})
    assert done.status_code == 303, done.text
    assert _states(shipped, ids) == ["waiting", "waiting", "waiting"]
