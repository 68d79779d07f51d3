"""Fixtures of the views tests: the shipped blueprints served on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.server.conftest import module_db_url, shipped

__all__ = ["module_db_url", "shipped"]
