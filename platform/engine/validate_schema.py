"""The meta-schema check: every JSON Schema error of a blueprint, with a readable message.

Messages are Messages (an English template and parameters) built from the error's validator
and params, so they read in zh-CN too; a validator without its own wording keeps jsonschema's
English text (`{detail}`)."""

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

from appblocks.engine.i18n import N_, Message
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


def schema_errors(doc: Any, kind: str = "blueprint") -> Iterator[tuple[KeyPath, Message]]:
    """(key path, message) for every way `doc` breaks the meta-schema of `kind`."""
    for error in validator(kind).iter_errors(doc):
        yield from _explain(error)


_JSON_TYPES = {
    "string": N_("a text"),
    "number": N_("a number"),
    "integer": N_("a whole number"),
    "boolean": N_("true or false"),
    "object": N_("a mapping"),
    "array": N_("a list"),
    "null": N_("nothing"),
}
#: the meta-schemas' own `errorMessage` texts (schemas/*.json), so that they are translated
SCHEMA_MESSAGES = (
    N_("give `entity` and `events`, or a `schedule`"),
    N_("is not an http:// or https:// URL"),
    N_("is not the name of an environment variable"),
    N_("expected a text or a map by locale, e.g. {en: Supplier, zh-CN: 供应商}"),
    N_("is not a locale (like en or zh-CN)"),
    N_(
        "expected a value or {operator: value}; operators: eq, ne, lt, lte, gt, gte, in, nin, "
        "contains, startswith, isnull"
    ),
    N_(
        "an option is a text or {value, label} (quote yes, no, on and off: YAML reads them as "
        "true/false)"
    ),
    N_("say whom to notify: users, roles (or user, role)"),
    N_("expected all, any or {n: <how many>}"),
    N_("name the approvers: roles, users or approvers"),
    N_("is not a duration (use 30m, 4h, 3d or 2w)"),
)
_EITHER = N_("{first} or {second}")


def _text(text: str) -> Message:
    """A schema's own errorMessage (no parameters: its braces are shown as written)."""
    return Message(text)


def _either(names: list[Message]) -> Message:
    """`a text or a number or a list`, in the reader's language."""
    out = names[0]
    for name in names[1:]:
        out = Message(_EITHER, first=out, second=name)
    return out


def _explain(error: ValidationError) -> Iterator[tuple[KeyPath, Message]]:
    path: KeyPath = tuple(error.absolute_path)
    kind = error.validator
    if kind in ("anyOf", "oneOf"):
        yield from _explain_alternatives(error)
        return
    if kind == "required":
        match = re.match(r"^'(.+)' is a required property$", error.message)
        missing = match.group(1) if match else str(error.validator_value)
        yield (*path, missing), Message(N_("'{key}' is required here"), key=missing)
        return
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                if allowed:
                    yield (
                        (*path, key),
                        Message(
                            N_("unknown key '{key}' (allowed: {allowed})"),
                            key=key,
                            allowed=", ".join(allowed),
                        ),
                    )
                else:
                    yield (*path, key), Message(N_("unknown key '{key}'"), key=key)
        return
    if kind == "type":
        wanted = (
            error.validator_value
            if isinstance(error.validator_value, list)
            else [error.validator_value]
        )
        names = _either([_type_name(w) for w in wanted])
        yield path, Message(EXPECTED, names=names, value=_show(error.instance))
        return
    if kind == "enum":
        options = ", ".join(str(v) for v in error.validator_value)
        yield (
            path,
            Message(
                N_("{value} is not one of: {options}"),
                value=_show(error.instance),
                options=options,
            ),
        )
        return
    if kind == "propertyNames":
        yield path, Message(N_("{detail}"), detail=error.message)
        return
    if kind in ("minItems", "minProperties") and not error.instance:
        yield path, Message(N_("must not be empty"))
        return
    if kind == "maxProperties" and error.validator_value == 1:
        keys = ", ".join(error.schema.get("properties", {}))
        yield path, Message(N_("give exactly one of: {keys}"), keys=keys)
        return
    if kind in ("minimum", "maximum"):
        if kind == "minimum":
            yield path, Message(N_("must be at least {limit}"), limit=error.validator_value)
        else:
            yield path, Message(N_("must be at most {limit}"), limit=error.validator_value)
        return
    if kind in ("minItems", "maxItems", "minLength", "maxLength"):
        yield path, _size(kind, error)
        return
    if kind == "pattern":
        custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
        if custom:
            yield (
                path,
                Message(
                    N_("{value} {problem}"), value=_show(error.instance), problem=_text(custom)
                ),
            )
        else:
            yield (
                path,
                Message(
                    N_("{value} does not match the pattern {pattern}"),
                    value=_show(error.instance),
                    pattern=error.validator_value,
                ),
            )
        return
    if kind == "const":
        yield (
            path,
            Message(
                N_("{value} must be {expected}"),
                value=_show(error.instance),
                expected=_show(error.validator_value),
            ),
        )
        return
    if kind == "uniqueItems":
        yield path, Message(N_("{value} has an item given twice"), value=_show(error.instance))
        return
    yield path, Message(N_("{detail}"), detail=error.message)


EXPECTED = N_("expected {names}, got {value}")


def _size(kind: str, error: ValidationError) -> Message:
    """minItems, maxItems, minLength, maxLength (English as jsonschema says it)."""
    limit, value = error.validator_value, _show(error.instance)
    if kind == "minItems":
        template = N_("{value} should have at least {limit} items")
    elif kind == "maxItems":
        template = N_("{value} should have at most {limit} items")
    elif kind == "minLength":
        template = N_("{value} should have at least {limit} characters")
    else:
        template = N_("{value} should have at most {limit} characters")
    return Message(template, value=value, limit=limit)


def _type_name(json_type: Any) -> Message:
    name = _JSON_TYPES.get(str(json_type))
    return Message(name) if name else Message(N_("{detail}"), detail=str(json_type))


def _explain_alternatives(error: ValidationError) -> Iterator[tuple[KeyPath, Message]]:
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
        yield path, _text(str(custom))
        return
    best = best_match([error]) if fitting else None
    if best is not None and best is not error:
        yield from _explain(best)
    else:
        yield path, _expected_types(error)


def _expected_types(error: ValidationError) -> Message:
    wanted: list[str] = []
    for sub in error.context or []:
        if sub.validator == "type" and not sub.relative_path:
            types = sub.validator_value
            for one in types if isinstance(types, list) else [types]:
                if str(one) not in wanted:
                    wanted.append(str(one))
    names = _either([_type_name(w) for w in wanted]) if wanted else Message(N_("something else"))
    return Message(EXPECTED, names=names, value=_show(error.instance))


def _show(value: Any) -> str | Message:
    if value is None:
        return Message(N_("nothing"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 40 else f"'{value[:39]}…'"
    if isinstance(value, dict):
        return Message(N_("a mapping"))
    if isinstance(value, list):
        return Message(N_("a list"))
    return str(value)
