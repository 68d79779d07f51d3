"""Blueprint validation messages in both languages: `message` stays the English the CLI and the
API show, `text("zh-CN")` says the same problem in Chinese for the designer."""

from __future__ import annotations

import textwrap

import pytest

from appblocks.engine.loader import BlueprintError, load_blueprint_text
from appblocks.engine.validate import validate_blueprint

BROKEN = textwrap.dedent(
    """
    blueprint: shop
    version: 1.0.0
    colour: blue
    entities:
      item:
        title: name
        fields:
          name: {type: text, required: true}
          weight: {type: foo}
          price: {type: money}
          total: {type: money, formula: "price * quantity"}
    workflows:
      item_flow:
        entity: item
        initial: draft
        states: [draft, done]
        transitions:
          finish: {from: draft, to: closed}
    automations:
      stamp:
        on: {entity: item, events: [created]}
        do:
          - notify: {roles: [ghosts], message: "New {nothing}"}
    """
)


def _errors() -> dict[str, BlueprintError]:
    loaded = load_blueprint_text(BROKEN, "shop.yaml")
    assert not loaded.errors
    return {e.path: e for e in validate_blueprint(loaded, {})}


# (key path, English as the CLI prints it, the zh-CN text)
EXPECTED = [
    ("colour", "unknown key 'colour' (allowed: ", "未知的键“colour”(可用:"),
    (
        "entities.item.fields.weight.type",
        "unknown field type 'foo' (known: text, long_text",
        "未知的字段类型“foo”(可用:text, long_text",
    ),
    (
        "entities.item.fields.total.formula",
        "formula names 'quantity', which is not a field of item",
        "formula 引用了“quantity”,它不是 item 的字段",
    ),
    (
        "workflows.item_flow.transitions.finish.to",
        "transition 'finish' goes to 'closed', which is not a state of item_flow",
        "流转“finish”到达“closed”,但它不是 item_flow 的状态",
    ),
    (
        "workflows.item_flow.states.1",
        "state 'done' cannot be reached from 'draft'",
        "从“draft”无法到达状态“done”",
    ),
    (
        "automations.stamp.do.0.notify.roles.0",
        "'ghosts' is not a role of shop (nor a platform role)",
        "“ghosts”不是 shop 的角色(也不是平台角色)",
    ),
    (
        "automations.stamp.do.0.notify.message",
        "placeholder '{nothing}': not a field of item",
        "占位符“{nothing}”:不是 item 的字段",
    ),
]


def _plain(text: str) -> str:
    """The zh-CN texts use full-width punctuation: the expectations are written plainly."""
    return text.translate(str.maketrans("\uff0c\uff1a\uff1b\uff08\uff09", ",:;()"))


@pytest.mark.parametrize(("path", "english", "chinese"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_messages_english_by_default_and_chinese_on_request(
    path: str, english: str, chinese: str
) -> None:
    errors = _errors()
    assert path in errors, sorted(errors)
    error = errors[path]
    assert error.message.startswith(english)
    assert error.text() == error.message == error.text("en")
    assert _plain(error.text("zh-CN")).startswith(chinese), error.text("zh-CN")
    assert str(error) == f"shop.yaml:{error.line}: {path}: {error.message}", "the CLI line"


def test_messages_a_schema_type_error_names_the_types_in_chinese() -> None:
    loaded = load_blueprint_text("blueprint: shop\nversion: 1.0.0\nentities: [a, b]\n", "s.yaml")
    (error,) = validate_blueprint(loaded, {})
    assert error.message == "expected a mapping, got a list"
    assert _plain(error.text("zh-CN")) == "应为映射,实际是 列表"


def test_messages_a_required_key_and_a_nested_reason() -> None:
    text = textwrap.dedent(
        """
        blueprint: shop
        version: 1.0.0
        entities:
          item:
            title: name
            fields:
              name: {type: text}
              maker: {type: link, to: crm.account}
        views:
          all_items: {type: list}
        """
    )
    errors = {e.path: e for e in validate_blueprint(load_blueprint_text(text, "s.yaml"), {})}
    missing = errors["views.all_items.entity"]
    assert missing.message == "'entity' is required here"
    assert missing.text("zh-CN") == "此处必须有“entity”"
    link = errors["entities.item.fields.maker.to"]
    assert (
        link.message == "links to 'crm.account', but crm is not in requires (add crm to requires)"
    )
    assert _plain(link.text("zh-CN")) == (
        "关联到“crm.account”,但 crm 不在 requires 中(请把 crm 加入 requires)"
    )


def test_messages_a_naming_rule_and_a_yaml_error_read_in_chinese() -> None:
    named = validate_blueprint(
        load_blueprint_text("blueprint: shop\nversion: 1.0.0\nentities:\n  select: {}\n"), {}
    )
    keyword = next(e for e in named if e.path == "entities.select")
    assert keyword.message == "'select' is an SQL keyword; choose another name"
    assert keyword.text("zh-CN").startswith("“select”是 SQL 保留字")
    broken = load_blueprint_text("blueprint: shop\nblueprint: again\n", "s.yaml")
    (duplicate,) = broken.errors
    assert duplicate.message == "duplicate key 'blueprint' (first at line 1)"
    assert _plain(duplicate.text("zh-CN")) == "键“blueprint”重复(首次在第 1 行)"


def test_messages_an_unknown_locale_and_a_plain_error_fall_back_to_english() -> None:
    plain = BlueprintError("a.yaml", 3, "x", "made elsewhere")
    assert plain.text("zh-CN") == "made elsewhere"
    errors = _errors()
    weight = errors["entities.item.fields.weight.type"]
    assert weight.text("fr") == weight.message
