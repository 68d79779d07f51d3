"""An import whose server process died: its page says it was interrupted (en, zh-CN), stops
polling and offers to start again, which works (the file and the mapping were kept)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import httpx
import sqlalchemy as sa

from appblocks.engine import housekeeping
from appblocks.views import imports
from tests.server.conftest import Live

IMPORT = "/srm/material/import"
POLLING = 'hx-trigger="every 500ms"'


def _upload(client: httpx.Client, prefix: str) -> tuple[str, int]:
    data = f"Material code,Name,Unit\n{prefix}1,Hex bolt,pcs\n{prefix}2,Nut,pcs\n".encode()
    answer = client.post(IMPORT, files={"file": ("materials.csv", data, "text/csv")})
    assert answer.status_code == 303, answer.text
    url = str(answer.headers["location"])
    return url, int(url.rsplit("/", 1)[-1])


def _set_status(live: Live, run_id: int, status: str) -> None:
    """The state a run is left in when its process dies in the middle."""
    with live.engine.begin() as conn:
        conn.execute(
            sa.update(imports.RUNS)
            .where(imports.RUNS.c.id == run_id)
            .values(status=status, done=200)
        )


def test_an_import_closed_by_housekeeping_says_interrupted_and_starts_again(
    ui_live: Live, pages: Callable[..., httpx.Client]
) -> None:
    prefix = f"I{uuid.uuid4().hex[:6].upper()}-"
    client = pages("manager1")
    url, run_id = _upload(client, prefix)
    _set_status(ui_live, run_id, imports.IMPORTING)
    with ui_live.engine.begin() as conn:  # what housekeeping does to it on PostgreSQL
        assert housekeeping.mark_interrupted(conn, run_id, imports.IMPORTING, done=200)
    page = client.get(url)
    assert page.status_code == 200
    assert "The import was interrupted; nothing was imported." in page.text
    assert "The server stopped before it finished." in page.text
    assert POLLING not in page.text  # it no longer polls
    restart = re.search(r'id="import-restart" href="([^"]+)"', page.text)
    assert restart and restart.group(1) == f"{url}?mapping=1"
    zh = pages("manager1", "zh-CN").get(url).text
    assert "导入被中断，没有导入任何数据。" in zh and "重新开始" in zh and POLLING not in zh
    listed = client.get(IMPORT).text  # the recent imports name it too
    assert re.search(rf'href="{IMPORT}/{run_id}">materials.csv</a>.*?interrupted', listed, re.S)
    # Start again: the mapping form, then the check runs on the kept file.
    form = client.get(restart.group(1))
    assert form.status_code == 200 and 'name="col_0"' in form.text
    checked = client.post(f"{url}/check", data={"col_0": "code", "col_1": "name", "col_2": "unit"})
    assert checked.status_code == 303, checked.text
    for _ in range(100):
        text = client.get(url).text
        if POLLING not in text:
            break
        time.sleep(0.1)
    assert "All 2 rows are ready to import." in text


def test_a_check_left_running_is_shown_interrupted_by_its_page(
    ui_live: Live, pages: Callable[..., httpx.Client]
) -> None:
    # SQLite: the one server process is not running it, so the page closes it itself.
    client = pages("manager1", "zh-CN")
    url, run_id = _upload(client, f"J{uuid.uuid4().hex[:6].upper()}-")
    _set_status(ui_live, run_id, imports.CHECKING)
    page = client.get(url).text
    assert "校验被中断，没有写入任何数据。" in page and POLLING not in page
    assert "重新开始" in page
    with ui_live.engine.connect() as conn:
        run = conn.execute(sa.select(imports.RUNS).where(imports.RUNS.c.id == run_id)).one()
    assert housekeeping.interrupted_while(dict(run._mapping)) == "checking"
    english = pages("manager1").get(url).text
    assert "The check was interrupted; nothing was written." in english
