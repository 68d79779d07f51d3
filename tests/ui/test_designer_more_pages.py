"""The designer's view, dashboard, workflow and role pages without a browser, on SQLite and
PostgreSQL: who may see them, CSRF, and edits that land in the draft (or are refused and
change nothing), read back through the engine's draft functions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from appblocks.engine import drafts
from appblocks.engine.users import create_user, identity_of
from tests.server.conftest import PASSWORD, Live, module_db_url, shipped
from tests.ui.conftest import page_session

__all__ = ["module_db_url", "shipped"]  # the fixtures, for pytest to find here
HTMX = {"HX-Request": "true"}
PAGES = (
    "/designer/srm/views",
    "/designer/srm/views/open_pos",
    "/designer/srm/dashboards",
    "/designer/srm/dashboards/spend",
    "/designer/srm/workflows",
    "/designer/srm/workflows/po_approval",
    "/designer/srm/roles",
)


def _client(live: Live, user: str) -> httpx.Client:
    """A signed-in page client with the CSRF token of its session (a sign-in starts a new
    session, so the token is read from a page after it)."""
    client = page_session(live, user)
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert token
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


def _draft_document(live: Live, user: str, kind: str, name: str) -> Any:
    with live.engine.begin() as conn:
        mine = [d for d in drafts.list_drafts(conn, "srm") if d.actor == user]
        return mine[0].document(kind, name) if mine else None


@pytest.fixture
def admin(shipped: Live) -> Iterator[httpx.Client]:
    client = _client(shipped, "admin1")
    yield client
    client.close()
    with shipped.engine.begin() as conn:
        for draft in drafts.list_drafts(conn, "srm"):
            drafts.discard(conn, draft.id)


@pytest.mark.parametrize("path", PAGES)
def test_designer_more_pages_are_not_there_for_other_roles(shipped: Live, path: str) -> None:
    with closing(_client(shipped, "buyer1")) as client:
        assert client.get(path).status_code == 404
        answer = client.post(path.rstrip("/") + "/delete", headers=HTMX)
        assert answer.status_code in (404, 405)


def test_designer_more_pages_open_for_the_designer_role(shipped: Live) -> None:
    with shipped.engine.begin() as conn:
        if identity_of(conn, "designer_more") is None:
            create_user(conn, "designer_more", password=PASSWORD, roles=["designer"])
    with closing(_client(shipped, "designer_more")) as client:
        for path in PAGES:
            answer = client.get(path)
            assert answer.status_code == 200, path
        assert "po_approval" in client.get("/designer/srm/workflows").text


def test_designer_more_post_without_csrf_is_refused(shipped: Live, admin: httpx.Client) -> None:
    answer = admin.post(
        "/designer/srm/roles/finance/grant",
        data={"entity": "supplier", "action": "update", "on": "1"},
        headers={**HTMX, "X-CSRF-Token": ""},
    )
    assert answer.status_code == 403
    assert _draft_document(shipped, "admin1", "role", "finance") is None


def test_designer_more_edits_land_in_the_draft(shipped: Live, admin: httpx.Client) -> None:
    answer = admin.post(
        "/designer/srm/views",
        data={"name": "po_board2", "entity": "purchase_order", "type": "kanban"},
        headers=HTMX,
    )
    assert answer.status_code == 204 and answer.headers["HX-Redirect"].endswith("/po_board2")
    answer = admin.post(
        "/designer/srm/views/po_board2",
        data={"entity": "purchase_order", "type": "kanban", "group_by": "_state",
              "columns": ["supplier", "total"], "s_field": ["total"], "s_dir": ["desc"]},
        headers=HTMX,
    )  # fmt: skip
    assert answer.status_code == 200 and 'id="draft-bar"' in answer.text
    view = _draft_document(shipped, "admin1", "view", "po_board2")
    assert view == {
        "entity": "purchase_order", "type": "kanban", "columns": ["supplier", "total"],
        "sort": "-total", "group_by": "_state",
    }  # fmt: skip

    answer = admin.post(
        "/designer/srm/roles/finance/grant",
        data={"entity": "supplier", "action": "update", "on": "1"},
        headers=HTMX,
    )
    assert answer.status_code == 200 and "checked" in answer.text
    assert _draft_document(shipped, "admin1", "role", "finance")["permissions"]["supplier"] == [
        "read",
        "update",
    ]
    answer = admin.post(
        "/designer/srm/roles/finance/grant",
        data={"entity": "supplier", "action": "update"},
        headers=HTMX,
    )
    assert _draft_document(shipped, "admin1", "role", "finance")["permissions"]["supplier"] == [
        "read"
    ]


def test_designer_more_refused_edits_change_nothing(shipped: Live, admin: httpx.Client) -> None:
    answer = admin.post(
        "/designer/srm/workflows/po_approval/transitions",
        data={"t_name": "skip", "from": ["draft"], "to": "approved", "when": "total >"},
        headers=HTMX,
    )
    assert answer.status_code == 422
    assert "when does not compile" in answer.text
    assert 'value="total &gt;"' in answer.text  # what was typed comes back
    assert _draft_document(shipped, "admin1", "workflow", "po_approval") is None

    answer = admin.post(
        "/designer/srm/roles/finance/grant",
        data={"entity": "supplier", "action": "fly", "on": "1"},
        headers=HTMX,
    )
    assert answer.status_code == 422 and "designer-more-refused" in answer.headers["HX-Trigger"]

    answer = admin.post(
        "/designer/srm/dashboards/spend/widgets/0",
        data={"chart": "number", "entity": "purchase_order", "agg": "sum", "field": "supplier"},
        headers=HTMX,
    )
    assert answer.status_code == 422 and "sum needs a number field" in answer.text
    assert _draft_document(shipped, "admin1", "dashboard", "spend") is None


def test_designer_more_removing_a_state_removes_its_arrows(
    shipped: Live, admin: httpx.Client
) -> None:
    answer = admin.post("/designer/srm/workflows/po_approval/states/approved/delete", headers=HTMX)
    # `close` leaves from approved, and the approval of pending leads there: the engine says so.
    assert answer.status_code == 422 and "approve_to" in answer.text
    answer = admin.post("/designer/srm/workflows/po_approval/states/closed/delete", headers=HTMX)
    assert answer.status_code == 200
    workflow = _draft_document(shipped, "admin1", "workflow", "po_approval")
    assert "close" not in workflow["transitions"]
    assert "closed" not in [s["name"] for s in workflow["states"]]
    assert 'data-state="closed"' not in answer.text


def test_designer_more_state_added_with_the_arrow_that_reaches_it(
    shipped: Live, admin: httpx.Client
) -> None:
    answer = admin.post(
        "/designer/srm/workflows/po_approval/states",
        data={
            "state_name": "archived",
            "label_en": "Archived",
            "reached_from": "closed",
            "via": "archive",
        },
        headers=HTMX,
    )
    assert answer.status_code == 200
    assert 'data-state="archived"' in answer.text and 'data-transition="archive"' in answer.text
    assert "dm-warnings" not in answer.text  # reachable at once: nothing unfinished
    workflow = _draft_document(shipped, "admin1", "workflow", "po_approval")
    assert workflow["transitions"]["archive"] == {"from": "closed", "to": "archived"}


def test_designer_more_widgets_reorder_after_a_drag(shipped: Live, admin: httpx.Client) -> None:
    answer = admin.post(
        "/designer/srm/dashboards/supplier_scorecard/order",
        data={"order": "2,0,1,3,4,5,6"},
        headers=HTMX,
    )
    assert answer.status_code == 200
    widgets = _draft_document(shipped, "admin1", "dashboard", "supplier_scorecard")["widgets"]
    assert [w["title"]["en"] for w in widgets[:3]] == [
        "Cost saving",
        "On-time delivery rate",
        "Pass rate",
    ]
    answer = admin.post(
        "/designer/srm/dashboards/supplier_scorecard/order", data={"order": "0,0,1"}, headers=HTMX
    )
    assert answer.status_code == 422


def test_designer_more_approval_levels_saved_and_approvers_kept(
    shipped: Live, admin: httpx.Client
) -> None:
    answer = admin.post(
        "/designer/srm/workflows/po_approval/approvals/pending",
        data={
            "approve_to": "approved", "reject_to": "draft",
            "level_name": ["manager", "manager_and_cfo", "board"],
            "level_when": ["total < 50000", "total >= 50000", "total >= 500000"],
            "level_mode": ["all", "all", "any"],
            "level_roles_0": ["purchasing_manager"],
            "level_roles_2": ["cfo"],
        },
        headers=HTMX,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    levels = _draft_document(shipped, "admin1", "workflow", "po_approval")["approvals"]["pending"][
        "levels"
    ]
    assert levels[0]["when"] == "total < 50000" and levels[0]["roles"] == ["purchasing_manager"]
    assert levels[1]["approvers"] == [{"role": "purchasing_manager"}, {"role": "cfo"}]
    assert levels[2] == {
        "name": "board",
        "when": "total >= 500000",
        "roles": ["cfo"],
        "mode": "any",
    }
    # A level with nobody to approve is refused with what was typed kept.
    answer = admin.post(
        "/designer/srm/workflows/po_approval/approvals",
        data={"state": "approved", "approve_to": "closed", "reject_to": "draft",
              "level_name": ["x", ""], "level_when": ["", ""], "level_mode": ["all", "all"]},
        headers=HTMX,
    )  # fmt: skip
    assert answer.status_code == 422 and "Level 1 needs at least one approver role" in answer.text
