"""Designer drafts: edits of an app's documents, undone and redone, planned, then published.

    draft = open_draft(conn, "srm", actor="ana")              # or start a new app by name
    draft = replace(conn, draft.id, "entity", "supplier", body)
    draft = undo(conn, draft.id); draft = redo(conn, draft.id)
    shown = plan(conn, draft.id)                               # errors + the migration plan
    done = publish(engine, draft.id, confirm_data_loss=True)   # a new kept version

A draft keeps the documents it started from (`baseline`) and a stack of edits; `position`
says how many are applied, and the ones past it are what redo brings back. Publishing goes
through the same functions as a blueprint import (`blueprints.prepare` validates,
`migrations.plan`/`apply` change the tables) and writes the changed documents to the app's
custom layer when it is a shipped blueprint, or to its base when it was made in the designer.
Deleting a shipped document writes a tombstone to the custom layer (see `layers`).

Records follow their states: an edit that renames a workflow state records the move with it,
`move_records` where a removed state's records go; plan and publish pass the moves on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from appblocks.engine import migrations
from appblocks.engine.blueprints import BlueprintRefused, prepare
from appblocks.engine.catalog import (
    KINDS,
    Catalog,
    Doc,
    checksum,
    join_documents,
    write_blueprint,
)
from appblocks.engine.compute import build_store, recompute_entities
from appblocks.engine.layers import (
    CodedError,
    custom_documents,
    is_shipped,
    read_layer,
    write_custom,
)
from appblocks.engine.loader import BlueprintError, LoadedBlueprint
from appblocks.engine.merge import Conflict, merge_documents, same
from appblocks.engine.migrations_plan import chain_moves, renamed_states, state_names, workflows
from appblocks.engine.models import App, utcnow
from appblocks.engine.models import Draft as DraftRow
from appblocks.engine.names import name_problem
from appblocks.engine.platform_db import upgrade as upgrade_platform
from appblocks.engine.records import RecordStore
from appblocks.engine.spec import qualify
from appblocks.engine.versions import get_version, record_version

DOC_KINDS = ("blueprint", *KINDS.values())
NEW_APP_VERSION = "0.1.0"


class DraftError(CodedError):
    """A draft operation that was refused; nothing changed."""

    MESSAGES = {
        "not_found": "there is no draft {id}",
        "not_open": "draft {id} is {status}; open a new draft",
        "nothing_to_undo": "there is nothing to undo",
        "nothing_to_redo": "there is nothing to redo",
        "stale": "{app} changed after this draft began; rebase the draft and plan again",
        "no_changes": "the draft changes nothing",
        "bad_kind": "{kind} is not a kind of document (one of: {kinds})",
        "bad_name": "a document needs a name",
        "bad_body": "{kind} {name}: a document is a mapping of keys to values",
        "no_document": "{kind} {name} is not in the draft",
        "delete_manifest": "the app's manifest (the blueprint document) cannot be deleted",
        "wrong_app": "the manifest names the app {named}, but this draft is of {app}",
        "bad_app": "{problem}",
        "bad_target": "{target} is not a state of the workflow of {entity}",
        "kept_state": "{state} is still a state of the workflow of {entity}",
    }
    ZH_CN = {
        "not_found": "草稿 {id} 不存在",
        "not_open": "草稿 {id} 已{status},请新建草稿",
        "nothing_to_undo": "没有可撤销的修改",
        "nothing_to_redo": "没有可重做的修改",
        "stale": "此草稿创建后 {app} 已被修改;请先变基(rebase)草稿,再重新查看迁移计划",
        "no_changes": "草稿没有任何修改",
        "bad_kind": "{kind} 不是文档类型(可用:{kinds})",
        "bad_name": "文档需要名称",
        "bad_body": "{kind} {name}:文档应为键值映射",
        "no_document": "草稿中没有 {kind} {name}",
        "delete_manifest": "应用清单(蓝图文档)不能删除",
        "wrong_app": "清单中的应用名为 {named},但此草稿属于 {app}",
        "bad_app": "应用名 {app} 无效:只能使用小写字母、数字和“_”,以字母开头,最多 31 个字符",
        "bad_target": "{target} 不是 {entity} 的流程状态",
        "kept_state": "{state} 仍是 {entity} 的流程状态",
    }


@dataclass(frozen=True)
class DocChange:
    """One document replaced (body) or deleted (body None)."""

    kind: str
    name: str
    body: Any = None


@dataclass(frozen=True)
class Edit:
    """One undoable step: its document changes, a label for the undo menu, and the records it
    moves from one workflow state to another: (qualified entity, from, to)."""

    changes: tuple[DocChange, ...]
    label: str | None = None
    moves: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class Draft:
    """A draft as stored: where it started, its edits and how many of them are applied."""

    id: int
    app: str
    actor: str | None
    status: str
    baseline: tuple[Doc, ...]
    edits: tuple[Edit, ...]
    position: int
    restores: int | None = None

    @property
    def can_undo(self) -> bool:
        return self.position > 0

    @property
    def can_redo(self) -> bool:
        return self.position < len(self.edits)

    @property
    def undo_label(self) -> str | None:
        """The label of the edit undo would take back."""
        return self.edits[self.position - 1].label if self.can_undo else None

    @property
    def redo_label(self) -> str | None:
        """The label of the edit redo would apply again."""
        return self.edits[self.position].label if self.can_redo else None

    def documents(self) -> list[Doc]:
        """The draft's documents now: the baseline with the applied edits."""
        state = {(d.kind, d.name): d.body for d in self.baseline}
        for edit in self.edits[: self.position]:
            for change in edit.changes:
                if change.body is None:
                    state.pop((change.kind, change.name), None)
                else:
                    state[(change.kind, change.name)] = change.body
        if ("blueprint", self.app) not in state:
            # A new app starts with a manifest of its own name.
            state = {("blueprint", self.app): _new_manifest(self.app), **state}
        return [Doc(kind, self.app, name, body) for (kind, name), body in state.items()]

    def document(self, kind: str, name: str) -> Any:
        """One document's body in the draft, or None."""
        return next((d.body for d in self.documents() if (d.kind, d.name) == (kind, name)), None)

    def state_moves(self) -> dict[str, dict[str, str]]:
        """Entity -> old state -> new state: where the applied edits move records (only to
        states the draft's workflow has; records of a removed state wait for a choice)."""
        moved = chain_moves(m for e in self.edits[: self.position] for m in e.moves)
        flows = workflows({self.app: self.blueprint()})
        kept = {e: set(state_names(flows.get(e) or {})) for e in moved}
        return {e: {a: b for a, b in m.items() if b in kept[e]} for e, m in moved.items()}

    def blueprint(self) -> dict[str, Any]:
        """The draft as one blueprint dict."""
        return join_documents(self.documents()).get(self.app, {"blueprint": self.app})

    def changed(self) -> list[tuple[str, str, str]]:
        """(kind, name, added|changed|deleted) of every document the draft changes."""
        before = {(d.kind, d.name): d.body for d in self.baseline}
        after = {(d.kind, d.name): d.body for d in self.documents()}
        out = [
            (*k, "added" if k not in before else "changed")
            for k, v in after.items()
            if k not in before or not same(v, before[k])
        ]
        return out + [(*k, "deleted") for k in before if k not in after]


