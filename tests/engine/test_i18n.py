"""Every engine message code has a zh-CN text, and the language is negotiated sensibly."""

from __future__ import annotations

import string

import pytest

from appblocks.engine.i18n import ZH_CN, negotiate, translate
from appblocks.engine.record_errors import MESSAGES


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_code_has_a_chinese_text_with_the_same_placeholders(code: str) -> None:
    assert code in ZH_CN, f"no zh-CN text for {code}"
    assert _fields(ZH_CN[code]) == _fields(MESSAGES[code])


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (("zh-CN",), "zh-CN"),
        ((None, None, "zh-TW,zh;q=0.9,en;q=0.8"), "zh-CN"),
        ((None, "en", "zh-CN"), "en"),
        (("fr-FR, de;q=0.5",), "en"),
        ((None, None, None), "en"),
    ],
)
def test_negotiate_picks_the_first_supported(
    candidates: tuple[str | None, ...], expected: str
) -> None:
    assert negotiate(*candidates) == expected


def test_translate_renders_params_in_both_languages() -> None:
    params = {"entity": "srm.supplier", "id": 7}
    assert translate("not_found", params, "en") == "srm.supplier 7 does not exist"
    assert translate("not_found", params, "zh-CN") == "srm.supplier 7 不存在"
