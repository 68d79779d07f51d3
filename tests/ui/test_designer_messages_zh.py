"""The engine's validation messages in the designer speak the designer's language: a Chinese
business analyst who makes an edit the engine refuses reads why in Chinese; an English one
reads the same problem in English."""

from __future__ import annotations

import html
from collections.abc import Callable

import httpx
import pytest

from appblocks.engine.users import create_user
from appblocks.views.designer_more_docs import check_edit
from tests.server.conftest import PASSWORD, Live

ZH_DESIGNER = "mei.designer"
EN_DESIGNER = "sam.designer"


@pytest.fixture(scope="module")
def designers(ui_live: Live) -> tuple[str, str]:
    """Two users with the platform role `designer`: one who chose Chinese, one English."""
    with ui_live.engine.begin() as conn:
        create_user(conn, ZH_DESIGNER, password=PASSWORD, roles=["designer"], locale="zh-CN")
        create_user(conn, EN_DESIGNER, password=PASSWORD, roles=["designer"], locale="en")
    return ZH_DESIGNER, EN_DESIGNER


def _new_app(client: httpx.Client, app: str) -> None:
    made = client.post("/designer/apps", data={"name": app, "label_en": app.title()})
    assert made.status_code == 303, made.text
    made = client.post(f"/designer/{app}/entities", data={"name": "item", "label_en": "Item"})
    assert made.status_code == 303, made.text


def _lookup_via_nothing(client: httpx.Client, app: str) -> httpx.Response:
    """A lookup through a link that is not there: the engine's validation refuses it."""
    return client.post(
        f"/designer/{app}/entities/item/fields",
        data={"original": "", "type": "lookup", "name": "via_nothing", "via": "ghost",
              "lookup_field": "name", "label_en": "Via nothing"},
    )  # fmt: skip


def test_designer_messages_a_refused_edit_reads_in_chinese(
    pages: Callable[..., httpx.Client], designers: tuple[str, str]
) -> None:
    chinese = pages(ZH_DESIGNER, "zh-CN")
    _new_app(chinese, "zh_msg_app")
    answer = _lookup_via_nothing(chinese, "zh_msg_app")
    assert answer.status_code == 422
    page = html.unescape(answer.text)
    assert "查找引用经由“ghost”\uff0c但它不是 item 的字段" in page, page
    assert "which is not a field of" not in page, "no English engine message is left"


def test_designer_messages_the_same_edit_reads_in_english_for_an_english_designer(
    pages: Callable[..., httpx.Client], designers: tuple[str, str]
) -> None:
    english = pages(EN_DESIGNER, "en")
    _new_app(english, "en_msg_app")
    answer = _lookup_via_nothing(english, "en_msg_app")
    assert answer.status_code == 422
    assert "lookup via 'ghost', which is not a field of item" in html.unescape(answer.text)


def test_designer_messages_a_document_editor_verdict_in_chinese_keeps_unfinished_apart() -> None:
    """The view/workflow/role editors' verdict: errors in the asked language, and an
    unreachable state (unfinished work) still only a warning whatever the language."""
    blueprint = {
        "blueprint": "flow_app",
        "version": "1.0.0",
        "entities": {"item": {"title": "name", "fields": {"name": {"type": "text"}}}},
    }
    workflow = {
        "entity": "item",
        "initial": "draft",
        "states": ["draft", "done", "lost"],
        "transitions": {"finish": {"from": "draft", "to": "closed"}},
    }
    verdict = check_edit("flow_app", blueprint, {}, "workflow", "flow", workflow, "zh-CN")
    errors = [f"{i.path}: {i.message}" for i in verdict.errors]
    assert errors == [
        "workflows.flow.transitions.finish.to: 流转“finish”到达“closed”\uff0c但它不是 flow 的状态"
    ]
    assert {i.path for i in verdict.warnings} == {
        "workflows.flow.states.1",
        "workflows.flow.states.2",
    }
    assert all("无法到达" in i.message for i in verdict.warnings)
    english = check_edit("flow_app", blueprint, {}, "workflow", "flow", workflow)
    assert [i.message for i in english.errors] == [
        "transition 'finish' goes to 'closed', which is not a state of flow"
    ]
    assert len(english.warnings) == 2
