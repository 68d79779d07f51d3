"""Every UI text has a zh-CN translation: templates and Python page code are scanned with
Babel's extractors, so a new English string without its Chinese fails here. The engine's
blueprint validation messages (templates marked N_ in platform/engine) are scanned too: each
needs its Chinese in engine.po, with the same {placeholders}."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from appblocks.engine.i18n import engine_catalog
from appblocks.server.web import catalog, gettext_for

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "tr": (2,), "N_": None}


def _messages() -> dict[str, str]:
    found: dict[str, str] = {}
    methods = [("**.html", "jinja2"), ("**.py", "python")]
    options = {"**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
    for folder in (
        ROOT / "ui" / "templates",
        ROOT / "platform" / "server",
        ROOT / "platform" / "views",
        ROOT / "platform" / "forms",
    ):
        for filename, lineno, message, _comments, _context in extract_from_dir(
            str(folder), method_map=methods, options_map=options, keywords=KEYWORDS
        ):
            for text in message if isinstance(message, tuple) else (message,):
                if text:
                    found.setdefault(text, f"{folder.name}/{filename}:{lineno}")
    return found


def _engine_templates() -> dict[str, str]:
    """The engine's message templates (N_ in platform/engine) -> where each is written."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "platform" / "engine"),
        method_map=[("**.py", "python")],
        keywords={"N_": None},
    ):
        if isinstance(message, str) and message:
            found.setdefault(message, f"engine/{filename}:{lineno}")
    return found


def _placeholders(text: str) -> list[str]:
    """`{name}`-style placeholders (and literal braces, which must stay too), in order."""
    return sorted(re.findall(r"\{[^{}]*\}", text))


def test_translations_every_engine_message_has_chinese_with_its_placeholders() -> None:
    templates = _engine_templates()
    assert len(templates) > 150, "the extractor found the validators' messages"
    assert "unknown field type '{type}' (known: {known})" in templates
    table = engine_catalog("zh-CN")
    missing = [
        f"{where}: {text!r}" for text, where in sorted(templates.items()) if text not in table
    ]
    assert not missing, "engine messages without zh-CN in engine.po:\n" + "\n".join(missing)
    differ = [
        f"{templates.get(en, 'engine.po')}: {en!r} -> {zh!r}"
        for en, zh in sorted(table.items())
        if _placeholders(en) != _placeholders(zh)
    ]
    assert not differ, "placeholders differ between en and zh-CN:\n" + "\n".join(differ)
    unused = sorted(set(table) - set(templates))
    assert not unused, f"engine.po has texts no code uses: {unused}"
    ui = catalog("zh-CN")
    assert all(ui.get(en) == zh for en, zh in table.items()), "engine.po loads with the others"


def test_translations_every_ui_text_has_chinese() -> None:
    messages = _messages()
    assert len(messages) > 20, "the extractor found the UI texts"
    table = catalog("zh-CN")
    missing = [
        f"{where}: {text!r}" for text, where in sorted(messages.items()) if text not in table
    ]
    assert not missing, "texts without a zh-CN translation:\n" + "\n".join(missing)


@pytest.mark.parametrize(("locale", "expected"), [("en", "Sign in"), ("zh-CN", "登录")])
def test_translations_gettext_by_locale(locale: str, expected: str) -> None:
    assert gettext_for(locale)("Sign in") == expected
