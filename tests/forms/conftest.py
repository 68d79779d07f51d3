"""Specs for the form tests: a small order entity with lines, links, computed fields."""

from __future__ import annotations

from typing import Any

import pytest

from appblocks.engine.spec import AppSpecs, build_specs

SHOP: dict[str, Any] = {
    "blueprint": "shop",
    "entities": {
        "customer": {"title": "name", "fields": {"name": {"type": "text", "required": True}}},
        "product": {"title": "code", "fields": {"code": {"type": "text"}}},
        "order": {
            "title": "number",
            "fields": {
                "number": {"type": "autonumber", "format": "O-{seq:04}"},
                "customer": {"type": "link", "to": "customer", "required": True},
                "placed_on": {"type": "date"},
                "due_at": {"type": "datetime"},
                "rush": {"type": "boolean"},
                "status": {"type": "choice", "options": ["open", "closed"]},
                "tags": {"type": "multi_choice", "options": ["a", "b", "c"]},
                "secret": {"type": "text"},
                "approved_at": {"type": "datetime", "read_only": True},
                "notes": {"type": "long_text"},
                "meta": {"type": "json"},
                "discount": {"type": "percent"},
                "lines": {"type": "lines", "to": "order_line", "label": {"en": "Lines"}},
                "total": {"type": "money", "rollup": {"over": "lines", "agg": "sum", "field": "amount"}},
                "count": {"type": "integer", "rollup": {"over": "lines", "agg": "count"}},
                "attachment": {"type": "file"},
            },
            "rules": [{"when": "rush and placed_on is None", "field": "placed_on", "error": "x"}],
        },
        "order_line": {
            "fields": {
                "product": {"type": "link", "to": "product", "required": True},
                "quantity": {"type": "decimal", "min": 0},
                "unit_price": {"type": "money"},
                "amount": {"type": "money", "formula": "(quantity or 0) * (unit_price or 0)"},
            }
        },
    },
    "forms": {
        "quick": {
            "entity": "order",
            "sections": [
                {"title": {"en": "Quick"}, "columns": 3, "fields": [
                    "customer", {"field": "placed_on", "required": True, "label": "When"},
                    {"field": "status", "read_only": True}, "lines", "total",
                ]},
            ],
        }
    },
}  # fmt: skip


@pytest.fixture(scope="session")
def specs() -> AppSpecs:
    """The shop's entity specs."""
    return build_specs({"shop": SHOP})
