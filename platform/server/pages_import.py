"""Pages: import CSV or XLSX into an entity (`/{app}/{entity}/import`).

Upload -> map the file's columns to fields (guessed) -> check (a dry run that reports every
bad row and why) -> import in the background, all rows or none, with a progress bar that
polls `ab_import`. Only for users whose roles may create and import the entity; the rows go
through the record store under their create scope, and a run is visible to its owner only.
The work itself is `views/imports.py` (see its doc for how progress meets SQLite's one writer).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from appblocks.engine import housekeeping
from appblocks.engine.access import Scope
from appblocks.engine.db import is_sqlite, reading
from appblocks.engine.i18n import translate
from appblocks.engine.record_errors import MESSAGES
from appblocks.engine.rules import user_context
from appblocks.engine.spec import EntitySpec
from appblocks.engine.users import Identity
from appblocks.server.auth import RuntimeDep
from appblocks.server.problems import Problem, locale_of
from appblocks.server.runtime import Loaded, Runtime
from appblocks.server.web import PageUser, form_values, is_htmx, render, tr
from appblocks.views import imports
from appblocks.views.imports import ImportRunner, Job, UploadError

router = APIRouter(include_in_schema=False)
MULTIPART_SLACK = 64 * 1024  # the form's other parts and boundaries around the file
MAX_SHOWN = 1000
_runner_lock = threading.Lock()


def may_import(loaded: Loaded, identity: Identity, entity: str) -> bool:
    """Whether the user may import into `entity` (create and import rights; not line items):
    the list page may offer its Import button on this."""
    spec = loaded.catalog.specs.entities.get(entity)
    if spec is None or spec.parent is not None:
        return False
    return loaded.scope(identity, entity, "create") is not None and loaded.policy.can(
        identity, entity, "import"
    )


def _target(
    request: Request, loaded: Loaded, identity: Identity, app: str, entity: str
) -> tuple[EntitySpec, Scope]:
    """The entity and the caller's create scope; 404 for what they may not read, else 403."""
    qualified = f"{app}.{entity}"
    spec = loaded.catalog.specs.entities.get(qualified)
    readable = spec is not None and loaded.policy.can(identity, qualified, "read")
    if spec is None or not readable or spec.parent is not None:
        raise Problem(404, tr(request, "There is no such list, or you may not open it."))
    scope = loaded.scope(identity, qualified, "create")
    if scope is None or not loaded.policy.can(identity, qualified, "import"):
        raise Problem(
            403,
            tr(
                request,
                "Your roles may not import %(entity)s.",
                entity=spec.label(locale_of(request)),
            ),
        )
    return spec, scope


def _runner(request: Request) -> ImportRunner:
    """The process's import runner (kept on the app, so each test server has its own)."""
    with _runner_lock:
        runner = getattr(request.app.state, "import_runner", None)
        if runner is None:
            runner = request.app.state.import_runner = ImportRunner()
    return runner


def _upload_limit(runtime: Runtime) -> int:
    return max(1024, runtime.settings.max_upload_bytes - MULTIPART_SLACK)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _upload_error(request: Request, exc: UploadError) -> str:
    """An UploadError in the user's language (every message it can carry is listed here)."""
    p = exc.params
    texts: dict[str, Callable[[], str]] = {
        "Only .csv and .xlsx files can be imported.": lambda: tr(request, "Only .csv and .xlsx files can be imported."),
        "The file is empty.": lambda: tr(request, "The file is empty."),
        "The file is not text in UTF-8 (or GB18030): save it as “CSV UTF-8”.": lambda: tr(request, "The file is not text in UTF-8 (or GB18030): save it as “CSV UTF-8”."),
        "The file cannot be read as an Excel workbook (.xlsx).": lambda: tr(request, "The file cannot be read as an Excel workbook (.xlsx)."),
        "The file cannot be read as CSV: %(reason)s": lambda: tr(request, "The file cannot be read as CSV: %(reason)s", **p),
        "The file has more than %(max)s rows: split it.": lambda: tr(request, "The file has more than %(max)s rows: split it.", **p),
        "The first row must name the columns, but it is empty.": lambda: tr(request, "The first row must name the columns, but it is empty."),
        "The file has more than %(max)s columns.": lambda: tr(request, "The file has more than %(max)s columns.", **p),
        "The first row must name the columns, but it holds values (%(values)s).": lambda: tr(request, "The first row must name the columns, but it holds values (%(values)s).", **p),
        "The file has a header row but no rows to import.": lambda: tr(request, "The file has a header row but no rows to import."),
    }  # fmt: skip
    found = texts.get(exc.text)
    return found() if found else str(exc)


