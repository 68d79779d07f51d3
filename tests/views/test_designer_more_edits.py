"""The designer's pure edits: filter rows <-> filters, workflow states renamed and removed
everywhere they are named, permission grants ticked in either form, forms -> documents,
and the engine's verdict on an edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from appblocks.engine.loader import load_blueprint
from appblocks.views import designer_more_edits as edits
from appblocks.views.designer_more_docs import Schema, check_edit
from appblocks.views.designer_more_filters import FilterProblem, Row, filter_of, rows_of
from appblocks.views.designer_more_forms import view_body, widget_body, widget_form

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def srm() -> dict:
    return load_blueprint(ROOT / "blueprints" / "srm").doc


@pytest.fixture(scope="module")
def crm() -> dict:
    return load_blueprint(ROOT / "blueprints" / "crm").doc


@pytest.mark.parametrize(
    ("filt", "rows", "rest"),
    [
        ({"total": {"gte": 100}}, [Row("total", "gte", "100")], {}),
        ({"supplier.name": "$user.supplier"}, [Row("supplier.name", "eq", "$user.supplier")], {}),
        (
            {"_state": {"nin": ["closed", "cancelled"]}},
            [Row("_state", "nin", "closed, cancelled")],
            {},
        ),
        (
            {"or": [{"a": 1}], "b": {"isnull": True}},
            [Row("b", "isnull", "true")],
            {"or": [{"a": 1}]},
        ),
    ],
)
def test_filters_round_trip_through_rows(filt: dict, rows: list[Row], rest: dict) -> None:
    got_rows, got_rest = rows_of(filt)
    assert got_rows == rows and got_rest == rest
    assert filter_of(got_rows, got_rest) == filt


def test_filters_rows_type_their_values_and_refuse_a_bad_operator() -> None:
    rows = [
        Row("total", "gt", "1.5"),
        Row("flag", "eq", "false"),
        Row("name", "eq", "2024-01-01"),
        Row("", "eq", "x"),
    ]
    assert filter_of(rows) == {"total": {"gt": 1.5}, "flag": False, "name": "2024-01-01"}
    with pytest.raises(FilterProblem):
        filter_of([Row("total", "like", "1")])
    with pytest.raises(FilterProblem):
        filter_of([Row("total", "gt", "1"), Row("total", "gt", "2")])
    assert filter_of([]) is None


def test_edits_renaming_a_state_follows_it_everywhere(srm: dict) -> None:
    wf = srm["workflows"]["po_approval"]
    out = edits.set_state(wf, "pending", "in_approval", {"en": "In approval"})
    assert "pending" not in edits.state_names(out) and "in_approval" in edits.state_names(out)
    assert out["transitions"]["submit"]["to"] == "in_approval"
    assert "in_approval" in out["transitions"]["cancel"]["from"]
    assert "in_approval" in out["approvals"] and out["timers"][0]["in_state"] == "in_approval"
    assert wf["transitions"]["submit"]["to"] == "pending"  # the input is unchanged


def test_edits_removing_a_state_drops_arrows_into_it_and_trims_from_lists(srm: dict) -> None:
    wf = srm["workflows"]["po_approval"]
    out = edits.remove_state(wf, "cancelled")
    assert "cancel" not in out["transitions"]
    out = edits.remove_state(wf, "approved")
    assert "close" not in out["transitions"]
    assert out["transitions"]["cancel"]["from"] == ["draft", "pending"]
    assert "approved" not in out.get("on_enter", {})


def test_edits_moving_and_adding_states_keeps_labels() -> None:
    wf = {"states": ["a", {"name": "b", "label": {"en": "B"}}, "c"]}
    assert edits.state_names(edits.move_state(wf, "c", -1)) == ["a", "c", "b"]
    assert edits.state_names(edits.move_state(wf, "a", -1)) == ["a", "b", "c"]
    added = edits.add_state(wf, "d", {"zh-CN": "丁"})
    assert added["states"][-1] == {"name": "d", "label": {"zh-CN": "丁"}}


def test_edits_renaming_a_transition_renames_the_timer_that_runs_it(srm: dict) -> None:
    wf = srm["workflows"]["rfq_lifecycle"]
    body = dict(wf["transitions"]["close"])
    out = edits.put_transition(wf, "close", "close_bids", body)
    assert list(out["transitions"]).index("close_bids") == list(wf["transitions"]).index("close")
    assert out["timers"][0]["do"][0]["transition"]["name"] == "close_bids"


def test_edits_grants_tick_in_list_form_and_keep_rules_in_object_form(srm: dict) -> None:
    buyer = srm["roles"]["buyer"]
    out = edits.set_action(buyer, "supplier", "update", True)
    assert out["permissions"]["supplier"] == ["read", "update"]
    out = edits.set_action(buyer, "purchase_order", "delete", True)
    assert out["permissions"]["purchase_order"]["actions"][-1] == "delete"
    assert out["permissions"]["purchase_order"]["fields"]["submitted_at"] == "read"
    out = edits.set_action(buyer, "supplier", "read", False)
    assert "supplier" not in out["permissions"]
    ruled = edits.set_rules(
        buyer, "supplier", {"buyer": "$user"}, {"notes": "hidden", "name": "write"}
    )
    assert ruled["permissions"]["supplier"] == {
        "actions": ["read"], "where": {"buyer": "$user"}, "fields": {"notes": "hidden"},
    }  # fmt: skip
    assert edits.set_rules(ruled, "supplier", None, {})["permissions"]["supplier"] == ["read"]


def test_forms_view_and_widget_bodies() -> None:
    form = {"entity": "purchase_order", "type": "kanban", "label_en": "Board", "label_zh": "",
            "columns": ["supplier"], "sort": [("total", "desc"), ("number", "asc")],
            "group_by": "_state", "date_field": "order_date", "rows": [Row("total", "gt", "0")],
            "rest": ""}  # fmt: skip
    assert view_body(form) == {
        "entity": "purchase_order", "type": "kanban", "label": {"en": "Board"},
        "columns": ["supplier"], "filter": {"total": {"gt": 0}}, "sort": "-total,number",
        "group_by": "_state",
    }  # fmt: skip
    old = {"chart": "bar", "entity": "purchase_order", "series": [{"entity": "x"}]}
    wform = widget_form(old) | {
        "group_by": "supplier",
        "agg": "sum",
        "field": "total",
        "width": "6",
    }
    assert widget_body(wform, old) == {
        "chart": "bar", "entity": "purchase_order", "group_by": "supplier",
        "measure": {"sum": "total"}, "width": 6, "series": [{"entity": "x"}],
    }  # fmt: skip


def test_check_edit_refuses_a_condition_that_does_not_compile(srm: dict, crm: dict) -> None:
    wf = edits.add_state(srm["workflows"]["po_approval"], "on_hold")
    verdict = check_edit("srm", srm, {"crm": crm}, "workflow", "po_approval", wf)
    assert verdict.ok and any("cannot be reached" in w.message for w in verdict.warnings)
    bad = edits.put_transition(
        wf, None, "hold", {"from": "pending", "to": "on_hold", "when": "total >"}
    )
    verdict = check_edit("srm", srm, {"crm": crm}, "workflow", "po_approval", bad)
    assert [e.path for e in verdict.errors] == ["workflows.po_approval.transitions.hold.when"]
    assert "does not compile" in verdict.errors[0].message


def test_schema_offers_what_validation_accepts(srm: dict, crm: dict) -> None:
    schema = Schema("srm", srm, {"crm": crm}, "en")
    assert [f.name for f in schema.choice_fields("purchase_order")] == ["currency", "_state"]
    numbers = [f.name for f in schema.number_fields("purchase_order")]
    assert "total" in numbers and "supplier_risk" not in numbers and "order_date" not in numbers
    assert "supplier.name" in [f.name for f in schema.paths("purchase_order")]
    assert schema.states("purchase_order")[0] == "draft"
