"""The designer's publish plan in plain words: what the tables will gain or lose, which
documents changed, and how many stored values a step would delete.

`migrations` describes steps for engineers (`add column srm_po.x: text(255)`); an analyst reads
"Add “Carrier” to “Purchase order”". The engineer's text stays on the page, folded away.
Records of a renamed workflow state move with it; for a removed state that holds records the
step carries a `StateChoice`: the page lets the analyst pick the state they move to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import Request

from appblocks.engine.catalog import Catalog
from appblocks.engine.drafts import Draft
from appblocks.engine.layers import diff
from appblocks.engine.migrations_plan import workflows
from appblocks.engine.migrations_steps import Plan, Step, ValueCounter
from appblocks.engine.names import link_table_name
from appblocks.engine.spec import label_text
from appblocks.server.problems import locale_of
from appblocks.server.web import tr

COLUMN_STEPS = frozenset(
    {"create_table", "drop_table", "add_column", "drop_column", "rename_column", "alter_type",
     "alter_nullable"}
)  # fmt: skip


@dataclass(frozen=True)
class StateChoice:
    """A removed workflow state with records: the states of the new workflow to move them to."""

    entity: str  # qualified
    state: str
    options: tuple[tuple[str, str], ...]  # (state, label)


@dataclass(frozen=True)
class PlainStep:
    """One step as a sentence, with its symbol and whether it deletes stored values."""

    symbol: str
    text: str
    data_loss: bool = False
    refused: str | None = None
    choice: StateChoice | None = None


def _names(catalogs: tuple[Catalog, ...], locale: str) -> dict[str, tuple[str, Any]]:
    """table -> (entity label, entity spec) over the old and new catalogs."""
    out: dict[str, tuple[str, Any]] = {}
    for catalog in catalogs:
        for spec in catalog.specs.entities.values():
            out.setdefault(spec.table_name, (spec.label(locale), spec))
            for f in spec.fields.values():
                if f.type == "links":
                    name = f"{spec.label(locale)} · {f.label(locale)}"
                    out.setdefault(link_table_name(spec.app, spec.name, f.name), (name, None))
    return out


def plain_steps(request: Request, plan: Plan, conn: sa.Connection) -> list[PlainStep]:
    """The plan's steps as sentences in the caller's language (indexes and keys summed up)."""
    locale = locale_of(request)
    names = _names((plan.new, plan.old), locale)
    counter = ValueCounter(conn)
    out: list[PlainStep] = []
    extras: dict[str, int] = {}
    for step in plan.steps:
        entity, spec = names.get(step.table, (step.table, None))
        if step.kind == "move_state":
            out.append(_state_move(request, plan, step, entity, locale))
            continue
        if step.kind not in COLUMN_STEPS:
            extras[entity] = extras.get(entity, 0) + 1
            continue
        field = step.column or ""
        if spec is not None and field in spec.fields:
            field = spec.fields[field].label(locale)
        elif step.column and step.column in _old_fields(plan, step.table, locale):
            field = _old_fields(plan, step.table, locale)[step.column]
        count = step.count if step.count is not None else _count(plan, step, counter)
        out.append(_sentence(request, step, entity, field, count))
    for entity, n in extras.items():
        out.append(
            PlainStep(
                "+",
                tr(
                    request,
                    "Keep “%(entity)s” fast and consistent (%(n)s indexes and keys)",
                    entity=entity,
                    n=n,
                ),
            )  # fmt: skip
        )
    return out


def _state_labels(plan: Plan, entity: str, locale: str, new: bool) -> dict[str, str]:
    flow = workflows((plan.new if new else plan.old).blueprints).get(entity) or {}
    out = {}
    for item in flow.get("states") or []:
        name = str(item.get("name") if isinstance(item, Mapping) else item)
        out[name] = label_text(item.get("label") if isinstance(item, Mapping) else None,
                               locale, name)  # fmt: skip
    return out


def _state_move(request: Request, plan: Plan, step: Step, entity: str, locale: str) -> PlainStep:
    """Records moving from a renamed or removed state, or a removed state waiting for a choice."""
    qualified, state = str(step.entity), str(step.state)
    before, after = (_state_labels(plan, qualified, locale, new) for new in (False, True))
    n = "?" if step.count is None else step.count
    old = before.get(state, state)
    choice = StateChoice(qualified, state, tuple(after.items()))
    if step.target is None:
        text = tr(request, "The state “%(state)s” of “%(entity)s” is removed, but %(n)s records "
                  "are in it", state=old, entity=entity, n=n)  # fmt: skip
        why = tr(request, "choose the state they move to, then publish")
        return PlainStep("!", text, refused=why, choice=choice)
    text = tr(request, "Move %(n)s records of “%(entity)s” from the state “%(state)s” to "
              "“%(target)s”", n=n, entity=entity, state=old,
              target=after.get(step.target, step.target))  # fmt: skip
    if step.refused is not None:
        why = tr(request, "“%(target)s” is not a state of the workflow", target=step.target)
        return PlainStep("!", text, refused=why, choice=choice)
    return PlainStep("~", text)


def _old_fields(plan: Plan, table: str, locale: str) -> dict[str, str]:
    for spec in plan.old.specs.entities.values():
        if spec.table_name == table:
            return {f.name: f.label(locale) for f in spec.fields.values()}
    return {}


def _count(plan: Plan, step: Step, counter: ValueCounter) -> int | None:
    if not step.data_loss or step.table not in plan.old.metadata.tables:
        return None
    table = plan.old.metadata.tables[step.table]
    return counter.values(table, step.column) if step.column else counter.rows(table)


def _sentence(
    request: Request, step: Step, entity: str, field: str, count: int | None
) -> PlainStep:
    kind = step.kind
    n = "?" if count is None else count
    if kind == "create_table":
        text = tr(request, "Create a new table for “%(entity)s”", entity=entity)
        symbol = "+"
    elif kind == "drop_table":
        text = tr(request, "Delete the table of “%(entity)s” with its %(n)s records",
                  entity=entity, n=n)  # fmt: skip
        symbol = "−"
    elif kind == "add_column":
        text = tr(request, "Add “%(field)s” to “%(entity)s”", field=field, entity=entity)
        symbol = "+"
    elif kind == "drop_column":
        text = tr(request, "Remove “%(field)s” from “%(entity)s”", field=field, entity=entity)
        if step.data_loss:
            text += " " + tr(request, "(stored values deleted: %(n)s)", n=n)
        symbol = "−"
    elif kind == "rename_column":
        old = step.old_column or ""
        text = tr(request, "Rename “%(old)s” to “%(field)s” in “%(entity)s”",
                  old=old, field=field, entity=entity)  # fmt: skip
        symbol = "~"
    elif kind == "alter_type":
        text = tr(request, "Change the type of “%(field)s” in “%(entity)s”",
                  field=field, entity=entity)  # fmt: skip
        symbol = "~"
    else:
        text = tr(request, "Change whether “%(field)s” of “%(entity)s” may be empty",
                  field=field, entity=entity)  # fmt: skip
        symbol = "~"
    if step.data_loss and kind not in ("drop_column", "drop_table"):
        text += " " + tr(request, "(stored values that may be lost: %(n)s)", n=n)
    return PlainStep(symbol, text, step.data_loss, step.refused)


def document_changes(request: Request, draft: Draft) -> list[str]:
    """What the draft changes, document by document, as short sentences."""
    locale = locale_of(request)
    before = {(d.kind, d.name): d.body for d in draft.baseline}
    after = {(d.kind, d.name): d.body for d in draft.documents()}
    kinds = {
        "entity": tr(request, "Entity"), "form": tr(request, "Form"),
        "workflow": tr(request, "Workflow"), "view": tr(request, "View"),
        "dashboard": tr(request, "Dashboard"), "role": tr(request, "Role"),
        "automation": tr(request, "Automation"), "blueprint": tr(request, "App settings"),
    }  # fmt: skip
    out: list[str] = []
    entities = {n: b for (k, n), b in after.items() if k == "entity"}
    for kind, name, status in draft.changed():
        body = after.get((kind, name)) or before.get((kind, name)) or {}
        title = label_text(body.get("label") if isinstance(body, Mapping) else None, locale, name)
        if kind == "form" and isinstance(body, Mapping) and not body.get("label"):
            # A form is known by its entity ("the form of Purchase order").
            entity = entities.get(str(body.get("entity"))) or {}
            title = label_text(entity.get("label"), locale, title)
        what = f"{kinds.get(kind, kind)} “{title}”"
        if status == "added" and kind == "blueprint":
            app_title = label_text(body.get("title"), locale, name)
            out.append(tr(request, "The new app “%(title)s”", title=app_title))
            out += _manifest_changes(request, {}, body)
        elif status == "added" and kind == "entity":
            labels = [
                label_text((f or {}).get("label"), locale, n)
                for n, f in dict(body.get("fields") or {}).items()
            ]
            out.append(tr(request, "%(what)s is new, with the fields %(fields)s", what=what,
                          fields=", ".join(labels)))  # fmt: skip
        elif status == "added":
            out.append(tr(request, "%(what)s is new", what=what))
        elif status == "deleted":
            out.append(tr(request, "%(what)s is deleted", what=what))
        elif kind == "blueprint":
            out += _manifest_changes(request, before[(kind, name)], after[(kind, name)])
        elif kind == "entity":
            out += _entity_changes(request, what, before[(kind, name)], after[(kind, name)])
        else:
            out.append(tr(request, "%(what)s is changed", what=what))
    return out


def _requires(request: Request, app: Any, spec: Any) -> str:
    text = str(spec)
    if text.startswith(">=") and "," not in text:
        return tr(request, "The app now uses %(app)s (version %(version)s or later)",
                  app=str(app).upper(), version=text[2:])  # fmt: skip
    return tr(request, "The app now requires %(app)s %(spec)s", app=str(app).upper(), spec=text)


def _manifest_changes(request: Request, old: Any, new: Any) -> list[str]:
    out = []
    for change in diff(old, new):
        if change.keys[:1] in (("title",), ("version",), ("blueprint",)) and not old:
            continue
        if change.keys[:1] == ("requires",) and len(change.keys) == 2 and change.kind != "removed":
            out.append(_requires(request, change.keys[1], change.new))
        elif change.keys[:1] == ("requires",) and change.kind == "added":
            for app, spec in dict(change.new).items():
                out.append(_requires(request, app, spec))
        else:
            out.append(tr(request, "App settings: %(path)s is changed", path=change.path))
    return out


def _entity_changes(request: Request, what: str, old: Any, new: Any) -> list[str]:
    old_fields = dict(old.get("fields") or {})
    new_fields = dict(new.get("fields") or {})
    locale = locale_of(request)

    def called(fields: dict[str, Any], name: str) -> str:
        return f"“{label_text((fields.get(name) or {}).get('label'), locale, name)}”"

    out = []
    for name in new_fields:
        if name not in old_fields:
            out.append(tr(request, "%(what)s: field %(name)s is new", what=what,
                          name=called(new_fields, name)))  # fmt: skip
        elif diff(old_fields[name], new_fields[name]):
            out.append(tr(request, "%(what)s: field %(name)s is changed", what=what,
                          name=called(new_fields, name)))  # fmt: skip
    for name in old_fields:
        if name not in new_fields:
            out.append(tr(request, "%(what)s: field %(name)s is removed", what=what,
                          name=called(old_fields, name)))  # fmt: skip
    if list(k for k in old_fields if k in new_fields) != list(
        k for k in new_fields if k in old_fields
    ):
        out.append(tr(request, "%(what)s: the order of the fields is changed", what=what))
    rest_old = {k: v for k, v in old.items() if k != "fields"}
    rest_new = {k: v for k, v in new.items() if k != "fields"}
    if diff(rest_old, rest_new):
        out.append(tr(request, "%(what)s: its settings are changed", what=what))
    return out
