"""What the designer's view, dashboard, workflow and role editors read from a draft, and the
engine's verdict on an edit.

`Schema` answers questions about the draft's blueprint (entities, fields by kind, roles,
workflow states) through the validator's own name resolution, so a pick list offers exactly
what validation accepts. `check_edit` runs the blueprint validator on the draft with and
without the edit: an edit is refused when it adds an error, with the engine's messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appblocks.engine.catalog import KINDS
from appblocks.engine.loader import LoadedBlueprint
from appblocks.engine.spec import label_text
from appblocks.engine.validate import validate_blueprint
from appblocks.engine.validate_context import SYSTEM_FIELDS, Context, mapping
from appblocks.engine.validate_documents import UNREACHABLE
from appblocks.engine.validate_fields import is_number_field

#: the record actions of the permission matrix (import, export and transitions are kept too)
MATRIX_ACTIONS = ("read", "create", "update", "delete")
OTHER_ACTIONS = ("import", "export")
#: an error that only says the work is unfinished: a state added before the arrow to it (the
#: engine's template, and the English it makes)
_UNFINISHED = (UNREACHABLE, "cannot be reached from")
DATE_TYPES = frozenset({"date", "datetime"})


@dataclass(frozen=True)
class FieldInfo:
    """A field offered in a pick list."""

    name: str
    type: str
    label: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Issue:
    """One validation message: where (a key path) and what."""

    path: str
    message: str

    def under(self, prefix: str) -> bool:
        """Whether the issue is at or below the key path `prefix`."""
        return self.path == prefix or self.path.startswith(prefix + ".")

    def within(self, prefix: str) -> str:
        """The path relative to `prefix` (the whole path when it is elsewhere)."""
        return self.path[len(prefix) + 1 :] if self.path.startswith(prefix + ".") else self.path


@dataclass
class Verdict:
    """The engine's answer to an edit: new errors refuse it; warnings say what is unfinished."""

    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def section_of(kind: str) -> str:
    """The blueprint section of a document kind (`view` -> `views`)."""
    return next(s for s, k in KINDS.items() if k == kind)


def issues(
    app: str, blueprint: Mapping[str, Any], installed: Mapping[str, Any], locale: str = "en"
) -> list[Issue]:
    """Every validation message of a draft's blueprint, in `locale`."""
    loaded = LoadedBlueprint(doc=dict(blueprint), root=Path(app))
    return [Issue(e.path, e.text(locale)) for e in validate_blueprint(loaded, installed)]


