"""Pages: the generated forms. `/{app}/{entity}/new` and `/{app}/{entity}/{id}/edit` show the
entity's form (inputs named after their fields, line items as `lines-<row>-<field>`); a POST
saves it. A refused save answers 422 with the form exactly as typed and each message at its
input; a version conflict 409, keeping the input. `.../preview` recomputes the computed values
as the user types (the engine's formulas, nothing written); `.../lookup/{field}` suggests
records for a link input under the viewer's read scope of the target.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from appblocks.engine.access import Scope
from appblocks.engine.db import reading
from appblocks.engine.record_errors import MissingVersion, VersionConflict
from appblocks.engine.rules import user_context
from appblocks.engine.spec import EntitySpec
from appblocks.engine.users import Identity
from appblocks.forms.files import files_by_key, store_file
from appblocks.forms.layout import Form
from appblocks.forms.preview import computed_values
from appblocks.forms.save import Writer, save
from appblocks.forms.state import FormState, from_record, from_submission
from appblocks.forms.submit import Gettext, Submission, parse, plain
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_records import (
    action_scope,
    build_form,
    crumbs,
    entity_spec,
    max_upload,
    read_scope,
    record_url,
    templates,
)
from appblocks.server.problems import Problem, locale_of
from appblocks.server.runtime import Loaded, Runtime
from appblocks.server.visibility import Viewer
from appblocks.server.web import PageUser, flash, gettext_for, render, tr, with_form, zone_of
from appblocks.views import display, record_form
from appblocks.views.record_format import currency_of, is_numeric, parts_html, show
from appblocks.views.record_titles import Titles

router = APIRouter(include_in_schema=False)


def _file_meta(runtime: Runtime, form: Form, state: FormState) -> dict[str, dict[str, Any]]:
    keys = [str(state.value(f.name)) for f in form.fields() if f.type == "file"]
    if not any(keys):
        return {}
    with reading(runtime.engine) as conn:
        return files_by_key(conn, keys)


def _respond(
    request: Request,
    runtime: Runtime,
    spec: EntitySpec,
    form: Form,
    state: FormState,
    titles: Titles,
    *,
    record_id: int | None,
    status: int = 200,
    conflict: bool = False,
    heading: str | None = None,
) -> Response:
    locale = locale_of(request)
    values = {f.name: state.value(f.name) for f in form.fields()}
    currency = currency_of(spec, values)
    files = _file_meta(runtime, form, state)
    base = f"/{spec.app}/{spec.name}"
    action = f"{base}/new" if record_id is None else f"{base}/{record_id}/edit"
    return render(
        request,
        templates("form", spec),
        status,
        spec=spec,
        form=form,
        state=state,
        outputs=record_form.outputs(form, state, locale, titles, currency),
        files=files,
        options=lambda field: display.options(field, locale),
        show=lambda field, value: show(field, value, locale, titles, files, currency=currency),
        value_html=lambda field, value: parts_html(
            show(field, value, locale, titles, files, currency=currency)
        ),
        is_numeric=is_numeric,
        lines_of=lambda name: state.computed.get(name) or [],
        totals_of=state.computed.get,
        record_id=record_id,
        action_url=action,
        preview_url=f"{base}/preview" if record_id is None else f"{base}/{record_id}/preview",
        lookup_url=f"{base}/lookup/",
        cancel_url=base if record_id is None else record_url(spec, record_id),
        heading=heading,
        conflict=conflict,
        crumbs=crumbs(request, spec),
        max_file_bytes=max_upload(request),
    )


def _title_of(titles: Titles) -> Any:
    def title_of(target: str | None, value: Any) -> str:
        ref = titles.ref(target, value)
        return ref.text if ref is not None else ""

    return title_of


def _heading(spec: EntitySpec, record: dict[str, Any], locale: str) -> str:
    title = record.get(spec.title) if spec.title else None
    return f"{spec.label(locale)} {title if title not in (None, '') else '#' + str(record['id'])}"


@router.get("/{app}/{entity}/new")
def new_page(
    app: str,
    entity: str,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    form: Annotated[str | None, Query(max_length=63)] = None,
) -> Response:
    """An empty form (defaults filled in; `?<link field>=<id>` pre-selects a link)."""
    loaded = runtime.current()
    spec = entity_spec(request, loaded, app, entity)
    action_scope(request, loaded, identity, spec.qualified, "create")
    built = build_form(loaded, identity, spec, "create", form)
    record: dict[str, Any] = dict(loaded.store.plans[spec.qualified].defaults)
    editable = built.editable()
    for name, value in request.query_params.items():
        field = editable.get(name)
        if field is not None and field.type == "link" and value.isdigit():
            record[name] = int(value)
    viewer = Viewer(loaded, identity)
    with reading(runtime.engine) as conn:
        titles = record_form.titles_for(conn, loaded.catalog, viewer.scope, built, record)
    state = from_record(built, record, _title_of(titles), blank_rows=1, tz=zone_of(request))
    return _respond(request, runtime, spec, built, state, titles, record_id=None)


@router.get("/{app}/{entity}/{record_id:int}/edit")
def edit_page(
    app: str,
    entity: str,
    record_id: int,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    form: Annotated[str | None, Query(max_length=63)] = None,
) -> Response:
    """The record in its form."""
    loaded = runtime.current()
    spec = entity_spec(request, loaded, app, entity)
    read = read_scope(request, loaded, identity, spec.qualified)
    scope = action_scope(request, loaded, identity, spec.qualified, "update")
    built = build_form(loaded, identity, spec, "update", form)
    viewer = Viewer(loaded, identity)
    with reading(runtime.engine) as conn:
        record = loaded.store.get(conn, spec.qualified, record_id, scope=scope.predicate)
        if read.predicate is not None:
            loaded.store.check_exists(conn, spec.qualified, record_id, scope=read.predicate)
        titles = record_form.titles_for(conn, loaded.catalog, viewer.scope, built, record)
    state = from_record(built, record, _title_of(titles), tz=zone_of(request))
    heading = _heading(spec, record, locale_of(request))
    return _respond(request, runtime, spec, built, state, titles, record_id=record_id,
                    heading=heading)  # fmt: skip


def _uploads(
    request: Request, runtime: Runtime, identity: Identity, spec: EntitySpec, form: Form,
    data: FormData, sub: Submission,
) -> None:  # fmt: skip
    """Store the files chosen in file inputs (`<field>__file`); their keys become the values."""
    limit = max_upload(request)
    editable = form.editable()
    for name, value in data.multi_items():
        if isinstance(value, str) or not name.endswith("__file") or not value.filename:
            continue
        field = editable.get(name.removesuffix("__file"))
        if field is None or field.type != "file":
            sub.forged.append(name)
            continue
        content = value.file.read(limit + 1)
        if len(content) > limit:
            sub.add(field.name, _too_large(request, limit))
            continue
        with runtime.engine.begin() as conn:
            meta = store_file(
                conn, name=value.filename, content_type=value.content_type, data=content,
                created_by=identity.name, entity=spec.qualified,
            )  # fmt: skip
        sub.values[field.name] = meta["key"]
        sub.raw[field.name] = [meta["key"]]


def _too_large(request: Request, limit: int) -> str:
    return tr(request, "The file is too large: at most %(size)s MB.", size=f"{limit / 1048576:.1f}")


def _line_controls(form: Form, sub: Submission, data: FormData) -> bool:
    """The buttons of the line-item editor without JavaScript: add a row, remove one."""
    add, remove = data.get("_add_line"), data.get("_remove_line")
    if isinstance(add, str) and add in form.tables:
        rows = sub.rows.setdefault(add, [])
        rows.append(max(rows) + 1 if rows else 0)
        return True
    if isinstance(remove, str) and "-" in remove:
        lines, _, index = remove.rpartition("-")
        if lines in sub.rows and index.isdigit() and int(index) in sub.rows[lines]:
            sub.rows[lines].remove(int(index))
            prefix = f"{lines}-{index}-"
            sub.raw = {k: v for k, v in sub.raw.items() if not k.startswith(prefix)}
        return True
    return False


def _shown(
    runtime: Runtime, identity: Identity, spec: EntitySpec, form: Form, sub: Submission,
    record_id: int | None, scope: Any,
) -> tuple[dict[str, Any], Titles]:  # fmt: skip
    """The record's values after the submitted change (computed ones included), and titles."""
    loaded = runtime.current()
    viewer = Viewer(loaded, identity)
    user = user_context(identity.name, identity.roles, identity.attributes)
    with reading(runtime.engine) as conn:
        old = None
        if record_id is not None:
            old = loaded.store.get(conn, spec.qualified, record_id, scope=scope)
        shown = computed_values(conn, loaded.store, spec.qualified, sub.values, old=old, user=user)
        titles = record_form.titles_for(conn, loaded.catalog, viewer.scope, form, shown)
    return shown, titles


