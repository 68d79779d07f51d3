"""The meta-schema check: every JSON Schema error of a blueprint, with a readable message."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from appblocks.engine.loader import KeyPath

SCHEMA_PACKAGE = "appblocks.engine.schemas"
BASE_URI = "https://appblocks.dev/schemas/"
KINDS = (
    "blueprint",
    "entity",
    "field",
    "form",
    "workflow",
    "view",
    "dashboard",
    "role",
    "automation",
    "data",
    "common",
)


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """Every meta-schema by kind, read once from the package."""
    folder = resources.files(SCHEMA_PACKAGE)
    return {kind: json.loads((folder / f"{kind}.json").read_text("utf-8")) for kind in KINDS}


@cache
def validator(kind: str = "blueprint") -> Draft202012Validator:
    """A validator for one document kind, with `$ref`s between the schema files resolved."""
    registry: Registry[Any] = Registry().with_resources(
        (f"{BASE_URI}{k}.json", Resource.from_contents(s, default_specification=DRAFT202012))
        for k, s in schemas().items()
    )
    schema = schemas()[kind]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


def schema_errors(doc: Any, kind: str = "blueprint") -> Iterator[tuple[KeyPath, str]]:
    """(key path, message) for every way `doc` breaks the meta-schema of `kind`."""
    for error in validator(kind).iter_errors(doc):
        yield from _explain(error)


_JSON_TYPES = {
    "string": "a text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}


def _explain(error: ValidationError) -> Iterator[tuple[KeyPath, str]]:
    path: KeyPath = tuple(error.absolute_path)
    kind = error.validator
    if kind in ("anyOf", "oneOf"):
        yield from _explain_alternatives(error)
        return
    if kind == "required":
        match = re.match(r"^'(.+)' is a required property$", error.message)
        missing = match.group(1) if match else str(error.validator_value)
        yield (*path, missing), f"'{missing}' is required here"
        return
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
                yield (*path, key), f"unknown key '{key}'{hint}"
        return
    if kind == "type":
        wanted = (
            error.validator_value
            if isinstance(error.validator_value, list)
            else [error.validator_value]
        )
        names = " or ".join(_JSON_TYPES.get(str(w), str(w)) for w in wanted)
        yield path, f"expected {names}, got {_show(error.instance)}"
        return
    if kind == "enum":
        options = ", ".join(str(v) for v in error.validator_value)
        yield path, f"{_show(error.instance)} is not one of: {options}"
        return
    if kind == "propertyNames":
        yield path, error.message
        return
    if kind in ("minItems", "minProperties") and not error.instance:
        yield path, "must not be empty"
        return
    if kind == "maxProperties" and error.validator_value == 1:
        yield path, f"give exactly one of: {', '.join(error.schema.get('properties', {}))}"
        return
    if kind in ("minimum", "maximum"):
        word = "at least" if kind == "minimum" else "at most"
        yield path, f"must be {word} {error.validator_value}"
        return
    if kind == "pattern":
        custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
        if custom:
            yield path, f"{_show(error.instance)} {custom}"
        else:
            yield (
                path,
                f"{_show(error.instance)} does not match the pattern {error.validator_value}",
            )
        return
    yield path, error.message


def _explain_alternatives(error: ValidationError) -> Iterator[tuple[KeyPath, str]]:
    """anyOf / oneOf: explain the branch the value was meant for (the one its type fits)."""
    path: KeyPath = tuple(error.absolute_path)
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    fitting = [
        errors
        for errors in by_branch.values()
        if not any(e.validator == "type" and not e.relative_path for e in errors)
    ]
    if len(fitting) == 1:
        for sub in fitting[0]:
            yield from _explain(sub)
        return
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if custom:
        yield path, str(custom)
        return
    best = best_match([error]) if fitting else None
    if best is not None and best is not error:
        yield from _explain(best)
    else:
        yield path, _expected_types(error)


def _expected_types(error: ValidationError) -> str:
    wanted: list[str] = []
    for sub in error.context or []:
        if sub.validator == "type" and not sub.relative_path:
            types = sub.validator_value
            for one in types if isinstance(types, list) else [types]:
                name = _JSON_TYPES.get(str(one), str(one))
                if name not in wanted:
                    wanted.append(name)
    expected = " or ".join(wanted) if wanted else "something else"
    return f"expected {expected}, got {_show(error.instance)}"


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 40 else f"'{value[:39]}…'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)
