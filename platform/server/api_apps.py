"""Installed apps and their entity documents (what the caller may read)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from appblocks.server.auth import IdentityDep, RuntimeDep
from appblocks.server.problems import Problem

router = APIRouter(prefix="/api/v1/apps", tags=["apps"])


@router.get("", summary="Installed apps with the entities the caller may read")
def list_apps(runtime: RuntimeDep, identity: IdentityDep) -> list[dict[str, Any]]:
    """Apps, versions, titles and readable entities."""
    loaded = runtime.current()
    readable = set(loaded.policy.entities(identity, "read"))
    out = []
    for app, blueprint in loaded.catalog.blueprints.items():
        entities = [
            {"name": e.name, "label": e.doc.get("label"), "title": e.title}
            for e in loaded.catalog.specs.entities.values()
            if e.app == app and e.qualified in readable
        ]
        if entities or identity.is_admin:
            out.append(
                {
                    "app": app,
                    "version": blueprint.get("version"),
                    "title": blueprint.get("title"),
                    "entities": entities,
                }
            )
    return out


@router.get("/{app}/entities/{entity}", summary="An entity's schema document")
def entity_document(app: str, entity: str, runtime: RuntimeDep, identity: IdentityDep) -> Any:
    """The entity document, as installed (with customisations)."""
    loaded = runtime.current()
    qualified = f"{app}.{entity}"
    if qualified not in loaded.catalog.specs.entities or not loaded.policy.can(
        identity, qualified, "read"
    ):
        raise Problem(404, f"no entity {qualified}")
    scope = loaded.policy.scope(identity, qualified)
    doc = dict(loaded.catalog.entity(qualified).doc)
    if scope and scope.hidden:
        doc["fields"] = {k: v for k, v in doc["fields"].items() if k not in scope.hidden}
    return doc
