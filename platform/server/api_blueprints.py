"""Blueprint import and export over REST (admins and designers only).

`POST /api/v1/blueprints` takes one YAML document (the body, or a file upload) and goes
through the same `install` as the CLI: validate, plan, apply atomically. `?dry_run=true`
returns the plan without changing anything. `GET /api/v1/blueprints/{app}/export` returns the
installed app (with its customisations) as YAML.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from appblocks.engine.blueprints import BlueprintRefused, blueprint_yaml, export_blueprint, install
from appblocks.engine.db import reading
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.migrations import MigrationError
from appblocks.engine.seed import SeedDataError
from appblocks.engine.users import Identity
from appblocks.server.auth import IdentityDep, RuntimeDep
from appblocks.server.problems import Problem
from appblocks.workflows.assembly import store_factory

router = APIRouter(prefix="/api/v1/blueprints", tags=["blueprints"])
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/plain")


def _designer(identity: Identity) -> None:
    if not identity.roles & {"admin", "designer"}:
        raise Problem(403, "only admins and designers may import or export blueprints")


async def _yaml_text(request: Request) -> tuple[str, str]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Problem(422, "upload the blueprint as a form field called 'file'")
        raw = await upload.read()
        name = upload.filename or "upload.yaml"
    elif kind in YAML_TYPES or kind == "":
        raw = await request.body()
        name = "upload.yaml"
    else:
        raise Problem(415, "send the blueprint as YAML (application/yaml) or as a file upload")
    try:
        return raw.decode("utf-8"), name
    except UnicodeDecodeError:
        raise Problem(422, "the blueprint is not UTF-8 text") from None


@router.post("", summary="Import (install or upgrade) a blueprint from YAML")
async def import_blueprint(
    request: Request,
    runtime: RuntimeDep,
    identity: IdentityDep,
    dry_run: bool = False,
    with_data: bool = False,
    allow_data_loss: bool = False,
) -> JSONResponse:
    """Validate, plan and apply; 422 with every error (file:line: path: message) when refused."""
    _designer(identity)
    text, name = await _yaml_text(request)
    loaded = load_blueprint_text(text, name)
    try:
        result = install(
            runtime.engine,
            loaded,
            with_data=with_data,
            allow_data_loss=allow_data_loss,
            dry_run=dry_run,
            actor=identity.name,
            store_factory=store_factory(automations=False),
        )
    except BlueprintRefused as exc:
        errors = [_error(e) for e in exc.errors]
        raise Problem(
            422, "the blueprint was refused; nothing was changed", errors=errors
        ) from None
    except (MigrationError, SeedDataError) as exc:
        raise Problem(409, f"{exc}; nothing was changed") from None
    if not dry_run:
        runtime.reload()
    return JSONResponse(
        {
            "app": result.app,
            "version": result.version,
            "previous_version": result.previous_version,
            "applied": result.applied,
            "plan": result.plan.render(),
            "records": result.records,
        },
        status_code=200 if dry_run else 201,
    )


def _error(error: Any) -> dict[str, Any]:
    if hasattr(error, "file"):
        return {
            "field": error.path,
            "message": error.message,
            "file": error.file,
            "line": error.line,
        }
    return {"field": "", "message": str(error)}


@router.get("/{app}/export", summary="The installed app as a blueprint (YAML)")
def export(app: str, runtime: RuntimeDep, identity: IdentityDep) -> Response:
    """One YAML document with the app's manifest and sections, customisations included."""
    _designer(identity)
    with reading(runtime.engine) as conn:
        try:
            blueprint = export_blueprint(conn, app)
        except BlueprintRefused:
            raise Problem(404, f"no app called {app!r} is installed") from None
    return Response(
        blueprint_yaml(blueprint),
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{app}.yaml"'},
    )