def _mapping_problem(request: Request, problem: imports.MappingProblem) -> str:
    p = dict(problem.params)
    texts: dict[str, Callable[[], str]] = {
        "The mapping does not match the file's columns.": lambda: tr(request, "The mapping does not match the file's columns."),
        "You may not import into the field “%(field)s”.": lambda: tr(request, "You may not import into the field “%(field)s”.", **p),
        "The columns “%(first)s” and “%(second)s” both fill %(field)s.": lambda: tr(request, "The columns “%(first)s” and “%(second)s” both fill %(field)s.", **p),
        "Choose a column for the required field %(field)s.": lambda: tr(request, "Choose a column for the required field %(field)s.", **p),
        "Choose a field for at least one column.": lambda: tr(request, "Choose a field for at least one column."),
    }  # fmt: skip
    found = texts.get(problem.text)
    return found() if found else problem.text % p


# The type errors of cells come from the field types in English; these are the ones a file
# meets, in the user's language (anything else is shown as the engine wrote it).
_CELL_MESSAGES: list[tuple[re.Pattern[str], Callable[[Request, dict[str, str]], str]]] = [
    (re.compile(r"'(?P<value>.*)' is not a whole number"), lambda r, g: tr(r, "“%(value)s” is not a whole number.", **g)),
    (re.compile(r"'(?P<value>.*)' is not a number"), lambda r, g: tr(r, "“%(value)s” is not a number.", **g)),
    (re.compile(r"must be at least (?P<limit>.+)"), lambda r, g: tr(r, "Must be at least %(limit)s.", **g)),
    (re.compile(r"must be at most (?P<limit>.+)"), lambda r, g: tr(r, "Must be at most %(limit)s.", **g)),
    (re.compile(r"'(?P<value>.*)' is not a date.*"), lambda r, g: tr(r, "“%(value)s” is not a date (use YYYY-MM-DD).", **g)),
    (re.compile(r"'(?P<value>.*)' is not yes/no.*"), lambda r, g: tr(r, "“%(value)s” is not yes or no.", **g)),
    (re.compile(r"'(?P<value>.*)' is not one of the options: (?P<options>.*)"), lambda r, g: tr(r, "“%(value)s” is not one of the options: %(options)s.", **g)),
    (re.compile(r"is (?P<length>\d+) characters long; at most (?P<max>\d+) allowed"), lambda r, g: tr(r, "Is %(length)s characters long; at most %(max)s are allowed.", **g)),
    (re.compile(r"'(?P<value>.*)' is not a valid e-mail address"), lambda r, g: tr(r, "“%(value)s” is not an e-mail address.", **g)),
    (re.compile(r"'(?P<value>.*)' is not a valid phone number"), lambda r, g: tr(r, "“%(value)s” is not a phone number.", **g)),
    (re.compile(r"'(?P<value>.*)' is not a valid web address.*"), lambda r, g: tr(r, "“%(value)s” is not a web address (http:// or https://).", **g)),
    (re.compile(r"is too large"), lambda r, g: tr(r, "The number is too large.")),
]  # fmt: skip