class _Posted(NamedTuple):
    """A posted form, read: who may do what with it, and the values parsed."""

    loaded: Loaded
    spec: EntitySpec
    read: Scope
    scope: Scope
    form: Form
    sub: Submission
    zone: dt.tzinfo  # the reader's time zone, typed values were read in


def _posted(
    request: Request, runtime: Runtime, identity: Identity, app: str, entity: str,
    record_id: int | None, data: FormData, gettext: Gettext = plain,
) -> _Posted:  # fmt: skip
    """The form `data` was posted from (its `_form`, else the entity's), parsed; 404/403 as
    for the page it came from."""
    loaded = runtime.current()
    spec = entity_spec(request, loaded, app, entity)
    read = read_scope(request, loaded, identity, spec.qualified)
    action = "create" if record_id is None else "update"
    scope = action_scope(request, loaded, identity, spec.qualified, action)
    name = data.get("_form")
    form = build_form(
        loaded, identity, spec, action, name if isinstance(name, str) and name else None
    )
    items = [(k, v) for k, v in data.multi_items() if isinstance(v, str)]
    zone = zone_of(request)
    sub = parse(form, items, gettext, zone)
    return _Posted(loaded, spec, read, scope, form, sub, zone)


def _save(
    request: Request, runtime: Runtime, identity: Identity, app: str, entity: str,
    record_id: int | None, data: FormData,
) -> Response:  # fmt: skip
    locale = locale_of(request)
    gettext = gettext_for(locale)
    posted = _posted(request, runtime, identity, app, entity, record_id, data, gettext)
    loaded, spec, read, scope, form, sub, _ = posted
    _uploads(request, runtime, identity, spec, form, data, sub)
    status, conflict = 422, False
    if _line_controls(form, sub, data):
        sub.errors, sub.top, status = {}, [], 200
    elif sub.forged:
        names = ", ".join(
            sorted({n.removesuffix("__file").removesuffix("__label") for n in sub.forged})
        )
        sub.top.insert(
            0, tr(request, "These fields cannot be changed here: %(names)s", names=names)
        )
    else:
        writer = Writer(
            identity.name,
            user_context(identity.name, identity.roles, identity.attributes),
            scope.predicate if record_id is not None else None,
            read.predicate,
            scope.owner_fields if record_id is None else frozenset(),
        )
        try:
            saved = save(
                runtime.engine, loaded.store, form, sub, writer, record_id=record_id,
                locale=locale, gettext=gettext,
                outside_rule=lambda: tr(request, "You could not see the record after this change; it was not saved."),
            )  # fmt: skip
        except (VersionConflict, MissingVersion):
            saved, status, conflict = None, 409, True
            sub.top.insert(0, tr(
                request,
                "Someone else changed this record while you were editing it. Your input is "
                "kept below: check the current record, then save again to replace their changes.",
            ))  # fmt: skip
        if saved is not None:
            flash(request, tr(request, "Saved."), "success")
            return RedirectResponse(record_url(spec, saved["id"]), status_code=303)
    shown, titles = _shown(runtime, identity, spec, form, sub, record_id, scope.predicate)
    state = from_submission(form, sub, _title_of(titles), shown, posted.zone)
    if conflict:
        state.version = shown.get("_version")
    heading = _heading(spec, shown, locale) if record_id is not None else None
    return _respond(request, runtime, spec, form, state, titles, record_id=record_id,
                    status=status, conflict=conflict, heading=heading)  # fmt: skip