def _new_manifest(app: str) -> dict[str, Any]:
    return {"blueprint": app, "version": NEW_APP_VERSION}


# --- storage --------------------------------------------------------------------------------


def _docs_json(docs: Iterable[Doc]) -> list[dict[str, Any]]:
    return [{"kind": d.kind, "name": d.name, "body": d.body} for d in docs]


def _edit_json(edit: Edit) -> dict[str, Any]:
    changes = [{"kind": c.kind, "name": c.name, "body": c.body} for c in edit.changes]
    return {"label": edit.label, "changes": changes, "moves": [list(m) for m in edit.moves]}


def _from_row(row: Any) -> Draft:
    baseline = tuple(Doc(d["kind"], row.app, d["name"], d["body"]) for d in row.baseline)
    edits = tuple(
        Edit(
            tuple(DocChange(c["kind"], c["name"], c["body"]) for c in e["changes"]),
            e["label"],
            tuple((str(a), str(b), str(c)) for a, b, c in e.get("moves") or []),
        )
        for e in row.edits
    )
    return Draft(
        row.id, row.app, row.actor, row.status, baseline, edits, row.position, row.restores
    )


def get_draft(connection: sa.Connection, draft_id: int, *, lock: bool = False) -> Draft:
    """One draft (`lock`: held until the transaction ends); DraftError when there is none."""
    query = sa.select(DraftRow.__table__).where(DraftRow.id == draft_id)
    row = connection.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise DraftError("not_found", id=draft_id)
    return _from_row(row)


