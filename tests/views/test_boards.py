"""Boards, calendars and dashboards of the shipped blueprints as pages, on SQLite and
PostgreSQL: every view and dashboard renders for each role that may read its entity and is a
404 for the others; the board counts and cards are the caller's own records only."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from appblocks.engine.db import reading
from appblocks.engine.spec import qualify
from appblocks.engine.users import identity_of
from appblocks.server import pages_lists
from tests.server.conftest import ROLE_USERS, Live
from tests.ui.conftest import page_session


def signed_in(live: Live, user: str) -> httpx.Client:
    """A page session whose X-CSRF-Token is the one the session holds after signing in."""
    client = page_session(live, user)
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
    assert token
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


@pytest.fixture(scope="module")
def sessions(shipped: Live) -> Iterator[dict[str, httpx.Client]]:
    """One signed-in page session per role user (signing in hashes a password: once each)."""
    clients = {user: signed_in(shipped, user) for user in ROLE_USERS}
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture(scope="module")
def api(shipped: Live) -> Iterator[Callable[[str], httpx.Client]]:
    """`api(user)`: a REST client with the user's bearer token (closed after the module)."""
    made: dict[str, httpx.Client] = {}

    def client(user: str) -> httpx.Client:
        if user not in made:
            made[user] = shipped.client(user)
        return made[user]

    yield client
    for one in made.values():
        one.close()


def _documents(live: Live) -> list[tuple[str, str, str, list[str]]]:
    """(app, section, name, entities) of every view and dashboard installed."""
    loaded = live.runtime.current()
    out = []
    for app, blueprint in loaded.catalog.blueprints.items():
        for name, doc in (blueprint.get("views") or {}).items():
            if doc.get("type", "list") == "list" and not hasattr(pages_lists, "list_response"):
                continue  # a build without the list pages sends list views to the entity list
            out.append((app, "views", name, [qualify(app, doc["entity"])]))
        for name, doc in (blueprint.get("dashboards") or {}).items():
            entities = [qualify(app, w["entity"]) for w in doc["widgets"]]
            out.append((app, "dashboards", name, entities))
    return out


def test_boards_every_view_and_dashboard_renders_for_readers_only(
    shipped: Live, sessions: dict[str, httpx.Client]
) -> None:
    loaded = shipped.runtime.current()
    documents = _documents(shipped)
    assert {(a, s, n) for a, s, n, _e in documents} >= {
        ("srm", "views", "po_board"),
        ("srm", "dashboards", "spend"),
        ("srm", "dashboards", "supplier_scorecard"),
        ("crm", "views", "pipeline"),
        ("crm", "dashboards", "sales"),
        ("crm", "dashboards", "service"),
        ("crm", "dashboards", "leads"),
    }
    failures = []
    with reading(shipped.engine) as conn:
        identities = {user: identity_of(conn, user) for user in ROLE_USERS}
    for app, section, name, entities in documents:
        for user, client in sessions.items():
            identity = identities[user]
            assert identity is not None
            may = any(loaded.policy.can(identity, e, "read") for e in entities)
            answer = client.get(f"/{app}/{section}/{name}")
            expected = 200 if may else 404
            if answer.status_code != expected:
                failures.append(
                    f"{user} {app}/{section}/{name}: {answer.status_code} != {expected}"
                )
            elif may and "problem" in answer.text and section == "views":
                failures.append(f"{user} {app}/{section}/{name}: shows a problem")
    assert not failures, "\n".join(failures)


def test_boards_pipeline_shows_only_the_reps_own_opportunities(
    api: Callable[[str], httpx.Client], sessions: dict[str, httpx.Client]
) -> None:
    everything = api("admin1").get("/api/v1/crm/opportunity", params={"limit": 200}).json()["items"]
    mine = [o for o in everything if o["owner"] == "zhao.min"]
    assert mine and len(mine) < len(everything)
    page = sessions["zhao.min"].get("/crm/views/pipeline").text
    counts = dict(re.findall(r'data-count="([a-z_]*)"[^>]*>(\d+)<', page))
    for stage in {o["stage"] for o in everything}:
        expected = sum(1 for o in mine if o["stage"] == stage)
        assert int(counts.get(stage, 0)) == expected, stage
    shown = set(re.findall(r'class="board-card" data-id="(\d+)"', page))
    assert shown == {str(o["id"]) for o in mine}


def test_boards_po_board_columns_are_the_workflow_states_in_order(
    sessions: dict[str, httpx.Client],
) -> None:
    page = sessions["buyer1"].get("/srm/views/po_board", headers={"Accept-Language": "zh-CN"})
    labels = re.findall(r'class="board-col-label">([^<]+)<', page.text)
    assert labels[:5] == ["草稿", "待审批", "已批准", "已关闭(收货完成)", "已取消"] or labels[
        :5
    ] == ["Draft", "Pending approval", "Approved", "Closed (received)", "Cancelled"]


