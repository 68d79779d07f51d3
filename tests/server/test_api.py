"""The REST API over real HTTP: CRUD, paging, locking, errors as problem+json, i18n."""

from __future__ import annotations

import json

from tests.server.conftest import Live


def test_token_and_me(live: Live) -> None:
    with live.client("clerk1") as c:
        me = c.get("/api/v1/auth/me").json()
    assert me["name"] == "clerk1" and me["roles"] == ["clerk"]


def test_wrong_password_is_401_problem(live: Live) -> None:
    with live.client() as c:
        r = c.post("/api/v1/auth/token", data={"username": "clerk1", "password": "nope nope nope"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 401


def test_apps_lists_readable_entities(live: Live) -> None:
    with live.client("viewer1") as c:
        apps = c.get("/api/v1/apps").json()
    names = {e["name"] for e in apps[0]["entities"]}
    assert names == {"customer", "sale"}


def test_create_get_update_delete(live: Live) -> None:
    with live.client("clerk1") as c:
        r = c.post("/api/v1/shop/customer", json={"name": "Initech"})
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["_version"] == 1
        got = c.get(f"/api/v1/shop/customer/{created['id']}").json()
        assert got["name"] == "Initech"
        r = c.patch(
            f"/api/v1/shop/customer/{created['id']}",
            json={"secret_note": "vip"},
            headers={"If-Match": '"1"'},
        )
        assert r.status_code == 200 and r.json()["_version"] == 2
        stale = c.patch(
            f"/api/v1/shop/customer/{created['id']}", json={"secret_note": "x", "_version": 1}
        )
        assert stale.status_code == 409
        missing = c.patch(f"/api/v1/shop/customer/{created['id']}", json={"secret_note": "x"})
        assert missing.status_code == 428
        assert c.delete(f"/api/v1/shop/customer/{created['id']}").status_code == 204
        assert c.get(f"/api/v1/shop/customer/{created['id']}").status_code == 404


def test_nested_lines_and_expand(live: Live) -> None:
    with live.client("clerk1") as c:
        body = {
            "customer": 1,
            "amount": 10,
            "lines": [{"item": "nuts", "quantity": 2}, {"item": "bolts", "quantity": 5}],
        }
        sale = c.post("/api/v1/shop/sale", json=body).json()
        assert [line["item"] for line in sale["lines"]] == ["nuts", "bolts"]
        assert sale["number"].startswith("O-")
        page = c.get(
            "/api/v1/shop/sale", params={"expand": "customer,lines", "sort": "-id", "limit": 1}
        ).json()
        assert page["items"][0]["customer"]["name"] == "Acme"


def test_list_filter_sort_paging_count(live: Live) -> None:
    with live.client("clerk1") as c:
        r = c.post("/api/v1/shop/customer/batch", json=[{"name": f"C{i:03d}"} for i in range(30)])
        assert r.status_code == 201 and r.json()["count"] == 30
        seen: list[str] = []
        cursor = None
        while True:
            params = {
                "filter": json.dumps({"name": {"startswith": "C"}}),
                "sort": "name",
                "limit": 7,
            }
            if cursor:
                params["cursor"] = cursor
            page = c.get("/api/v1/shop/customer", params=params).json()
            seen += [i["name"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == [f"C{i:03d}" for i in range(30)]
        counted = c.get("/api/v1/shop/customer", params={"count": "true", "q": "C0"}).json()
        assert counted["total"] == 30


def test_invalid_input_reports_every_field_in_the_callers_language(live: Live) -> None:
    with live.client("clerk1") as c:
        r = c.post("/api/v1/shop/sale", json={"amount": -5, "colour": "red"})
        assert r.status_code == 422
        fields = {e["field"] for e in r.json()["errors"]}
        assert {"customer", "amount", "colour"} <= fields
        zh = c.post("/api/v1/shop/sale", json={"amount": 1}, headers={"Accept-Language": "zh-CN"})
        assert any(e["message"] == "必填" for e in zh.json()["errors"])


def test_bad_filter_is_a_problem_not_a_crash(live: Live) -> None:
    with live.client("clerk1") as c:
        for bad in ["{nope", json.dumps({"name": {"regex": "x"}}), json.dumps({"ghost": 1}), "[1]"]:
            r = c.get("/api/v1/shop/customer", params={"filter": bad})
            assert r.status_code == 422, (bad, r.text)
        assert c.get("/api/v1/shop/customer", params={"sort": "nope"}).status_code == 422
        assert c.get("/api/v1/shop/customer", params={"cursor": "garbage"}).status_code == 422


def test_history_newest_first(live: Live) -> None:
    with live.client("clerk1") as c:
        c.patch("/api/v1/shop/customer/1", json={"secret_note": "a", "_version": 1})
        items = c.get("/api/v1/shop/customer/1/history").json()["items"]
    assert items[0]["action"] == "update" and items[-1]["action"] == "create"


def test_openapi_has_typed_schemas_per_entity(live: Live) -> None:
    with live.client() as c:
        spec = c.get("/openapi.json").json()
    assert "/api/v1/shop/customer" in spec["paths"]
    assert "/api/v1/shop/sale/{record_id}" in spec["paths"]
    schema = spec["components"]["schemas"]["shop.sale.input"]
    assert schema["properties"]["amount"]["minimum"] == 0
    assert "customer" in schema["required"]
    assert "number" not in schema["properties"]  # an autonumber is never input


FLEET = """
blueprint: fleet
version: 1.0.0
entities:
  car:
    title: plate
    fields:
      plate: {type: text, required: true}
roles:
  driver: {permissions: {car: [read]}}
data:
  car: [{plate: A-1}]
"""


def test_blueprint_import_over_rest_updates_the_api_without_a_restart(live: Live) -> None:
    yaml_headers = {"content-type": "application/yaml"}
    with live.client("clerk1") as c:
        assert c.post("/api/v1/blueprints", content=FLEET, headers=yaml_headers).status_code == 403
    with live.client("admin1") as c:
        plan = c.post("/api/v1/blueprints?dry_run=true", content=FLEET, headers=yaml_headers)
        assert plan.status_code == 200 and "create table fleet_car" in plan.json()["plan"]
        assert c.get("/api/v1/fleet/car").status_code == 404  # a dry run changes nothing
        bad = c.post(
            "/api/v1/blueprints", content=FLEET.replace("text", "txt"), headers=yaml_headers
        )
        assert bad.status_code == 422
        assert any(e.get("line") == 8 for e in bad.json()["errors"])
        done = c.post("/api/v1/blueprints?with_data=true", content=FLEET, headers=yaml_headers)
        assert done.status_code == 201, done.text
        assert [r["plate"] for r in c.get("/api/v1/fleet/car").json()["items"]] == ["A-1"]
        assert "/api/v1/fleet/car" in c.get("/openapi.json").json()["paths"]
        exported = c.get("/api/v1/blueprints/fleet/export")
        assert exported.status_code == 200 and "plate:" in exported.text
        assert c.get("/api/v1/blueprints/nothing/export").status_code == 404