def reason(request: Request, loaded: Loaded, problem: dict[str, Any]) -> str:
    """Why a row is bad, in the user's language."""
    code, params = problem.get("code") or "invalid", dict(problem.get("params") or {})
    locale = locale_of(request)
    if code == "link_unknown":
        target = loaded.catalog.specs.entities.get(str(params.get("target")))
        name = target.label(locale) if target else str(params.get("target"))
        return tr(
            request,
            "No %(target)s is called “%(value)s”.",
            target=name,
            value=params.get("value", ""),
        )
    if code == "outside_rule":
        return tr(request, "The record would fall outside the records you may see.")
    if code == "too_many":
        return tr(
            request,
            "Stopped after %(count)s problems; fix these first.",
            count=params.get("count", ""),
        )
    if code == "crashed":
        return tr(request, "The import stopped unexpectedly; nothing was imported.")
    if code == housekeeping.INTERRUPTED:
        return tr(request, "The server stopped before the work was finished; nothing was written.")
    if code != "invalid" and code in MESSAGES:
        return translate(code, {"field": problem.get("field", ""), **params}, locale)
    message = str(problem.get("message") or "")
    for pattern, text in _CELL_MESSAGES:
        match = pattern.fullmatch(message)
        if match:
            return text(request, match.groupdict())
    return message


# --- upload ----------------------------------------------------------------------------------