def list_drafts(
    connection: sa.Connection, app: str | None = None, *, status: str = "open"
) -> list[Draft]:
    """Drafts with `status` (of one app, or all), newest first."""
    query = sa.select(DraftRow.__table__).where(DraftRow.status == status)
    if app is not None:
        query = query.where(DraftRow.app == app)
    return [_from_row(r) for r in connection.execute(query.order_by(DraftRow.id.desc()))]


def start_draft(
    connection: sa.Connection,
    app: str,
    target: Iterable[Doc] | None = None,
    *,
    actor: str | None = None,
    restores: int | None = None,
    label: str | None = None,
) -> Draft:
    """A new draft of `app` from its installed documents; with `target`, one first edit that
    turns them into those documents. A restore of a version made on another shipped version
    keeps the shipped documents it does not have (they may be new in the installed version);
    otherwise a document the target lacks is deleted."""
    problem = name_problem(app, app=True)
    if problem:
        raise DraftError("bad_app", app=app, problem=problem)
    baseline = read_layer(connection, app, "effective")
    edits: list[dict[str, Any]] = []
    if target is not None:
        keep = _kept_by_restore(connection, app, restores)
        wanted = {(d.kind, d.name): d.body for d in target}
        current = {(d.kind, d.name): d.body for d in baseline}
        changes = [
            DocChange(k, n, b)
            for (k, n), b in wanted.items()
            if (k, n) not in current or not same(b, current[(k, n)])
        ]
        changes += [
            DocChange(k, n) for (k, n) in current if (k, n) not in wanted and (k, n) not in keep
        ]
        if changes:
            edits.append(_edit_json(Edit(tuple(changes), label)))
    values = {
        "app": app,
        "actor": actor,
        "status": "open",
        "baseline": _docs_json(baseline),
        "edits": edits,
        "position": len(edits),
        "restores": restores,
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    draft_id = connection.execute(sa.insert(DraftRow).values(**values)).inserted_primary_key
    assert draft_id is not None
    return get_draft(connection, int(draft_id[0]))


def open_draft(connection: sa.Connection, app: str, *, actor: str | None = None) -> Draft:
    """The actor's newest open draft of `app`, or a new one (a new app when none is installed)."""
    query = (
        sa.select(DraftRow.__table__)
        .where(DraftRow.app == app, DraftRow.status == "open", DraftRow.restores.is_(None))
        .where(DraftRow.actor.is_(None) if actor is None else DraftRow.actor == actor)
        .order_by(DraftRow.id.desc())
        .limit(1)
    )
    row = connection.execute(query).first()
    return _from_row(row) if row is not None else start_draft(connection, app, actor=actor)


def _save(connection: sa.Connection, draft: Draft, **values: Any) -> Draft:
    connection.execute(
        sa.update(DraftRow).where(DraftRow.id == draft.id).values(updated_at=utcnow(), **values)
    )
    return get_draft(connection, draft.id)


def _open(connection: sa.Connection, draft_id: int, *, lock: bool = False) -> Draft:
    draft = get_draft(connection, draft_id, lock=lock)
    if draft.status != "open":
        raise DraftError("not_open", id=draft_id, status=draft.status)
    return draft


def _kept_by_restore(
    connection: sa.Connection, app: str, restores: int | None
) -> set[tuple[str, str]]:
    """The shipped documents a restore keeps although the version lacks them: all of them when
    the version was made on another shipped version (it cannot tell a document it deleted from
    one shipped since), none when on the installed one (what it lacks, it deleted)."""
    if restores is None or not is_shipped(connection, app):
        return set()
    installed = connection.execute(sa.select(App.version).where(App.app == app)).scalar()
    if get_version(connection, app, restores).info.base_version == installed:
        return set()
    return {(d.kind, d.name) for d in read_layer(connection, app, "base")}


# --- edits, undo, redo ----------------------------------------------------------------------


def edit(
    connection: sa.Connection,
    draft_id: int,
    changes: Iterable[DocChange],
    *,
    label: str | None = None,
    moves: Iterable[tuple[str, str, str]] = (),
) -> Draft:
    """Apply document changes as one undoable edit (dropping anything redo could bring back).
    A workflow whose state is renamed in place moves the state's records too (`moves` adds
    moves of its own). An edit that changes nothing is not recorded."""
    draft = _open(connection, draft_id)
    current = {(d.kind, d.name): d.body for d in draft.documents()}
    checked, moved = [], list(moves)
    for change in changes:
        _check_change(draft, change, current)
        before = current.get((change.kind, change.name))
        if change.body is not None and same(change.body, before):
            continue
        checked.append(change)
        if change.kind == "workflow" and change.body is not None:
            entity = qualify(draft.app, str(change.body.get("entity")))
            moved += [(entity, a, b) for a, b in renamed_states(before, change.body)]
    if not checked and not moved:
        return draft
    kept = [_edit_json(e) for e in draft.edits[: draft.position]]
    edits = [*kept, _edit_json(Edit(tuple(checked), label, tuple(moved)))]
    return _save(connection, draft, edits=edits, position=len(edits))


def _check_change(draft: Draft, change: DocChange, current: Mapping[tuple[str, str], Any]) -> None:
    if change.kind not in DOC_KINDS:
        raise DraftError("bad_kind", kind=change.kind, kinds=", ".join(DOC_KINDS))
    if not isinstance(change.name, str) or not change.name:
        raise DraftError("bad_name")
    key = (change.kind, change.name)
    if change.body is None:
        if change.kind == "blueprint":
            raise DraftError("delete_manifest")
        if key not in current:
            raise DraftError("no_document", kind=change.kind, name=change.name)
        return  # a shipped document, too: publishing writes a tombstone for it
    if not isinstance(change.body, Mapping):
        raise DraftError("bad_body", kind=change.kind, name=change.name)
    if change.kind == "blueprint":
        named = change.body.get("blueprint", draft.app)
        if named != draft.app or change.name != draft.app:
            raise DraftError("wrong_app", named=named, app=draft.app)


def replace(
    connection: sa.Connection,
    draft_id: int,
    kind: str,
    name: str,
    body: Mapping[str, Any],
    *,
    label: str | None = None,
) -> Draft:
    """Add or replace one document in the draft."""
    return edit(connection, draft_id, [DocChange(kind, name, dict(body))], label=label)


def delete(
    connection: sa.Connection, draft_id: int, kind: str, name: str, *, label: str | None = None
) -> Draft:
    """Delete one document from the draft (of a shipped app too: publishing then hides the
    shipped document with a tombstone in the custom layer)."""
    return edit(connection, draft_id, [DocChange(kind, name)], label=label)


def move_records(
    connection: sa.Connection, draft_id: int, entity: str, state: str, target: str
) -> Draft:
    """Records of `entity` in `state` (a state the draft removes) move to `target`, a state of
    the draft's workflow, when the draft is published: one undoable edit."""
    draft = _open(connection, draft_id)
    flow = workflows({draft.app: draft.blueprint()}).get(entity) or {}
    if target not in state_names(flow):
        raise DraftError("bad_target", target=target, entity=entity)
    if state in state_names(flow):
        raise DraftError("kept_state", state=state, entity=entity)
    now = chain_moves(m for e in draft.edits[: draft.position] for m in e.moves)
    source = (now.get(entity) or {}).get(state, state)  # where earlier edits put them
    label = f"Records in {state} go to {target}"
    return edit(connection, draft_id, [], label=label, moves=[(entity, source, target)])


def undo(connection: sa.Connection, draft_id: int) -> Draft:
    """Take back the last applied edit."""
    draft = _open(connection, draft_id)
    if not draft.can_undo:
        raise DraftError("nothing_to_undo")
    return _save(connection, draft, position=draft.position - 1)


def redo(connection: sa.Connection, draft_id: int) -> Draft:
    """Apply again the edit undo took back last."""
    draft = _open(connection, draft_id)
    if not draft.can_redo:
        raise DraftError("nothing_to_redo")
    return _save(connection, draft, position=draft.position + 1)


def discard(connection: sa.Connection, draft_id: int) -> Draft:
    """Give up a draft (it is kept, marked discarded)."""
    return _save(connection, _open(connection, draft_id), status="discarded")


def is_stale(connection: sa.Connection, draft: Draft) -> bool:
    """Whether the app's installed documents changed after the draft began."""
    installed = read_layer(connection, draft.app, "effective")
    return checksum(_docs_json(installed)) != checksum(_docs_json(draft.baseline))


def rebase(connection: sa.Connection, draft_id: int) -> list[Conflict]:
    """Carry the draft's changes over to the app as installed now (a three-way merge); on a
    conflict nothing changes and the conflicts are returned. The undo history collapses into
    one edit."""
    draft = _open(connection, draft_id)
    installed = read_layer(connection, draft.app, "effective")
    result = merge_documents(draft.baseline, draft.documents(), installed)
    if result.conflicts:
        return result.conflicts
    target = {(d.kind, d.name): d.body for d in result.documents}
    now = {(d.kind, d.name): d.body for d in installed}
    changes = [
        DocChange(k, n, b)
        for (k, n), b in target.items()
        if (k, n) not in now or not same(b, now[(k, n)])
    ]
    changes += [DocChange(k, n) for (k, n) in now if (k, n) not in target]
    moves = [(e, a, b) for e, m in draft.state_moves().items() for a, b in m.items()]
    edits = [_edit_json(Edit(tuple(changes), "Rebase", tuple(moves)))] if changes else []
    _save(connection, draft, baseline=_docs_json(installed), edits=edits, position=len(edits))
    return []


# --- plan and publish -----------------------------------------------------------------------


@dataclass
class DraftPlan:
    """What publishing the draft would do: validation errors, or the migration plan."""

    draft: Draft
    errors: list[BlueprintError | str] = field(default_factory=list)
    plan: migrations.Plan | None = None
    text: str = ""  # the plan as text, with the values a data-loss step would drop counted
    stale: bool = False

    @property
    def data_loss(self) -> tuple[migrations.Step, ...]:
        """Steps that drop stored values: publishing needs `confirm_data_loss`."""
        return self.plan.data_loss if self.plan is not None else ()

    @property
    def ok(self) -> bool:
        """Whether the draft can be published (with confirmation when there is data loss)."""
        return (
            not self.errors and not self.stale and self.plan is not None and not self.plan.refused
        )


@dataclass
class PublishResult:
    """What a publish did."""

    draft_id: int
    app: str
    version: int  # the kept version's number
    layer: str  # custom (a shipped app) or base (an app made in the designer)
    plan: migrations.Plan
    backups: list[Path] = field(default_factory=list)
    recomputed: dict[str, int] = field(default_factory=dict)


def _loaded(connection: sa.Connection, draft: Draft) -> LoadedBlueprint:
    """The draft as a blueprint to validate; a shipped app keeps its installed identity."""
    blueprint = draft.blueprint()
    installed = read_layer(connection, draft.app, "base")
    manifest = next((d.body for d in installed if d.kind == "blueprint"), None)
    if manifest is not None and (draft.restores is not None or is_shipped(connection, draft.app)):
        # A customisation (or a restore) never changes which version is installed.
        blueprint["version"] = manifest.get("version", blueprint.get("version"))
    blueprint["blueprint"] = draft.app
    return LoadedBlueprint(doc=blueprint, root=Path(f"{draft.app} (draft {draft.id})"))


def _prepare(connection: sa.Connection, draft: Draft) -> tuple[Catalog, Catalog, dict[str, Any]]:
    return prepare(connection, _loaded(connection, draft))


def plan(connection: sa.Connection, draft_id: int) -> DraftPlan:
    """Validate the draft against the installed apps and plan its migration; changes nothing."""
    draft = get_draft(connection, draft_id)
    shown = DraftPlan(draft, stale=is_stale(connection, draft))
    try:
        old, new, _ = _prepare(connection, draft)
    except BlueprintRefused as exc:
        shown.errors = list(exc.errors)
        return shown
    shown.plan = migrations.plan(old, new, connection, state_moves=draft.state_moves())
    shown.text = shown.plan.render(connection)
    return shown


def publish(
    engine: sa.Engine,
    draft_id: int,
    *,
    confirm_data_loss: bool = False,
    actor: str | None = None,
    note: str | None = None,
    backup_dir: Path | None = None,
    store_factory: Callable[[Catalog], RecordStore] | None = None,
) -> PublishResult:
    """Validate, migrate and write the draft in one transaction, and keep it as a version.

    Refused with nothing changed: DraftError (not open, stale, no changes),
    BlueprintRefused (invalid documents), migrations.DataLossRefused (a step drops stored
    values and `confirm_data_loss` is false) or another migrations.MigrationError."""
    upgrade_platform(engine)
    with migrations.begin_migration(engine) as connection:
        draft = _open(connection, draft_id, lock=True)
        # One publish or import of an app at a time (PostgreSQL; SQLite writes one by one).
        connection.execute(sa.select(App.app).where(App.app == draft.app).with_for_update())
        if is_stale(connection, draft):
            raise DraftError("stale", app=draft.app)
        if not draft.changed():
            raise DraftError("no_changes")
        created = not read_layer(connection, draft.app, "base")
        shipped = is_shipped(connection, draft.app)
        old, new, blueprint = _prepare(connection, draft)
        steps = migrations.plan(old, new, connection, state_moves=draft.state_moves())
        report = migrations.apply(
            steps, connection, allow_data_loss=confirm_data_loss, backup_dir=backup_dir
        )
        recomputed: dict[str, int] = {}
        if report.recompute:
            store = (store_factory or build_store)(new)
            recomputed = recompute_entities(connection, store, report.recompute)
        if shipped:
            base = read_layer(connection, draft.app, "base")
            write_custom(connection, draft.app, custom_documents(base, draft.documents()))
        else:
            write_blueprint(connection, blueprint)
        source = "restore" if draft.restores else "create" if created else "publish"
        if note is None and draft.restores:
            note = f"Restored version {draft.restores}"
        number = record_version(
            connection,
            draft.app,
            source=source,
            actor=actor or draft.actor,
            note=note,
            plan=steps.render(),
        )
        _save(connection, draft, status="published")
        layer = "custom" if shipped else "base"
        return PublishResult(
            draft.id, draft.app, number, layer, steps, list(report.backups), recomputed
        )
