"""Every UI text has a zh-CN translation: templates and Python page code are scanned with
Babel's extractors, so a new English string without its Chinese fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

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
