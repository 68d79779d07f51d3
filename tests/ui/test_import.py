"""Importing CSV and XLSX from the pages: who may, what a bad file gets, the dry run, the import.

The purchasing manager may create and import materials (`blueprints/srm/roles.yaml`); each
test uses material codes of its own, since the server is shared by every UI test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from openpyxl import Workbook
from playwright.sync_api import expect

from tests.server.conftest import Live
from tests.ui.conftest import shot

IMPORT = "/srm/material/import"


def signed(client: httpx.Client) -> httpx.Client:
    """The client with its session's CSRF token (signing in starts a new session)."""
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert token
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


def materials(live: Live, prefix: str) -> dict[str, dict[str, Any]]:
    """Materials whose code starts with `prefix`, by code."""
    with live.client("manager1") as api:
        found = api.get(
            "/api/v1/srm/material",
            params={"filter": f'{{"code": {{"startswith": "{prefix}"}}}}', "limit": 50},
        ).json()["items"]
    return {m["code"]: m for m in found}


def upload(client: httpx.Client, name: str, data: bytes, url: str = IMPORT) -> httpx.Response:
    return client.post(url, files={"file": (name, data, "text/csv")})


def run_url(answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


# --- httpx ------------------------------------------------------------------------------------


def test_import_page_needs_the_right_to_create_and_import(
    pages: Callable[..., httpx.Client],
) -> None:
    assert pages("manager1").get(IMPORT).status_code == 200
    assert pages("buyer1").get(IMPORT).status_code == 403  # reads materials, may not create
    assert pages("buyer1").get("/srm/purchase_order/import").status_code == 403  # no import
    assert pages("zhao.min").get(IMPORT).status_code == 404  # may not even read them
    assert pages("manager1").get("/srm/purchase_order_line/import").status_code == 404
    answer = upload(signed(pages("buyer1")), "m.csv", b"code,name\nX,Y\n")
    assert answer.status_code == 403


def test_import_upload_without_csrf_is_refused(pages: Callable[..., httpx.Client]) -> None:
    client = pages("manager1")
    del client.headers["X-CSRF-Token"]
    # A form without the token (urlencoded: a refused multipart form would leave its
    # temporary file to the garbage collector, see the report).
    assert client.post(IMPORT, data={"file": "code,name"}).status_code == 403
    url = run_url(upload(signed(pages("manager1")), "m.csv", b"code,name\nX-9,Y\n"))
    assert client.post(f"{url}/check", data={"col_0": "code", "col_1": "name"}).status_code == 403
    assert client.post(f"{url}/run").status_code == 403


def test_import_bad_files_get_a_clear_error(pages: Callable[..., httpx.Client]) -> None:
    client = signed(pages("manager1"))
    cases = [
        (b"", "The file is empty."),
        (b"\xff\xfe\x00\x01garbage\x80", "The file is not text in UTF-8"),
        (b"1001,2026-01-01,5\n1002,2026-01-02,6\n", "The first row must name the columns"),
        (b"code,name\n", "no rows to import"),
    ]
    for data, message in cases:
        answer = upload(client, "m.csv", data)
        assert answer.status_code == 422 and message in answer.text, answer.text
    zh = signed(pages("manager1", "zh-CN"))
    answer = upload(zh, "m.csv", b"")
    assert answer.status_code == 422 and "文件是空的" in answer.text
    answer = upload(zh, "m.pdf", b"%PDF-1.4")
    assert "只能导入 .csv 和 .xlsx 文件" in answer.text


def test_import_file_over_the_size_limit_is_refused(
    ui_live: Live, pages: Callable[..., httpx.Client]
) -> None:
    limit = ui_live.runtime.settings.max_upload_bytes - 64 * 1024
    data = b"code,name\n" + b"A,B\n" * (limit // 4)
    answer = upload(signed(pages("manager1")), "big.csv", data)
    assert answer.status_code == 413 and "The file is larger than" in answer.text


def test_import_forged_mapping_to_a_field_the_user_may_not_fill_is_refused(
    ui_live: Live, pages: Callable[..., httpx.Client]
) -> None:
    client = signed(pages("manager1"))
    data = b"supplier,order_date,submitted_at\nAcme,2026-01-02,2026-01-01T00:00:00\n"
    url = run_url(upload(client, "po.csv", data, "/srm/purchase_order/import"))
    mapping_page = client.get(url).text
    assert 'value="submitted_at"' not in mapping_page  # read-only for the role: not offered
    for forged in ("submitted_at", "total", "supplier_risk"):
        answer = client.post(
            f"{url}/check", data={"col_0": "supplier", "col_1": "order_date", "col_2": forged}
        )
        assert answer.status_code == 422
        assert f"You may not import into the field “{forged}”" in answer.text
    with ui_live.engine.connect() as conn:
        status = conn.exec_driver_sql(
            "SELECT status FROM ab_import WHERE id = ?", (int(url.rsplit("/", 1)[1]),)
        ).scalar()
    assert status == "uploaded"


def test_import_run_of_another_user_is_not_there(pages: Callable[..., httpx.Client]) -> None:
    url = run_url(upload(signed(pages("manager1")), "m.csv", b"code,name\nX-1,Y\n"))
    assert pages("manager1").get(url).status_code == 200
    other = signed(pages("admin1"))
    assert other.get(url).status_code == 404
    assert other.get(f"{url}/progress").status_code == 404
    assert other.post(f"{url}/run").status_code == 404


def test_import_mapping_is_guessed_from_chinese_labels(pages: Callable[..., httpx.Client]) -> None:
    data = "物料编码,物料名称,交付周期（天）,颜色\nQ-1,螺栓,5,红\n".encode()
    url = run_url(upload(signed(pages("manager1", "zh-CN")), "m.csv", data))
    page = pages("manager1", "zh-CN").get(url).text
    chosen = re.findall(r'<select id="col-(\d)".*?<option value="([a-z_]+)" selected', page, re.S)
    assert chosen == [("0", "code"), ("1", "name"), ("2", "lead_time_days")]
    assert "— 跳过此列 —" in page


# --- the browser ------------------------------------------------------------------------------


def _progress_full(page: Any) -> None:
    bar = page.locator("#import-progress")
    expect(bar).to_be_visible()
    assert bar.get_attribute("value") == bar.get_attribute("max")


def test_import_csv_dry_run_lists_the_bad_row_then_imports(
    ui_live: Live, signed_in: Callable[..., Any], tmp_path: Path
) -> None:
    prefix = f"T{uuid.uuid4().hex[:6].upper()}-"
    csv_file = tmp_path / "materials.csv"
    csv_file.write_text(
        "Material code,Name,Unit,Lead time (days),Standard cost,Colour\n"
        f"{prefix}1,Hex bolt M8,pcs,5,0.35,grey\n"
        f"{prefix}2,Washer,pcs,many,0.05,grey\n"
        f"{prefix}3,Nut M8,box,3,1.20,grey\n",
        encoding="utf-8",
    )
    page = signed_in("manager1", "en")
    page.goto(IMPORT)
    page.set_input_files("#import-file", str(csv_file))
    page.get_by_role("button", name="Upload and map the columns").click()
    expect(page.locator("#col-0")).to_have_value("code")
    expect(page.locator("#col-3")).to_have_value("lead_time_days")
    expect(page.locator("#col-5")).to_have_value("")  # Colour: skipped
    shot(page, "import-mapping-en")
    page.get_by_role("button", name="Check 3 rows").click()
    errors = page.locator("table.import-errors")
    expect(errors).to_contain_text("“many” is not a whole number.")
    expect(errors.locator("tbody tr")).to_have_count(1)
    expect(errors.locator("td.num")).to_have_text("3")
    shot(page, "import-dry-run-errors-en")
    assert materials(ui_live, prefix) == {}  # the dry run wrote nothing
    page.locator("#import-skip").click()
    page.get_by_role("button", name="Import 2 rows").click()
    expect(page.locator(".import-ok")).to_contain_text("2 rows imported.")
    _progress_full(page)
    shot(page, "import-done-en")
    found = materials(ui_live, prefix)
    assert sorted(found) == [f"{prefix}1", f"{prefix}3"]
    assert found[f"{prefix}3"]["unit"] == "box" and found[f"{prefix}1"]["lead_time_days"] == 5
    page.get_by_role("link", name="Open the list of Material").click()
    assert page.url.endswith("/srm/material")


def test_import_xlsx_in_chinese(
    ui_live: Live, signed_in: Callable[..., Any], tmp_path: Path
) -> None:
    prefix = f"X{uuid.uuid4().hex[:6].upper()}-"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["物料编码", "物料名称", "单位", "最小起订量(MOQ)", "首选供应商"])
    sheet.append([f"{prefix}1", "六角螺栓", "件", 100, "苏州精工五金制品有限公司"])
    sheet.append([f"{prefix}2", "垫圈", "千克", 50, "没有这家供应商"])
    sheet.append([f"{prefix}3", "螺母", "箱", 20, None])
    path = tmp_path / "物料.xlsx"
    book.save(path)
    page = signed_in("manager1", "zh-CN")
    page.goto(IMPORT)
    page.set_input_files("#import-file", str(path))
    page.get_by_role("button", name="上传并对应列与字段").click()
    expect(page.locator("#col-4")).to_have_value("preferred_supplier")
    shot(page, "import-mapping-zh-CN")
    page.get_by_role("button", name="校验 3 行").click()
    errors = page.locator("table.import-errors")
    expect(errors).to_contain_text("没有名为“没有这家供应商”的供应商。")
    shot(page, "import-dry-run-errors-zh-CN")
    assert materials(ui_live, prefix) == {}
    page.locator("#import-skip").click()
    page.get_by_role("button", name="导入 2 行").click()
    expect(page.locator(".import-ok")).to_contain_text("已导入 2 行。")
    _progress_full(page)
    shot(page, "import-done-zh-CN")
    found = materials(ui_live, prefix)
    assert sorted(found) == [f"{prefix}1", f"{prefix}3"]
    assert found[f"{prefix}1"]["unit"] == "pcs" and found[f"{prefix}1"]["preferred_supplier"]


def test_import_file_too_large_is_refused_before_uploading(
    signed_in: Callable[..., Any], tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(b"code,name\n" + b"A,B\n" * (3 * 1024 * 1024))
    page = signed_in("manager1", "en", phone=True)
    page.goto(IMPORT)
    page.set_input_files("#import-file", str(big))
    expect(page.locator("[data-file-problem]")).to_contain_text("The file is larger than")
    page.get_by_role("button", name="Upload and map the columns").click()
    assert page.url.endswith(IMPORT)
    shot(page, "import-too-large-phone-en")