def with_document(
    blueprint: Mapping[str, Any], kind: str, name: str, body: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The blueprint with one document replaced (or removed, for None)."""
    section = section_of(kind)
    docs = dict(mapping(blueprint.get(section)))
    if body is None:
        docs.pop(name, None)
    else:
        docs[name] = dict(body)
    return {**blueprint, section: docs}


def check_edit(
    app: str,
    blueprint: Mapping[str, Any],
    installed: Mapping[str, Any],
    kind: str,
    name: str,
    body: Mapping[str, Any] | None,
    locale: str = "en",
) -> Verdict:
    """Validate the draft with the edit: errors it adds refuse it (an unreachable state is
    only a warning, since a state is added before the transition that leads to it). Errors
    are compared in English and shown in `locale`."""
    before = {(i.path, i.message) for i in issues(app, blueprint, installed)}
    edited = LoadedBlueprint(doc=with_document(blueprint, kind, name, body), root=Path(app))
    verdict = Verdict()
    for error in validate_blueprint(edited, installed):
        issue = Issue(error.path, error.text(locale))
        if error.template in _UNFINISHED or any(m in error.message for m in _UNFINISHED):
            verdict.warnings.append(issue)
        elif (error.path, error.message) not in before:
            verdict.errors.append(issue)
    return verdict


class Schema:
    """The draft's blueprint (with the installed apps) as the editors' pick lists need it."""

    def __init__(
        self,
        app: str,
        blueprint: Mapping[str, Any],
        installed: Mapping[str, Any],
        locale: str,
        state_label: str = "Workflow state",
    ) -> None:
        self.app = app
        self.state_label = state_label
        self.blueprint = blueprint
        self.locale = locale
        loaded = LoadedBlueprint(doc=dict(blueprint), root=Path(app))
        self.ctx = Context(loaded, installed, [])

    def documents(self, kind: str) -> dict[str, Mapping[str, Any]]:
        """The draft's documents of one kind, by name, in order."""
        docs = mapping(self.blueprint.get(section_of(kind)))
        return {k: v for k, v in docs.items() if isinstance(v, Mapping)}

    def label(self, value: Any, fallback: str) -> str:
        """A label in the editor's language."""
        return label_text(value, self.locale, fallback.replace("_", " "))

    def title(self) -> str:
        """The app's title."""
        return self.label(self.blueprint.get("title"), self.app)

    # --- entities and fields -----------------------------------------------------------------

    def entities(self) -> list[tuple[str, str]]:
        """(name, label) of the app's own entities (line entities too), in order."""
        own = mapping(self.blueprint.get("entities"))
        return [(n, self.label(mapping(b).get("label"), n)) for n, b in own.items()]

    def qualified(self, ref: Any) -> str | None:
        """`app.entity` of an entity reference (bare for the app's own), or None."""
        found, _ = self.ctx.resolve(ref)
        return found

    def entity_label(self, ref: str) -> str:
        """An entity's label (`crm.customer` shows its app)."""
        qualified = self.qualified(ref)
        if qualified is None:
            return ref
        app, _, name = qualified.partition(".")
        text = self.label(mapping(self.ctx.entity(qualified)).get("label"), name)
        return text if app == self.app else f"{text} ({app})"

    def fields(self, ref: str, *, system: bool = False) -> list[FieldInfo]:
        """The fields of an entity (with `_state` where a workflow owns it, and with `system`
        the other system columns)."""
        qualified = self.qualified(ref)
        if qualified is None:
            return []
        out = [
            FieldInfo(
                n,
                str(f.get("type")),
                self.label(f.get("label"), n),
                tuple(str(o) for o in f.get("options") or ()),
            )
            for n, f in self.ctx.fields(qualified).items()
        ]
        if self.ctx.states_of(qualified):
            out.append(FieldInfo("_state", "_state", self.state_label, tuple(self.states(ref))))
        if system:
            out += [FieldInfo(n, "system", n) for n in sorted(SYSTEM_FIELDS - {"_state"})]
        return out

    def field_label(self, ref: str, name: str) -> str:
        """A field's label (its name when there is no such field)."""
        return next((f.label for f in self.fields(ref) if f.name == name), name)

    def paths(self, ref: str) -> list[FieldInfo]:
        """Fields, then one step through each link (`supplier.name`): what filters name."""
        out = self.fields(ref, system=True)
        qualified = self.qualified(ref)
        for info in list(out):
            fdoc = self.ctx.fields(qualified or "").get(info.name)
            if qualified is None or fdoc is None or fdoc.get("type") not in ("link", "links"):
                continue
            target = self.ctx.target(qualified, fdoc)
            for name, sub in self.ctx.fields(target or "").items():
                if sub.get("type") not in ("lines", "links"):
                    label = f"{info.label} › {self.label(sub.get('label'), name)}"
                    out.append(FieldInfo(f"{info.name}.{name}", str(sub.get("type")), label))
        return out

    def columns(self, ref: str) -> list[FieldInfo]:
        """Fields a list view may show as columns."""
        return [f for f in self.fields(ref) if f.type not in ("lines", "json", "_state")]

    def choice_fields(self, ref: str) -> list[FieldInfo]:
        """What a board may group by: choice fields, and `_state` where there is a workflow."""
        return [f for f in self.fields(ref) if f.type in ("choice", "_state")]

    def date_fields(self, ref: str) -> list[FieldInfo]:
        """Date and date-time fields (a calendar's dates)."""
        return [f for f in self.fields(ref) if f.type in DATE_TYPES]

    def number_fields(self, ref: str) -> list[FieldInfo]:
        """Fields sum and avg make sense over (a lookup counts when what it reads does)."""
        qualified = self.qualified(ref) or ""
        docs = self.ctx.fields(qualified)
        out = []
        for info in self.fields(ref):
            fdoc = docs.get(info.name)
            if fdoc is None or info.type in DATE_TYPES:
                continue
            if info.type == "lookup":
                via = docs.get(str(fdoc.get("via")))
                target = self.ctx.target(qualified, via) if via else None
                fdoc = self.ctx.fields(target or "").get(str(fdoc.get("field")))
                if fdoc is None or fdoc.get("type") == "lookup":
                    continue
            if fdoc.get("type") not in DATE_TYPES and is_number_field(fdoc):
                out.append(info)
        return out

    def group_fields(self, ref: str) -> list[FieldInfo]:
        """Fields a chart may group by (its own fields that make categories)."""
        skip = ("lines", "links", "json", "long_text", "multi_choice", "file")
        return [f for f in self.fields(ref) if f.type not in skip]

    # --- workflows and roles -------------------------------------------------------------------

    def states(self, ref: str) -> list[str]:
        """The workflow states of an entity's records, in document order."""
        qualified = self.qualified(ref)
        out: list[str] = []
        for workflow in self.ctx.workflows_on(qualified or ""):
            for state in workflow.get("states") or []:
                name = state.get("name") if isinstance(state, Mapping) else state
                if isinstance(name, str) and name not in out:
                    out.append(name)
        return out

    def transitions(self, ref: str) -> list[str]:
        """The transition names of an entity's workflow."""
        return sorted(self.ctx.transitions_of(self.qualified(ref) or ""))

    def roles(self) -> list[tuple[str, str]]:
        """(name, label) of the app's roles."""
        return [(n, self.label(b.get("label"), n)) for n, b in self.documents("role").items()]

    def role_choices(self) -> list[tuple[str, str]]:
        """Roles a transition or an approval may name: the app's, then the platform's."""
        return [*self.roles(), ("admin", "admin"), ("designer", "designer")]