def _recent(conn: sa.Connection, identity: Identity, entity: str) -> list[dict[str, Any]]:
    runs = imports.RUNS
    query = (
        sa.select(runs)
        .where(runs.c.user_name == identity.name, runs.c.entity == entity)
        .order_by(runs.c.id.desc())
        .limit(5)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def _upload_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    spec: EntitySpec,
    scope: Scope,
    status: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    with reading(runtime.engine) as conn:
        recent = _recent(conn, identity, spec.qualified)
    locale = locale_of(request)
    fields = imports.importable_fields(spec, scope)
    return render(
        request,
        "import.html",
        status,
        stage="upload",
        spec=spec,
        entity_label=spec.label(locale),
        list_url=f"/{spec.app}/{spec.name}",
        base=f"/{spec.app}/{spec.name}/import",
        fields=fields,
        recent=recent,
        error=error,
        max_bytes=_upload_limit(runtime),
        max_size=_megabytes(_upload_limit(runtime)),
    )


@router.get("/{app}/{entity}/import")
def upload_page(
    app: str, entity: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> HTMLResponse:
    """The upload form (and the user's recent imports into this entity)."""
    loaded = runtime.current()
    spec, scope = _target(request, loaded, identity, app, entity)
    return _upload_page(request, runtime, identity, spec, scope)


@router.post("/{app}/{entity}/import")
async def upload(
    app: str, entity: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Keep the uploaded file, guess the mapping, go to the mapping page."""
    loaded = runtime.current()
    spec, scope = _target(request, loaded, identity, app, entity)
    form = await request.form()
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            message = tr(request, "Choose a CSV or XLSX file to upload.")
            return _upload_page(request, runtime, identity, spec, scope, 422, message)
        name, content_type = upload.filename, upload.content_type
        limit = _upload_limit(runtime)
        data = await upload.read(limit + 1)
    finally:
        await form.close()  # the upload's temporary file
    if len(data) > limit:
        message = tr(
            request,
            "The file is larger than %(max)s; split it into smaller files.",
            max=_megabytes(limit),
        )
        return _upload_page(request, runtime, identity, spec, scope, 413, message)
    try:
        table = imports.read_table(name, data)
    except UploadError as exc:
        message = _upload_error(request, exc)
        return _upload_page(request, runtime, identity, spec, scope, 422, message)
    fields = imports.importable_fields(spec, scope)
    with runtime.engine.begin() as conn:
        run_id = imports.create_run(
            conn, identity.name, spec.qualified, name,
            content_type or "application/octet-stream", data, table, fields,
        )  # fmt: skip
    return RedirectResponse(f"/{app}/{entity}/import/{run_id}", status_code=303)


# --- one run ---------------------------------------------------------------------------------


def _run(
    request: Request, runtime: Runtime, identity: Identity, spec: EntitySpec, run_id: int
) -> dict[str, Any]:
    with reading(runtime.engine) as conn:
        run = imports.load_run(conn, run_id, identity.name, spec.qualified)
    if run is None:
        raise Problem(404, tr(request, "There is no such import of yours."))
    if run["status"] in imports.RUNNING:
        live = _runner(request).live(run_id)
        if live is not None:
            run["done"] = max(int(run["done"] or 0), live)
        elif is_sqlite(runtime.engine):
            # A SQLite database has one server process: a run it is not running has died
            # (a restart); its transaction was rolled back, so nothing was written. (On
            # PostgreSQL, housekeeping closes a run that has stopped making progress.)
            with runtime.engine.begin() as conn:
                housekeeping.mark_interrupted(conn, run_id, run["status"])
                # Marked now, or it finished between our read and now (the runner records
                # the outcome before it forgets the run): either way, report what is recorded.
                return imports.load_run(conn, run_id, identity.name, spec.qualified) or run
    return run


def _run_page(
    request: Request,
    runtime: Runtime,
    spec: EntitySpec,
    scope: Scope,
    run: dict[str, Any],
    *,
    status: int = 200,
    block: str | None = None,
    problems: list[str] | None = None,
    chosen: list[str | None] | None = None,
    editing: bool = False,
    oob: bool = False,
) -> HTMLResponse:
    loaded = runtime.current()
    locale = locale_of(request)
    fields = imports.importable_fields(spec, scope)
    mapping = run["mapping"] or {}
    header = list(mapping.get("header") or [])
    chosen = chosen if chosen is not None else list(mapping.get("fields") or [None] * len(header))
    labels = {f.name: f.label(locale) for f in spec.fields.values()}
    errors = [
        {
            **e,
            "reason": reason(request, loaded, e),
            "field_label": labels.get(str(e.get("field", "")).split(".")[0], e.get("field", "")),
        }
        for e in (run["errors"] or [])[:MAX_SHOWN]
    ]
    bad_rows = len({e["row"] for e in errors if e.get("row")})
    total = int(run["total"] or 0)
    skipped = len(mapping.get("skip") or [])
    stage = "mapping" if editing or run["status"] == imports.UPLOADED else run["status"]
    base = f"/{spec.app}/{spec.name}/import"
    return render(
        request,
        "import.html",
        status,
        block=block,
        stage=stage,
        run=run,
        spec=spec,
        entity_label=spec.label(locale),
        list_url=f"/{spec.app}/{spec.name}",
        base=base,
        run_url=f"{base}/{run['id']}",
        columns=[
            {
                "index": i,
                "title": title or tr(request, "(column %(n)s)", n=i + 1),
                "samples": [
                    row[i] for row in mapping.get("samples") or [] if i < len(row) and row[i]
                ],
                "field": chosen[i] if i < len(chosen) else None,
            }
            for i, title in enumerate(header)
        ],
        fields=fields,
        problems=problems or [],
        errors=errors,
        more_errors=max(0, len(run["errors"] or []) - MAX_SHOWN),
        bad_rows=bad_rows,
        total=total,
        to_import=total - skipped,
        skipped=skipped,
        done=int(run["done"] or 0),
        interrupted=housekeeping.interrupted_while(run),
        oob_steps=oob,
    )


@router.get("/{app}/{entity}/import/{run_id:int}")
def run_page(
    app: str,
    entity: str,
    run_id: int,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    mapping: bool = False,
) -> HTMLResponse:
    """One import: the mapping form, the check's report, the progress or the result."""
    loaded = runtime.current()
    spec, scope = _target(request, loaded, identity, app, entity)
    run = _run(request, runtime, identity, spec, run_id)
    editing = mapping and run["status"] in (imports.UPLOADED, imports.CHECKED, imports.FAILED)
    return _run_page(request, runtime, spec, scope, run, editing=editing)


@router.get("/{app}/{entity}/import/{run_id:int}/progress")
def progress(
    app: str, entity: str, run_id: int, request: Request, runtime: RuntimeDep, identity: PageUser
) -> HTMLResponse:
    """The status part of the run page (polled every 500 ms while the run works)."""
    loaded = runtime.current()
    spec, scope = _target(request, loaded, identity, app, entity)
    run = _run(request, runtime, identity, spec, run_id)
    htmx = is_htmx(request)
    return _run_page(request, runtime, spec, scope, run, block="status" if htmx else None, oob=htmx)


def _start(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    spec: EntitySpec,
    run_id: int,
    *,
    dry_run: bool,
) -> None:
    loaded = runtime.current()
    create = loaded.scope(identity, spec.qualified, "create")
    read = loaded.scope(identity, spec.qualified, "read")
    assert create is not None
    job = Job(
        engine=runtime.engine, catalog=loaded.catalog, store=loaded.store, entity=spec.qualified,
        run_id=run_id, actor=identity.name,
        user=user_context(identity.name, identity.roles, identity.attributes),
        fixed={name: identity.name for name in create.owner_fields},
        scope=read.predicate if read is not None else sa.false(), dry_run=dry_run,
        visible=lambda target: _readable(loaded, identity, target),
    )  # fmt: skip
    _runner(request).start(job)


def _readable(loaded: Loaded, identity: Identity, entity: str) -> sa.ColumnElement[bool] | bool:
    """The records of `entity` this user may read: links by title find only those."""
    scope = loaded.scope(identity, entity, "read")
    if scope is None:
        return False
    return True if scope.predicate is None else scope.predicate


def _after(request: Request, url: str) -> Response:
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Location": url})
    return RedirectResponse(url, status_code=303)


@router.post("/{app}/{entity}/import/{run_id:int}/check")
async def check(
    app: str, entity: str, run_id: int, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Keep the mapping and start the dry run (or show why the mapping is refused)."""
    loaded = runtime.current()
    spec, scope = _target(request, loaded, identity, app, entity)
    run = _run(request, runtime, identity, spec, run_id)
    values = form_values(await request.form())
    header = list((run["mapping"] or {}).get("header") or [])
    chosen: list[str | None] = [
        str(values.get(f"col_{i}") or "").strip() or None for i in range(len(header))
    ]
    fields = imports.importable_fields(spec, scope)
    found = imports.check_mapping(fields, header, chosen)
    if found:
        problems = [_mapping_problem(request, p) for p in found]
        return _run_page(
            request,
            runtime,
            spec,
            scope,
            run,
            status=422,
            problems=problems,
            chosen=chosen,
            editing=True,
        )
    with runtime.engine.begin() as conn:
        if run["status"] in imports.RUNNING or run["status"] == imports.DONE:
            raise Problem(409, tr(request, "This import is already running or finished."))
        imports.save_mapping(conn, run, chosen)
        claimed = imports.claim(conn, run_id, [imports.UPLOADED], imports.CHECKING, done=0)
    if not claimed:
        raise Problem(409, tr(request, "This import is already running or finished."))
    _start(request, runtime, identity, spec, run_id, dry_run=True)
    return _after(request, f"/{app}/{entity}/import/{run_id}")


@router.post("/{app}/{entity}/import/{run_id:int}/skip")
def skip_bad_rows(
    app: str, entity: str, run_id: int, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Leave the rows the check found bad out of the import."""
    loaded = runtime.current()
    spec, _scope = _target(request, loaded, identity, app, entity)
    run = _run(request, runtime, identity, spec, run_id)
    if run["status"] != imports.CHECKED:
        raise Problem(409, tr(request, "Check the file before importing it."))
    with runtime.engine.begin() as conn:
        imports.skip_rows(conn, run)
    return _after(request, f"/{app}/{entity}/import/{run_id}")


@router.post("/{app}/{entity}/import/{run_id:int}/run")
def run_import(
    app: str, entity: str, run_id: int, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Import the checked rows in the background, in one transaction."""
    loaded = runtime.current()
    spec, _scope = _target(request, loaded, identity, app, entity)
    run = _run(request, runtime, identity, spec, run_id)
    if run["status"] == imports.CHECKED and run["errors"]:
        raise Problem(409, tr(request, "Fix or skip the bad rows before importing."))
    with runtime.engine.begin() as conn:
        claimed = imports.claim(conn, run_id, [imports.CHECKED], imports.IMPORTING, done=0)
    if not claimed:
        raise Problem(409, tr(request, "Check the file before importing it."))
    _start(request, runtime, identity, spec, run_id, dry_run=False)
    return _after(request, f"/{app}/{entity}/import/{run_id}")
