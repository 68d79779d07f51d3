"""The workflow diagram's layout: every state boxed once, no boxes overlapping, an arrow per
transition and `from` state (and per approval outcome), back-edges and loops drawn."""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from appblocks.views.designer_more_layout import Box, columns_of, edges_of, layout, text_width

ROOT = Path(__file__).resolve().parents[2]


def _shipped_workflows() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for app in ("srm", "crm"):
        doc = yaml.safe_load((ROOT / "blueprints" / app / "workflows.yaml").read_text("utf-8"))
        out += [(f"{app}.{name}", wf) for name, wf in doc["workflows"].items()]
    return out


def _overlap(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def _expected_arrows(wf: dict[str, Any]) -> int:
    count = 0
    for tr in wf["transitions"].values():
        count += 1 if isinstance(tr["from"], str) else len(tr["from"])
    for approval in (wf.get("approvals") or {}).values():
        count += sum(1 for key in ("approve_to", "reject_to") if approval.get(key))
    return count


@pytest.mark.parametrize(
    ("name", "wf"), _shipped_workflows(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_layout_shipped_workflows_place_every_state_without_overlap(
    name: str, wf: dict[str, Any]
) -> None:
    diagram = layout(wf, "zh-CN")
    names = [s["name"] if isinstance(s, dict) else s for s in wf["states"]]
    assert [b.name for b in sorted(diagram.boxes, key=lambda b: names.index(b.name))] == names
    for a, b in combinations(diagram.boxes, 2):
        assert not _overlap(a, b), f"{name}: {a.name} overlaps {b.name}"
    for box in diagram.boxes:
        assert 0 <= box.x and box.x + box.w <= diagram.width
        assert 0 <= box.y and box.y + box.h <= diagram.height
    assert len(diagram.arrows) == _expected_arrows(wf)
    assert diagram.box(wf["initial"]).initial and diagram.box(wf["initial"]).column == 0
    top, bottom = min(b.y for b in diagram.boxes), max(b.y + b.h for b in diagram.boxes)
    for arrow in diagram.arrows:
        if arrow.shape == "back":  # routed around the boxes, never through them
            assert arrow.label_y < top or arrow.label_y > bottom, (name, arrow.name)


def test_layout_columns_follow_breadth_first_distance_from_the_initial_state() -> None:
    wf = {
        "initial": "a",
        "states": ["d", "c", "b", "a"],
        "transitions": {"ab": {"from": "a", "to": "b"}, "bc": {"from": "b", "to": "c"},
                        "ac": {"from": "a", "to": "d"}},
    }  # fmt: skip
    columns = columns_of(["d", "c", "b", "a"], "a", edges_of(wf))
    assert columns == {"a": 0, "b": 1, "d": 1, "c": 2}
    diagram = layout(wf)
    assert diagram.box("a").x < diagram.box("b").x < diagram.box("c").x
    assert diagram.box("b").x == diagram.box("d").x
    # Inside a column, the document's order: d is listed before b.
    assert diagram.box("d").y < diagram.box("b").y


def test_layout_unreached_states_get_a_last_column_and_are_marked() -> None:
    wf = {
        "initial": "draft",
        "states": ["draft", "done", "lost"],
        "transitions": {"finish": {"from": "draft", "to": "done"}},
    }
    diagram = layout(wf)
    lost = diagram.box("lost")
    assert not lost.reachable and diagram.box("done").reachable
    assert lost.column == 2 and lost.x > diagram.box("done").x


def test_layout_back_edges_run_under_the_boxes_and_loops_over_them() -> None:
    wf = {
        "initial": "draft",
        "states": ["draft", "review", "done"],
        "transitions": {
            "submit": {"from": "draft", "to": "review"},
            "send_back": {"from": "review", "to": "draft", "label": {"en": "Send back"}},
            "remind": {"from": "review", "to": "review"},
            "finish": {"from": ["draft", "review"], "to": "done"},
        },
    }
    diagram = layout(wf)
    shapes = {(a.name, a.source): a.shape for a in diagram.arrows}
    assert shapes[("send_back", "review")] == "back"
    assert shapes[("remind", "review")] == "loop"
    assert shapes[("submit", "draft")] == "forward"
    lowest_box = max(b.y + b.h for b in diagram.boxes)
    highest_box = min(b.y for b in diagram.boxes)
    back = next(a for a in diagram.arrows if a.name == "send_back")
    # Over or under every box: review has done below it, so over.
    assert back.label == "Send back" and back.label_y < highest_box
    loop = next(a for a in diagram.arrows if a.name == "remind")
    review = diagram.box("review")
    assert loop.label_y < review.y  # over the box
    ys = [float(v) for v in re.findall(r"-?\d+\.?\d*", loop.d)[1::2]]
    assert min(ys) < review.y
    # finish from two states: two arrows, both ending at done
    assert sorted(a.source for a in diagram.arrows if a.name == "finish") == ["draft", "review"]
    assert 0 < back.label_y - 8 and lowest_box + 12 <= diagram.height


def test_layout_approval_outcomes_are_arrows_of_their_own_kind() -> None:
    wf = {
        "initial": "draft",
        "states": ["draft", "pending", "approved"],
        "transitions": {"submit": {"from": "draft", "to": "pending"}},
        "approvals": {"pending": {"approve_to": "approved", "reject_to": "draft", "levels": []}},
    }
    diagram = layout(wf, outcomes={"approve": "批准", "reject": "驳回"})
    kinds = {a.kind: a for a in diagram.arrows}
    assert kinds["approve"].target == "approved" and kinds["approve"].label == "批准"
    assert kinds["reject"].shape == "back"
    assert diagram.box("pending").approval


def test_layout_labels_in_chinese_are_wider_than_latin_of_the_same_length() -> None:
    assert text_width("采购订单") > text_width("abcd")
    wf = {"initial": "a", "states": [{"name": "a", "label": {"zh-CN": "供应商确认中的很长的状态名称"}}],
          "transitions": {"t": {"from": "a", "to": "a"}}}  # fmt: skip
    box = layout(wf, "zh-CN").box("a")
    assert box.w > 112


def test_layout_ignores_arrows_to_states_that_do_not_exist() -> None:
    wf = {"initial": "a", "states": ["a"], "transitions": {"t": {"from": "a", "to": "nowhere"}}}
    diagram = layout(wf)
    assert len(diagram.boxes) == 1 and diagram.arrows == []
