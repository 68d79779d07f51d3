"""`/openapi.json` with one typed path and schema per installed entity, rebuilt on change."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from appblocks.engine.catalog import Catalog
from appblocks.engine.spec import EntitySpec

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "index": {"type": "integer"},
                },
            },
        },
    },
    "required": ["title", "status"],
}
SYSTEM_PROPS: dict[str, Any] = {
    "id": {"type": "integer", "readOnly": True},
    "_version": {"type": "integer", "readOnly": True},
    "_created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "_updated_at": {"type": "string", "format": "date-time", "readOnly": True},
    "_created_by": {"type": ["string", "null"], "readOnly": True},
    "_updated_by": {"type": ["string", "null"], "readOnly": True},
}


def _schema_name(entity: EntitySpec, suffix: str = "") -> str:
    return f"{entity.app}.{entity.name}{suffix}"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if not schema:
        return schema
    kind = schema.get("type")
    if isinstance(kind, list):
        return {**schema, "type": [*kind, "null"]} if "null" not in kind else schema
    if kind:
        out = {**schema, "type": [kind, "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def entity_schemas(catalog: Catalog, entity: EntitySpec) -> dict[str, dict[str, Any]]:
    """The record schema and the input schema of one entity."""
    props: dict[str, Any] = dict(SYSTEM_PROPS)
    inputs: dict[str, Any] = {}
    for field in entity.fields.values():
        if field.type == "lines" and field.target:
            child = catalog.entity(field.target)
            value: dict[str, Any] = {
                "type": "array",
                "items": {"$ref": f"#/components/schemas/{_schema_name(child, '.input')}"},
            }
            out_value: dict[str, Any] = {
                "type": "array",
                "items": {"$ref": f"#/components/schemas/{_schema_name(child)}"},
            }
        else:
            value = field.ftype.value_schema(field)
            out_value = value
        description = field.label("en")
        props[field.name] = {**_nullable(out_value), "description": description}
        if field.computed:
            props[field.name]["readOnly"] = True
        else:
            inputs[field.name] = {
                **(value if field.type in ("lines", "links") else _nullable(value)),
                "description": description,
            }
    if entity.has_state:
        props["_state"] = {"type": ["string", "null"], "readOnly": True}
    required = [f.name for f in entity.inputs() if f.required and f.type not in ("lines", "links")]
    record = {"type": "object", "title": entity.label("en"), "properties": props}
    input_schema: dict[str, Any] = {
        "type": "object",
        "title": f"{entity.label('en')} (input)",
        "properties": inputs,
        "additionalProperties": False,
    }
    if entity.parent:
        inputs["id"] = {"type": "integer", "minimum": 1}
    patch = copy.deepcopy(input_schema)
    patch["title"] = f"{entity.label('en')} (changes)"
    patch["properties"]["_version"] = {"type": "integer"}
    if required:
        input_schema["required"] = required
    return {
        _schema_name(entity): record,
        _schema_name(entity, ".input"): input_schema,
        _schema_name(entity, ".patch"): patch,
    }


def _responses(ok: dict[str, Any], *codes: int) -> dict[str, Any]:
    out = dict(ok)
    problem = {"application/problem+json": {"schema": PROBLEM_REF}}
    for code in (401, 404, 422, *codes):
        out[str(code)] = {"description": "problem", "content": problem}
    return out


def entity_paths(entity: EntitySpec) -> dict[str, Any]:
    """The REST paths of one entity, typed by its schemas."""
    base = f"/api/v1/{entity.app}/{entity.name}"
    ref = {"$ref": f"#/components/schemas/{_schema_name(entity)}"}
    input_ref = {"$ref": f"#/components/schemas/{_schema_name(entity, '.input')}"}
    patch_ref = {"$ref": f"#/components/schemas/{_schema_name(entity, '.patch')}"}
    tag = [f"{entity.app}"]
    record_ok = {"description": "the record", "content": {"application/json": {"schema": ref}}}
    id_param = {
        "name": "record_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2**62},
    }
    page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": ref},
            "next_cursor": {"type": ["string", "null"]},
            "total": {"type": "integer"},
            "total_is_estimate": {"type": "boolean"},
        },
        "required": ["items", "next_cursor"],
    }
    q = lambda name, schema, text: {  # noqa: E731
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": text,
    }
    list_params = [
        q("filter", {"type": "string", "maxLength": 8000}, "JSON filter in the query language"),
        q("sort", {"type": "string", "maxLength": 500}, "e.g. -amount,name"),
        q("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 25}, "page size"),
        q("cursor", {"type": "string", "maxLength": 2000}, "next_cursor of the previous page"),
        q("q", {"type": "string", "maxLength": 200}, "search text"),
        q("count", {"type": "boolean"}, "add total"),
        q("expand", {"type": "string", "maxLength": 500}, "links and lines to inline"),
    ]
    label = entity.label("en")
    return {
        base: {
            "get": {
                "tags": tag,
                "summary": f"List {label}",
                "operationId": f"list_{entity.app}_{entity.name}",
                "parameters": list_params,
                "responses": _responses(
                    {
                        "200": {
                            "description": "a page",
                            "content": {"application/json": {"schema": page}},
                        }
                    }
                ),
            },
            "post": {
                "tags": tag,
                "summary": f"Create a {label}",
                "operationId": f"create_{entity.app}_{entity.name}",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": input_ref}},
                },
                "responses": _responses({"201": record_ok}, 403),
            },
        },
        f"{base}/batch": {
            "post": {
                "tags": tag,
                "summary": f"Create up to 1,000 {label} records, all or none",
                "operationId": f"batch_{entity.app}_{entity.name}",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "items": input_ref,
                                "minItems": 1,
                                "maxItems": 1000,
                            }
                        }
                    },
                },
                "responses": _responses({"201": {"description": "created ids"}}, 403),
            }
        },
        f"{base}/{{record_id}}": {
            "get": {
                "tags": tag,
                "summary": f"Get a {label}",
                "operationId": f"get_{entity.app}_{entity.name}",
                "parameters": [
                    id_param,
                    q("expand", {"type": "string", "maxLength": 500}, "inline"),
                ],
                "responses": _responses({"200": record_ok}),
            },
            "patch": {
                "tags": tag,
                "summary": f"Change a {label}",
                "operationId": f"update_{entity.app}_{entity.name}",
                "parameters": [
                    id_param,
                    {
                        "name": "If-Match",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": patch_ref}},
                },
                "responses": _responses({"200": record_ok}, 403, 409, 428),
            },
            "delete": {
                "tags": tag,
                "summary": f"Delete a {label}",
                "operationId": f"delete_{entity.app}_{entity.name}",
                "parameters": [id_param],
                "responses": _responses({"204": {"description": "deleted"}}, 403, 409),
            },
        },
        f"{base}/{{record_id}}/history": {
            "get": {
                "tags": tag,
                "summary": f"History of a {label}",
                "operationId": f"history_{entity.app}_{entity.name}",
                "parameters": [id_param],
                "responses": _responses({"200": {"description": "audit entries, newest first"}}),
            }
        },
    }


def build_openapi(app: FastAPI, catalog: Catalog) -> dict[str, Any]:
    """The full OpenAPI document: FastAPI's routes plus every entity's paths and schemas."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    paths = schema.setdefault("paths", {})
    for entity in catalog.specs.entities.values():
        components.update(entity_schemas(catalog, entity))
        paths.update(entity_paths(entity))
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"}
    }
    schema["security"] = [{"bearer": []}]
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve an OpenAPI document that follows the installed documents without a restart."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        catalog = app.state.runtime.current().catalog
        if cache.get("version") != catalog.version:
            cache["schema"] = build_openapi(app, catalog)
            cache["version"] = catalog.version
        schema: dict[str, Any] = cache["schema"]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
