"""The designer's view, dashboard, workflow and role editors in a browser, in en and zh-CN:
each edit lands in admin1's draft of SRM (read back through the engine's draft functions),
a refused edit shows the engine's message in place and leaves the draft as it was.

Each test starts from no draft and discards the one it made, so the shared server's SRM
stays as shipped for the other tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from appblocks.engine import drafts
from tests.server.conftest import Live
from tests.ui.conftest import SCREENS, shot

LOCALES = ["en", "zh-CN"]


def _shot(page: Any, name: str) -> None:
    """A full-page screenshot from the top (sticky bars stay where a reader sees them)."""
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, name)


def _add_row(page: Any, builder: str) -> Any:
    """Press the filter builder's "Add condition" and wait for the new, empty row."""
    rows = page.locator(f"#{builder} tbody tr")
    count = rows.count()
    page.click(f"#{builder}-add")
    expect(rows).to_have_count(count + 1)
    return rows.last


def _discard(live: Live, user: str = "admin1") -> None:
    with live.engine.begin() as conn:
        for draft in drafts.list_drafts(conn, "srm"):
            if draft.actor == user:
                drafts.discard(conn, draft.id)


@pytest.fixture
def clean_draft(ui_live: Live) -> Iterator[Callable[[str, str], Any]]:
    """`document(kind, name)`: admin1's SRM draft's document now (None without a draft)."""
    _discard(ui_live)

    def document(kind: str, name: str) -> Any:
        with ui_live.engine.begin() as conn:
            mine = [d for d in drafts.list_drafts(conn, "srm") if d.actor == "admin1"]
            return mine[0].document(kind, name) if mine else None

    yield document
    _discard(ui_live)


@pytest.mark.parametrize("locale", LOCALES)
def test_designer_more_kanban_view_grouped_by_state(
    signed_in: Callable[..., Any], clean_draft: Callable[[str, str], Any], locale: str
) -> None:
    page = signed_in("admin1", locale)
    page.goto("/designer/srm/views")
    page.fill("#nv-name", "po_by_state")
    page.select_option("#nv-entity", "purchase_order")
    page.select_option("#nv-type", "kanban")
    page.fill("#nv-label-en", "Orders by state")
    page.fill("#nv-label-zh", "订单按状态")
    page.locator("#new-view button[type=submit]").click()
    page.wait_for_url("**/designer/srm/views/po_by_state")
    page.select_option("#v-group", "_state")
    page.click("#view-save")
    expect(page.locator("#view-editor .flash.success")).to_be_visible()
    view = clean_draft("view", "po_by_state")
    assert view["type"] == "kanban" and view["entity"] == "purchase_order"
    assert view["group_by"] == "_state"
    assert view["label"] == {"en": "Orders by state", "zh-CN": "订单按状态"}
    # The draft bar counts the two edits (create, then group by state).
    expect(page.locator("#draft-bar")).to_contain_text("2")
    _shot(page, f"designer_more_view_{locale}")


@pytest.mark.parametrize("locale", LOCALES)
def test_designer_more_view_filter_builder_writes_the_filter_language(
    signed_in: Callable[..., Any], clean_draft: Callable[[str, str], Any], locale: str
) -> None:
    page = signed_in("admin1", locale)
    page.goto("/designer/srm/views/open_pos")
    row = _add_row(page, "v-filter")
    row.locator("input[name=f_path]").fill("total")
    row.locator("select[name=f_op]").select_option("gte")
    row.locator("input[name=f_value]").fill("1000")
    page.click("#view-save")
    expect(page.locator("#view-editor .flash.success")).to_be_visible()
    view = clean_draft("view", "open_pos")
    assert view["filter"] == {"_state": {"nin": ["closed", "cancelled"]}, "total": {"gte": 1000}}
    # A field that is not on the entity is refused with the engine's message; nothing changes.
    row = _add_row(page, "v-filter")
    row.locator("input[name=f_path]").fill("no_such_field")
    row.locator("input[name=f_value]").fill("1")
    page.click("#view-save")
    expect(page.locator("#v-filter .dm-errors")).to_contain_text("no_such_field")
    expect(row.locator("input[name=f_path]")).to_have_value("no_such_field")
    assert "no_such_field" not in clean_draft("view", "open_pos")["filter"]