@router.post("/{app}/{entity}/new")
async def create_record(
    app: str, entity: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Save a new record from the form; to its page, or the form again with the messages."""
    return await with_form(request, _save, request, runtime, identity, app, entity, None)


@router.post("/{app}/{entity}/{record_id:int}/edit")
async def update_record(
    app: str, entity: str, record_id: int, request: Request, runtime: RuntimeDep,
    identity: PageUser,
) -> Response:  # fmt: skip
    """Save the edited record (needs the `_version` the form was opened at)."""
    return await with_form(request, _save, request, runtime, identity, app, entity, record_id)


def _preview(
    request: Request, runtime: Runtime, identity: Identity, app: str, entity: str,
    record_id: int | None, data: FormData,
) -> Response:  # fmt: skip
    posted = _posted(request, runtime, identity, app, entity, record_id, data)
    _, spec, _, scope, form, sub, _ = posted
    shown, titles = _shown(runtime, identity, spec, form, sub, record_id, scope.predicate)
    state = from_submission(form, sub, _title_of(titles), shown, posted.zone)
    values = {**shown, **{k: v for k, v in sub.values.items() if not isinstance(v, list)}}
    currency = currency_of(spec, values)
    out = record_form.outputs(form, state, locale_of(request), titles, currency, live=True)
    return render(request, "_form_preview.html", outputs=out)


@router.post("/{app}/{entity}/preview")
async def preview_new(
    app: str, entity: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The computed values of a new record as typed so far (nothing is saved)."""
    return await with_form(request, _preview, request, runtime, identity, app, entity, None)


@router.post("/{app}/{entity}/{record_id:int}/preview")
async def preview_edit(
    app: str, entity: str, record_id: int, request: Request, runtime: RuntimeDep,
    identity: PageUser,
) -> Response:  # fmt: skip
    """The computed values of a record being edited, as typed so far (nothing is saved)."""
    return await with_form(request, _preview, request, runtime, identity, app, entity, record_id)


@router.get("/{app}/{entity}/lookup/{field}")
def lookup(
    app: str, entity: str, field: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Suggestions for a link input (`supplier`, or a line's `lines.material`): records of
    the target the viewer may read, matching the typed text."""
    loaded = runtime.current()
    spec = entity_spec(request, loaded, app, entity)
    read_scope(request, loaded, identity, spec.qualified)
    lines, _, column = field.partition(".")
    target = None
    for action in ("create", "update"):
        if loaded.scope(identity, spec.qualified, action) is None:
            continue
        form = build_form(loaded, identity, spec, action)
        holder = form.editable().get(lines)
        if holder is None:
            continue
        if column:
            table = form.tables.get(lines)
            match = [c for c in table.columns if c.name == column] if table else []
            if match and match[0].editable and match[0].type in ("link", "links"):
                target = match[0].spec.target
        elif holder.type in ("link", "links"):
            target = holder.spec.target
        if target:
            break
    missing = tr(request, "There is no such record, or you may not see it.")
    if not target:
        raise Problem(404, missing)
    scope = loaded.scope(identity, target, "read")
    if scope is None:
        raise Problem(404, missing)
    params = request.query_params
    q = params.get("q") or next((v for k, v in params.items() if k.endswith("__label")), "")
    viewer = Viewer(loaded, identity)
    with reading(runtime.engine) as conn:
        searchable = viewer.search_columns(target)
        ordered = [f.name for f in loaded.catalog.entity(target).columns() if f.name in searchable]
        options = record_form.lookup(conn, loaded.catalog, target, scope, ordered, q[:200])
    listbox = params.get("listbox") or ""
    return render(request, "_form_lookup.html", options=options, listbox=listbox, q=q)
