"""The three-way merge of schema documents: what each combination of changes gives."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from appblocks.engine.catalog import Doc
from appblocks.engine.merge import MISSING, Conflict, merge_documents, merge_values

ENTITY: dict[str, Any] = {
    "label": {"en": "Supplier", "zh-CN": "供应商"},
    "title": "name",
    "fields": {
        "name": {"type": "text", "label": {"en": "Name", "zh-CN": "名称"}, "max_length": 200},
        "code": {"type": "text", "label": {"en": "Code", "zh-CN": "编码"}},
        "risk": {"type": "choice", "options": ["low", "medium", "high"]},
    },
    "rules": [{"when": "code == ''", "error": "no code"}],
}
WORKFLOW: dict[str, Any] = {
    "entity": "purchase_order",
    "initial": "draft",
    "states": [
        {"name": "draft", "label": {"en": "Draft"}},
        {"name": "pending", "label": {"en": "Pending"}},
        {"name": "approved", "label": {"en": "Approved"}},
    ],
    "transitions": {"submit": {"from": "draft", "to": "pending", "roles": ["buyer"]}},
}


def changed(base: dict[str, Any], *edits: tuple[tuple[str | int, ...], Any]) -> dict[str, Any]:
    """A deep copy of `base` with each (path, value) set; MISSING deletes the key."""
    out = copy.deepcopy(base)
    for path, value in edits:
        node = out
        for key in path[:-1]:
            node = node[key]
        if value is MISSING:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return out


ADDED_A = {"type": "integer", "label": {"en": "Rating"}}
ADDED_B = {"type": "decimal", "label": {"en": "Rating"}}

# (case, ours, theirs, expected merge or None on conflict, conflicting paths)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any] | None, list[str]]] = [
    (
        "only ours changed",
        changed(ENTITY, (("fields", "code", "label", "en"), "Vendor code")),
        ENTITY,
        changed(ENTITY, (("fields", "code", "label", "en"), "Vendor code")),
        [],
    ),
    (
        "only theirs changed",
        ENTITY,
        changed(ENTITY, (("fields", "name", "max_length"), 250)),
        changed(ENTITY, (("fields", "name", "max_length"), 250)),
        [],
    ),
    (
        "the same change on both sides",
        changed(ENTITY, (("fields", "code", "label", "en"), "Vendor code")),
        changed(ENTITY, (("fields", "code", "label", "en"), "Vendor code")),
        changed(ENTITY, (("fields", "code", "label", "en"), "Vendor code")),
        [],
    ),
    (
        "different keys of one field",
        changed(ENTITY, (("fields", "code", "label", "en"), "Vendor code")),
        changed(ENTITY, (("fields", "code", "label", "zh-CN"), "供应商代码")),
        changed(
            ENTITY,
            (("fields", "code", "label", "en"), "Vendor code"),
            (("fields", "code", "label", "zh-CN"), "供应商代码"),
        ),
        [],
    ),
    (
        "a field added on each side",
        changed(ENTITY, (("fields", "priority"), {"type": "text"})),
        changed(ENTITY, (("fields", "incoterm"), {"type": "text"})),
        changed(
            ENTITY,
            (("fields", "priority"), {"type": "text"}),
            (("fields", "incoterm"), {"type": "text"}),
        ),
        [],
    ),
    (
        "different changes to one value",
        changed(ENTITY, (("fields", "code", "label", "en"), "Vendor code")),
        changed(ENTITY, (("fields", "code", "label", "en"), "Supplier code")),
        None,
        ["fields.code.label.en"],
    ),
    (
        "deleted here, modified upstream",
        changed(ENTITY, (("fields", "code"), MISSING)),
        changed(ENTITY, (("fields", "code", "max_length"), 32)),
        None,
        ["fields.code"],
    ),
    (
        "modified here, deleted upstream",
        changed(ENTITY, (("fields", "code", "max_length"), 40)),
        changed(ENTITY, (("fields", "code"), MISSING)),
        None,
        ["fields.code"],
    ),
    (
        "deleted on one side, untouched on the other",
        changed(ENTITY, (("fields", "risk"), MISSING)),
        ENTITY,
        changed(ENTITY, (("fields", "risk"), MISSING)),
        [],
    ),
    (
        "the same field added on both sides with different bodies",
        changed(ENTITY, (("fields", "rating"), ADDED_A)),
        changed(ENTITY, (("fields", "rating"), ADDED_B)),
        None,
        ["fields.rating"],
    ),
    (
        "the same field added on both sides alike",
        changed(ENTITY, (("fields", "rating"), ADDED_A)),
        changed(ENTITY, (("fields", "rating"), copy.deepcopy(ADDED_A))),
        changed(ENTITY, (("fields", "rating"), ADDED_A)),
        [],
    ),
    (
        "an option added on each side",
        changed(ENTITY, (("fields", "risk", "options"), ["low", "medium", "high", "critical"])),
        changed(ENTITY, (("fields", "risk", "options"), ["none", "low", "medium", "high"])),
        changed(
            ENTITY, (("fields", "risk", "options"), ["none", "low", "medium", "high", "critical"])
        ),
        [],
    ),
    (
        "a rule added here, another rule edited upstream",
        changed(ENTITY, (("rules",), [*ENTITY["rules"], {"when": "x", "error": "y"}])),
        changed(ENTITY, (("rules",), [{"when": "code == ''", "error": "a code, please"}])),
        changed(
            ENTITY,
            (
                ("rules",),
                [{"when": "code == ''", "error": "a code, please"}, {"when": "x", "error": "y"}],
            ),
        ),
        [],
    ),
    (
        "one rule edited differently on both sides",
        changed(ENTITY, (("rules",), [{"when": "code == ''", "error": "mine"}])),
        changed(ENTITY, (("rules",), [{"when": "code == ''", "error": "theirs"}])),
        None,
        ["rules"],
    ),
]


@pytest.mark.parametrize(
    ("ours", "theirs", "expected", "paths"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_merge_of_one_document(
    ours: dict[str, Any], theirs: dict[str, Any], expected: dict[str, Any] | None, paths: list[str]
) -> None:
    conflicts: list[Conflict] = []
    merged = merge_values(ENTITY, ours, theirs, conflicts=conflicts)
    assert [c.path for c in conflicts] == paths
    if expected is not None:
        assert merged == expected
        # and the merged document keeps field order: ours first, then their additions in place
        assert list(merged["fields"]) == list(expected["fields"])


def _states(*names: str) -> list[dict[str, Any]]:
    by_name = {s["name"]: s for s in WORKFLOW["states"]}
    return [copy.deepcopy(by_name.get(n, {"name": n})) for n in names]


ORDER_CASES = [
    (
        "a state added on each side, both in place",
        _states("draft", "review", "pending", "approved"),
        _states("draft", "pending", "approved", "closed"),
        ["draft", "review", "pending", "approved", "closed"],
    ),
    (
        "reordered here, a state added upstream",
        _states("draft", "approved", "pending"),
        _states("draft", "pending", "approved", "closed"),
        ["draft", "approved", "pending", "closed"],
    ),
    (
        "reordered upstream, a state added here",
        _states("draft", "pending", "approved", "review"),
        _states("pending", "draft", "approved"),
        ["pending", "draft", "approved", "review"],
    ),
    (
        "reordered differently on both sides",
        _states("approved", "draft", "pending"),
        _states("pending", "draft", "approved"),
        None,
    ),
    (
        "the same reordering on both sides",
        _states("pending", "draft", "approved"),
        _states("pending", "draft", "approved"),
        ["pending", "draft", "approved"],
    ),
]


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"), [c[1:] for c in ORDER_CASES], ids=[c[0] for c in ORDER_CASES]
)
def test_merge_of_workflow_states_keeps_a_sensible_order(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]], expected: list[str] | None
) -> None:
    conflicts: list[Conflict] = []
    merged = merge_values(
        WORKFLOW,
        changed(WORKFLOW, (("states",), ours)),
        changed(WORKFLOW, (("states",), theirs)),
        conflicts=conflicts,
    )
    if expected is None:
        assert [(c.code, c.path) for c in conflicts] == [("order", "states")]
    else:
        assert not conflicts
        assert [s["name"] for s in merged["states"]] == expected


def test_merge_of_named_list_items_goes_into_the_item() -> None:
    ours = changed(WORKFLOW, (("states", 1, "label", "en"), "Waiting"))
    theirs = changed(WORKFLOW, (("states", 1, "label", "en"), "Awaiting approval"))
    conflicts: list[Conflict] = []
    merge_values(WORKFLOW, ours, theirs, keys=("workflows", "po"), conflicts=conflicts)
    (conflict,) = conflicts
    assert conflict.path == "workflows.po.states[pending].label.en"
    assert (conflict.ancestor, conflict.ours, conflict.theirs) == (
        "Pending",
        "Waiting",
        "Awaiting approval",
    )
    assert '"Waiting"' in conflict.message() and '"Awaiting approval"' in conflict.message()
    assert "新版本" in conflict.message("zh-CN")


def _docs(**bodies: Any) -> list[Doc]:
    out = [
        Doc(
            "blueprint",
            "srm",
            "srm",
            bodies.pop("manifest", {"blueprint": "srm", "version": "1.0.0"}),
        )
    ]
    return out + [Doc("entity", "srm", name, body) for name, body in bodies.items()]


def test_merge_documents_returns_the_custom_layer_over_the_new_base() -> None:
    ancestor = _docs(supplier=ENTITY, material={"fields": {"code": {"type": "text"}}})
    ours = _docs(
        manifest={"blueprint": "srm", "version": "1.0.0", "title": "My SRM"},
        supplier=changed(ENTITY, (("fields", "code", "label", "en"), "Vendor code")),
        material={"fields": {"code": {"type": "text"}}},
        site={"fields": {"name": {"type": "text"}}},  # a document only the customisation has
    )
    theirs = _docs(
        manifest={"blueprint": "srm", "version": "1.1.0"},
        supplier=changed(ENTITY, (("fields", "city"), {"type": "text"})),
        material={"fields": {"code": {"type": "text", "max_length": 40}}},
    )
    result = merge_documents(ancestor, ours, theirs)
    assert result.ok and not result.removed
    merged = {(d.kind, d.name): d.body for d in result.documents}
    assert merged[("blueprint", "srm")] == {
        "blueprint": "srm",
        "version": "1.1.0",
        "title": "My SRM",
    }
    assert merged[("entity", "supplier")]["fields"]["code"]["label"]["en"] == "Vendor code"
    assert "city" in merged[("entity", "supplier")]["fields"]
    assert merged[("entity", "material")]["fields"]["code"]["max_length"] == 40
    # the custom layer holds exactly the documents that differ from the new base
    assert sorted(d.name for d in result.custom) == ["site", "srm", "supplier"]


def test_merge_documents_reports_a_document_deleted_upstream_but_customised() -> None:
    ancestor = _docs(supplier=ENTITY, material={"fields": {"code": {"type": "text"}}})
    ours = _docs(
        supplier=ENTITY, material={"fields": {"code": {"type": "text"}, "x": {"type": "text"}}}
    )
    theirs = _docs(supplier=ENTITY)
    result = merge_documents(ancestor, ours, theirs)
    assert [(c.code, c.path) for c in result.conflicts] == [("deleted_theirs", "entities.material")]


def test_merge_documents_keeps_a_document_deleted_by_the_customisation_deleted() -> None:
    material = {"fields": {"code": {"type": "text"}}}
    ancestor = _docs(supplier=ENTITY, material=material)
    ours = _docs(supplier=ENTITY)  # the customisation deleted material (a tombstone)
    theirs = _docs(
        supplier=changed(ENTITY, (("fields", "city"), {"type": "text"})), material=material
    )
    result = merge_documents(ancestor, ours, theirs)
    assert result.ok and result.removed == [("entity", "material")]
    assert "material" not in {d.name for d in result.documents}
    # the custom layer hides the new base's material with a tombstone
    assert [(d.name, d.body) for d in result.custom if d.name == "material"] == [("material", None)]


def test_merge_documents_reports_a_deleted_document_changed_upstream() -> None:
    ancestor = _docs(supplier=ENTITY)
    theirs = _docs(
        supplier=changed(
            ENTITY,
            (("fields", "code", "label", "en"), "Supplier code"),
            (("fields", "city"), {"type": "text"}),
        )
    )
    result = merge_documents(ancestor, _docs(), theirs)
    (conflict,) = result.conflicts
    assert (conflict.code, conflict.path) == ("deleted_document", "entities.supplier")
    assert conflict.message() == (
        "entities.supplier: deleted by the customisation, but the new version changes it "
        "(fields.code.label.en, fields.city)"
    )
    assert (
        conflict.detail("zh-CN")
        == "定制中已删除此文档,但新版本修改了它(fields.code.label.en, fields.city)"
    )
    assert conflict.as_dict()["ours"] is None