@pytest.mark.parametrize("locale", LOCALES)
def test_designer_more_dashboard_bar_widget_of_total_by_supplier(
    signed_in: Callable[..., Any], clean_draft: Callable[[str, str], Any], locale: str
) -> None:
    page = signed_in("admin1", locale)
    page.goto("/designer/srm/dashboards/spend")
    before = page.locator("li.dm-widget").count()
    page.select_option("#aw-chart", "bar")
    page.select_option("#aw-entity", "purchase_order")
    page.fill("#aw-title-en", "Order value by supplier")
    page.fill("#aw-title-zh", "各供应商订单金额")
    page.click("#aw-submit")
    expect(page.locator("li.dm-widget")).to_have_count(before + 1)
    index = before
    page.select_option(f"#w{index}-group", "supplier")
    page.select_option(f"#w{index}-agg", "sum")
    page.select_option(f"#w{index}-field", "total")
    page.fill(f"#w{index}-width", "6")
    page.click(f"#w{index}-save")
    expect(page.locator(f"#widget-{index} .dm-widget-sub")).to_contain_text("6/12")
    widget = clean_draft("dashboard", "spend")["widgets"][index]
    assert widget == {
        "chart": "bar",
        "title": {"en": "Order value by supplier", "zh-CN": "各供应商订单金额"},
        "entity": "purchase_order",
        "group_by": "supplier",
        "measure": {"sum": "total"},
        "width": 6,
    }
    # The keyboard's way to reorder: the new widget moves up one place.
    page.click(f"#w-up-{index}")
    expect(page.locator(f"#widget-{index - 1} .dm-widget-title")).to_contain_text(
        "Order value by supplier" if locale == "en" else "各供应商订单金额"
    )
    assert clean_draft("dashboard", "spend")["widgets"][index - 1]["chart"] == "bar"
    _shot(page, f"designer_more_dashboard_{locale}")


