"""Validate a blueprint: the meta-schemas first, then cross-checks on the parts that passed.

Every problem is reported at once, each as `file:line: key.path: message`. The checks live in
`validate_schema` (JSON Schema), `validate_entities` and `validate_fields` (manifest, entities,
fields), `validate_documents` (workflows, forms, views, dashboards, roles, automations) and
`validate_data` (seed records).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appblocks.engine.loader import BlueprintError, LoadedBlueprint, load_blueprint
from appblocks.engine.validate_automations import check_automations
from appblocks.engine.validate_context import Context
from appblocks.engine.validate_data import check_data
from appblocks.engine.validate_documents import (
    check_dashboards,
    check_document_names,
    check_forms,
    check_roles,
    check_views,
    check_workflows,
)
from appblocks.engine.validate_entities import check_entities, check_manifest
from appblocks.engine.validate_schema import schema_errors

CHECKS = (
    check_manifest,
    check_entities,
    check_document_names,
    check_workflows,
    check_forms,
    check_views,
    check_dashboards,
    check_roles,
    check_automations,
    check_data,
)


def validate_blueprint(
    loaded: LoadedBlueprint, installed: Mapping[str, Mapping[str, Any]] | None = None
) -> list[BlueprintError]:
    """Every problem of a loaded blueprint; `installed` maps app -> blueprint of installed apps."""
    errors: list[BlueprintError] = []
    bad_paths = []
    for path, message in schema_errors(loaded.doc):
        errors.append(loaded.error(path, message.template, **message.params))
        bad_paths.append(path)
    ctx = Context(loaded, installed, bad_paths)
    for check in CHECKS:
        check(ctx)
    return sort_errors(loaded, errors + ctx.errors)


def validate_path(
    path: str | Path, installed: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[LoadedBlueprint, list[BlueprintError]]:
    """Load and validate a blueprint folder or file; every error, sorted by file and line."""
    loaded = load_blueprint(path)
    errors = list(loaded.errors)
    # A file that did not parse leaves holes: checking the rest would report false problems.
    if loaded.complete:
        errors += validate_blueprint(loaded, installed)
    return loaded, sort_errors(loaded, errors)


def sort_errors(loaded: LoadedBlueprint, errors: list[BlueprintError]) -> list[BlueprintError]:
    """Errors in file load order, then by line; each reported once."""
    order = {name: index for index, name in enumerate(loaded.files)}
    unique = list(dict.fromkeys(errors))
    return sorted(unique, key=lambda e: (order.get(e.file, len(order)), e.file, e.line))