def test_boards_move_by_form_without_script_updates_and_refuses(
    api: Callable[[str], httpx.Client], sessions: dict[str, httpx.Client]
) -> None:
    rep = sessions["sun.hao"]
    account = api("admin1").get("/api/v1/crm/account", params={"limit": 1}).json()
    created = (
        api("sun.hao")
        .post(
            "/api/v1/crm/opportunity",
            json={
                "name": "Board test (form)",
                "account": account["items"][0]["id"],
                "stage": "prospecting",
                "expected_amount": 1000,
            },
        )
        .json()
    )
    # Automations may touch a new opportunity: move the version the board would show.
    created = api("sun.hao").get(f"/api/v1/crm/opportunity/{created['id']}").json()
    moved = rep.post(
        "/crm/views/pipeline/move",
        data={"id": created["id"], "version": created["_version"], "to": "qualification"},
    )
    assert moved.status_code == 303, moved.text
    board = rep.get(moved.headers["location"]).text
    assert '<p class="flash success" role="status">Moved to Qualification.</p>' in board
    after = api("sun.hao").get(f"/api/v1/crm/opportunity/{created['id']}").json()
    assert after["stage"] == "qualification", (created, after)
    # A business rule refuses "closed lost" without a reason: nothing changes, the reason shows.
    refused = rep.post(
        "/crm/views/pipeline/move",
        data={"id": created["id"], "version": after["_version"], "to": "closed_lost"},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 422
    assert refused.json()["message"] == "Say why the opportunity was lost."
    again = api("sun.hao").get(f"/api/v1/crm/opportunity/{created['id']}").json()
    assert again["stage"] == "qualification"
    # A stale version is refused too.
    stale = rep.post(
        "/crm/views/pipeline/move",
        data={"id": created["id"], "version": created["_version"], "to": "proposal"},
        headers={"Accept": "application/json"},
    )
    assert stale.status_code == 409 and "reload" in stale.json()["message"]


def test_boards_state_board_runs_the_transition_the_role_may_run(
    api: Callable[[str], httpx.Client], sessions: dict[str, httpx.Client]
) -> None:
    buyer = sessions["buyer1"]
    suppliers = api("buyer1").get("/api/v1/srm/supplier", params={"limit": 1}).json()["items"]
    material = api("buyer1").get("/api/v1/srm/material", params={"limit": 1}).json()["items"][0]
    po = (
        api("buyer1")
        .post(
            "/api/v1/srm/purchase_order",
            json={
                "supplier": suppliers[0]["id"],
                "order_date": "2026-11-20",
                "lines": [{"material": material["id"], "quantity": 2, "unit_price": 10}],
            },
        )
        .json()
    )
    json_headers = {"Accept": "application/json", "Accept-Language": "zh-CN"}
    # No transition leads from draft to approved (approval decides): refused, in Chinese.
    refused = buyer.post(
        "/srm/views/po_board/move",
        data={"id": po["id"], "version": po["_version"], "to": "approved"},
        headers=json_headers,
    )
    assert refused.status_code == 409
    assert refused.json()["message"] == "流程中没有从“草稿”到“已批准”的流转。"
    # Cancelling needs a comment: the answer asks for one, then the move runs with it.
    asked = buyer.post(
        "/srm/views/po_board/move",
        data={"id": po["id"], "version": po["_version"], "to": "cancelled"},
        headers=json_headers,
    )
    assert asked.status_code == 422 and asked.json()["comment_required"] is True
    submitted = buyer.post(
        "/srm/views/po_board/move",
        data={"id": po["id"], "version": po["_version"], "to": "pending"},
        headers=json_headers,
    )
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    assert body["ok"] and body["group"] == "pending" and body["counts"]["pending"] >= 1
    record = api("buyer1").get(f"/api/v1/srm/purchase_order/{po['id']}").json()
    assert record["_state"] == "pending" and record["_version"] == body["version"]
    # The quality engineer may read orders but runs none of their transitions.
    quality = sessions["quality1"]
    denied = quality.post(
        "/srm/views/po_board/move",
        data={"id": po["id"], "version": body["version"], "to": "cancelled", "comment": "no"},
        headers={"Accept": "application/json"},
    )
    assert denied.status_code == 403
    assert denied.json()["message"] == (
        "Your roles may not move a record from Pending approval to Cancelled."
    )


def test_boards_calendar_lists_the_months_records(
    api: Callable[[str], httpx.Client], sessions: dict[str, httpx.Client]
) -> None:
    orders = api("admin1").get("/api/v1/srm/purchase_order", params={"limit": 200}).json()["items"]
    september = [o for o in orders if (o.get("expected_date") or "").startswith("2026-09")]
    assert september
    page = sessions["manager1"].get("/srm/views/po_deliveries", params={"month": "2026-09"}).text
    chips = re.findall(r'class="cal-chip" href="/srm/purchase_order/(\d+)"', page)
    assert sorted(chips) == sorted(str(o["id"]) for o in september)
    assert "September 2026" in page and 'rel="prev" ' not in page
    assert "?month=2026-08" in page and "?month=2026-10" in page


@pytest.mark.skipif(not hasattr(pages_lists, "list_response"), reason="needs the list pages")
def test_boards_list_view_resolves_relative_dates_on_the_day_it_is_read(
    api: Callable[[str], httpx.Client], sessions: dict[str, httpx.Client]
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    horizon = today + dt.timedelta(days=60)
    contracts = api("manager1").get("/api/v1/srm/contract", params={"limit": 200}).json()["items"]
    soon = {
        c["number"]
        for c in contracts
        if c["end_date"]
        and today.isoformat() <= c["end_date"] <= horizon.isoformat()
        and c["_state"] not in ("expired", "terminated")
    }
    page = sessions["manager1"].get("/srm/views/contracts_expiring")
    assert page.status_code == 200
    shown = {c["number"] for c in contracts if c["number"] in page.text}
    assert shown == soon