@pytest.mark.parametrize("locale", LOCALES)
def test_designer_more_workflow_state_and_transition_grow_the_diagram(
    signed_in: Callable[..., Any], clean_draft: Callable[[str, str], Any], locale: str
) -> None:
    page = signed_in("admin1", locale)
    page.goto("/designer/srm/workflows/po_approval")
    boxes, arrows = page.locator("svg g.dm-state"), page.locator("svg g.dm-arrow")
    expect(boxes).to_have_count(5)
    arrow_count = arrows.count()
    page.locator("#add-state > summary, details.dm-add > summary").first.click()
    page.fill("#new-state-name", "on_hold")
    page.fill("#ns-label-en", "On hold")
    page.fill("#ns-label-zh", "暂停")
    page.click("#add-state-submit")
    expect(page.locator('svg g.dm-state[data-state="on_hold"]')).to_be_visible()
    expect(boxes).to_have_count(6)
    # Not reached by any arrow yet: allowed as a step, shown as unfinished.
    expect(page.locator('svg g.dm-state.unreachable[data-state="on_hold"]')).to_have_count(1)
    expect(page.locator(".dm-warnings")).to_contain_text("on_hold")

    page.locator("#transition-new > summary").click()
    form = page.locator("#transition-new form")
    page.fill("#t-new-name", "hold")
    page.fill("#t-new-label-en", "Put on hold")
    page.fill("#t-new-label-zh", "暂停审批")
    form.locator('input[name=from][value="pending"]').check()
    page.select_option("#t-new-to", "on_hold")
    form.locator('input[name=roles][value="purchasing_manager"]').check()
    page.fill("#t-new-when", "total >")
    page.click("#t-new-submit")
    # The sandbox's compile error, in place; what was typed stays; the draft has no `hold`.
    compile_error = "表达式无法编译" if locale == "zh-CN" else "does not compile"
    expect(page.locator("#transition-new .dm-errors")).to_contain_text(compile_error)
    expect(page.locator("#t-new-when")).to_have_value("total >")
    expect(page.locator("#t-new-name")).to_have_value("hold")
    assert "hold" not in clean_draft("workflow", "po_approval")["transitions"]
    expect(arrows).to_have_count(arrow_count)
    _shot(page, f"designer_more_workflow_refused_{locale}")

    page.fill("#t-new-when", "total > 0")
    page.click("#t-new-submit")
    arrow = page.locator('svg g.dm-arrow[data-transition="hold"]')
    expect(arrow).to_be_visible()
    expect(arrow).to_have_attribute("data-from", "pending")
    expect(arrow).to_have_attribute("data-to", "on_hold")
    expect(arrows).to_have_count(arrow_count + 1)
    expect(page.locator('svg g.dm-state.unreachable[data-state="on_hold"]')).to_have_count(0)
    workflow = clean_draft("workflow", "po_approval")
    assert {"name": "on_hold", "label": {"en": "On hold", "zh-CN": "暂停"}} in workflow["states"]
    assert workflow["transitions"]["hold"] == {
        "from": "pending",
        "to": "on_hold",
        "roles": ["purchasing_manager"],
        "when": "total > 0",
        "label": {"en": "Put on hold", "zh-CN": "暂停审批"},
    }
    # The same facts as a table for screen readers.
    expect(page.locator("#wf-editor .sr-only table")).to_contain_text("total > 0")
    _shot(page, f"designer_more_workflow_{locale}")
    page.locator("#wf-diagram").screenshot(
        path=str(SCREENS / f"designer_more_diagram_{locale}.png")
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_designer_more_permission_matrix_and_record_rule(
    signed_in: Callable[..., Any], clean_draft: Callable[[str, str], Any], locale: str
) -> None:
    page = signed_in("admin1", locale)
    page.goto("/designer/srm/roles")
    box = page.locator("#cb-finance-supplier-update")
    expect(box).not_to_be_checked()
    with page.expect_response(lambda r: r.url.endswith("/roles/finance/grant")) as answer:
        box.check()
    assert answer.value.status == 200
    expect(page.locator("#cb-finance-supplier-update")).to_be_checked()
    assert clean_draft("role", "finance")["permissions"]["supplier"] == ["read", "update"]

    page.locator('a[hx-get="/designer/srm/roles/finance/rules/supplier"]').click()
    expect(page.locator("#rule-title")).to_be_visible()
    row = _add_row(page, "rule-filter")
    row.locator("input[name=f_path]").fill("buyer")
    row.locator("input[name=f_value]").fill("$user")
    page.locator('input[name="field_notes"][value="hidden"]').check()
    page.click("#rule-save")
    expect(page.locator("#rule-panel .flash.success")).to_be_visible()
    assert clean_draft("role", "finance")["permissions"]["supplier"] == {
        "actions": ["read", "update"],
        "where": {"buyer": "$user"},
        "fields": {"notes": "hidden"},
    }
    # The matrix shows the role has a rule there now.
    expect(
        page.locator('a.dm-rule.on[hx-get="/designer/srm/roles/finance/rules/supplier"]')
    ).to_have_count(1)
    _shot(page, f"designer_more_roles_{locale}")
    page.locator("#matrix-wrap").screenshot(
        path=str(SCREENS / f"designer_more_matrix_{locale}.png")
    )


def test_designer_more_record_rule_on_a_missing_field_is_refused(
    signed_in: Callable[..., Any], clean_draft: Callable[[str, str], Any]
) -> None:
    page = signed_in("admin1", "en")
    page.goto("/designer/srm/roles?role=cfo&entity=supplier")
    row = _add_row(page, "rule-filter")
    row.locator("input[name=f_path]").fill("not_a_field")
    row.locator("input[name=f_value]").fill("$user")
    page.click("#rule-save")
    expect(page.locator("#rule-filter .dm-errors")).to_contain_text("not_a_field")
    assert clean_draft("role", "cfo") is None  # no draft was even opened
