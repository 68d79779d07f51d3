"""Pages: a record's attachments (upload, delete) and file downloads.

`GET /files/{key}` answers only to whoever may read the record the file belongs to (outside
the record rule, or a file held by a field hidden from them: 404); a file chosen in a form
but not yet saved with a record, only to its uploader. Files are always sent as downloads
(`Content-Disposition: attachment`, `nosniff`, a sandbox CSP), never rendered in the page's
origin.
"""

from __future__ import annotations

from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from appblocks.engine.db import reading
from appblocks.engine.record_errors import NotFound
from appblocks.engine.users import Identity
from appblocks.forms.files import FILES, delete_file, file_data, file_meta, store_file
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_records import (
    action_scope,
    entity_spec,
    max_upload,
    read_scope,
    record_response,
    record_url,
)
from appblocks.server.problems import Problem
from appblocks.server.runtime import Runtime
from appblocks.server.web import PageUser, flash, tr, with_form

router = APIRouter(include_in_schema=False)


def _missing(request: Request) -> Problem:
    return Problem(404, tr(request, "There is no such file, or you may not see it."))


def _writable_record(
    request: Request, runtime: Runtime, identity: Identity, app: str, entity: str, record_id: int
) -> str:
    """The record's entity, once it is known that the viewer may change the record."""
    loaded = runtime.current()
    spec = entity_spec(request, loaded, app, entity)
    read = read_scope(request, loaded, identity, spec.qualified)
    scope = action_scope(request, loaded, identity, spec.qualified, "update")
    with reading(runtime.engine) as conn:
        for predicate in (read.predicate, scope.predicate):
            loaded.store.check_exists(conn, spec.qualified, record_id, scope=predicate)
    return spec.qualified


def _upload(
    request: Request, runtime: Runtime, identity: Identity, app: str, entity: str,
    record_id: int, data: FormData,
) -> Response:  # fmt: skip
    qualified = _writable_record(request, runtime, identity, app, entity, record_id)
    upload = data.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        error = tr(request, "Choose a file to attach.")
        return record_response(request, runtime, identity, app, entity, record_id, status=422,
                               error=error)  # fmt: skip
    limit = max_upload(request)
    content = upload.file.read(limit + 1)
    if len(content) > limit:
        error = tr(
            request, "The file is too large: at most %(size)s MB.", size=f"{limit / 1048576:.1f}"
        )
        return record_response(request, runtime, identity, app, entity, record_id, status=413,
                               error=error)  # fmt: skip
    with runtime.engine.begin() as conn:
        meta = store_file(
            conn, name=upload.filename, content_type=upload.content_type, data=content,
            created_by=identity.name, entity=qualified, record_id=record_id,
        )  # fmt: skip
    flash(request, tr(request, "Attached: %(name)s", name=meta["name"]), "success")
    spec = runtime.current().catalog.entity(qualified)
    return RedirectResponse(record_url(spec, record_id) + "#attachments", status_code=303)


@router.post("/{app}/{entity}/{record_id:int}/files")
async def upload_attachment(
    app: str, entity: str, record_id: int, request: Request, runtime: RuntimeDep,
    identity: PageUser,
) -> Response:  # fmt: skip
    """Attach a file to the record (whoever may change the record may)."""
    return await with_form(request, _upload, request, runtime, identity, app, entity, record_id)


def _remove(
    request: Request, runtime: Runtime, identity: Identity, app: str, entity: str,
    record_id: int, file_id: int,
) -> Response:  # fmt: skip
    qualified = _writable_record(request, runtime, identity, app, entity, record_id)
    with runtime.engine.begin() as conn:
        found = conn.execute(
            sa.select(FILES.c.id).where(
                FILES.c.id == file_id, FILES.c.entity == qualified, FILES.c.record_id == record_id
            )
        ).first()
        if found is None:
            raise _missing(request)
        delete_file(conn, file_id)
    flash(request, tr(request, "The attachment was removed."), "success")
    spec = runtime.current().catalog.entity(qualified)
    return RedirectResponse(record_url(spec, record_id) + "#attachments", status_code=303)


@router.post("/{app}/{entity}/{record_id:int}/files/{file_id:int}/delete")
async def remove_attachment(
    app: str, entity: str, record_id: int, file_id: int, request: Request,
    runtime: RuntimeDep, identity: PageUser,
) -> Response:  # fmt: skip
    """Remove an attachment of the record."""
    return await run_in_threadpool(
        _remove, request, runtime, identity, app, entity, record_id, file_id
    )


@router.get("/files/{key}")
def download(key: str, request: Request, runtime: RuntimeDep, identity: PageUser) -> Response:
    """A stored file, to whoever may read its record."""
    loaded = runtime.current()
    if len(key) > 64:
        raise _missing(request)
    with reading(runtime.engine) as conn:
        meta = file_meta(conn, key)
        if meta is None:
            raise _missing(request)
        if meta["record_id"] is None:
            if meta["created_by"] != identity.name:
                raise _missing(request)
        else:
            entity = str(meta["entity"] or "")
            if entity not in loaded.catalog.specs.entities:
                raise _missing(request)
            scope = loaded.scope(identity, entity, "read")
            if scope is None:
                raise _missing(request)
            try:
                loaded.store.check_exists(conn, entity, meta["record_id"], scope=scope.predicate)
            except NotFound:
                raise _missing(request) from None
            spec = loaded.catalog.entity(entity)
            table = loaded.catalog.table(entity)
            hidden = [table.c[f.name] == key for f in spec.fields.values()
                      if f.type == "file" and f.name in scope.hidden]  # fmt: skip
            if hidden:
                held = conn.execute(
                    sa.select(table.c.id).where(table.c.id == meta["record_id"], sa.or_(*hidden))
                ).first()
                if held is not None:
                    raise _missing(request)
        content = file_data(conn, meta["id"])
    name = str(meta["name"])
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    headers = {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, no-store",
    }
    return Response(content, media_type=str(meta["content_type"]), headers=headers)
