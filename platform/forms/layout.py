"""Form documents: the default form of an entity, and a document resolved for one viewer.

A form document (`forms.<name>` of a blueprint, see `engine/schemas/form.json`) lists sections
of fields. `default_form(entity)` builds one when a blueprint has none: the fields in their
order, two columns, each `lines` field in a section of its own. `resolve` turns a document
into `Form`: field specs with their widgets, hidden fields left out, read-only ones marked,
and a line-item table (its columns and the parent's totals over it) for each `lines` field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from appblocks.engine.spec import AppSpecs, EntitySpec, FieldSpec, label_text, qualify
from appblocks.forms.widgets import Widget, widget_for

DETAILS = {"en": "Details", "zh-CN": "基本信息"}
MORE = {"en": "More", "zh-CN": "更多信息"}
WIDE = frozenset({"long_text", "json", "links", "multi_choice"})
MAX_LINE_OUTPUTS = 3  # computed columns shown in a line-item table, beside its inputs
NUMERIC = frozenset({"integer", "decimal", "money", "percent"})


def default_form(entity: EntitySpec) -> dict[str, Any]:
    """The form document of an entity without one: every field in order, two columns,
    each `lines` field in a section of its own (titled with its label)."""
    sections: list[dict[str, Any]] = []
    current: list[str] = []

    def close() -> None:
        if current:
            title = DETAILS if not sections else MORE
            sections.append({"title": dict(title), "columns": 2, "fields": list(current)})
            current.clear()

    for spec in entity.fields.values():
        if spec.type == "lines":
            close()
            sections.append({"title": spec.get("label") or spec.name, "fields": [spec.name]})
        else:
            current.append(spec.name)
    close()
    if not sections:  # an entity without fields still gets a form (it saves nothing)
        sections.append({"title": dict(DETAILS), "columns": 2, "fields": []})
    return {"entity": entity.name, "sections": sections}


def find_form(
    blueprints: Mapping[str, Mapping[str, Any]], entity: EntitySpec, name: str | None = None
) -> tuple[str | None, dict[str, Any]]:
    """(name, document) of the entity's form: `name` if given and it is one of the entity's,
    else its first form, else the default form (name None)."""
    forms = (blueprints.get(entity.app) or {}).get("forms") or {}
    mine = {
        str(n): doc
        for n, doc in forms.items()
        if isinstance(doc, Mapping)
        and qualify(entity.app, str(doc.get("entity"))) == entity.qualified
    }
    if name is not None and name in mine:
        return name, dict(mine[name])
    if name is None and mine:
        first = next(iter(mine))
        return first, dict(mine[first])
    return None, default_form(entity)


@dataclass(frozen=True)
class FormField:
    """One field as the form shows it."""

    spec: FieldSpec
    widget: Widget
    label_doc: Any = None
    help_doc: Any = None
    required: bool = False
    read_only: bool = False  # shown, never accepted (computed, read-only for this viewer)
    wide: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    def label(self, locale: str = "en") -> str:
        """The label in `locale` (the form's own, else the field's)."""
        return label_text(self.label_doc, locale, self.spec.label(locale))

    def help(self, locale: str = "en") -> str:
        """The help text in `locale`, or ''."""
        return label_text(self.help_doc, locale, "")

    @property
    def editable(self) -> bool:
        return not self.read_only


@dataclass(frozen=True)
class LinesTable:
    """A `lines` field: the columns of its rows and the parent's totals under them."""

    field: FormField
    entity: EntitySpec
    columns: tuple[FormField, ...]
    totals: Mapping[str, str]  # line column -> the parent's rollup (sum) over it
    count_field: str | None = None  # the parent's count rollup over the lines, if any

    @property
    def name(self) -> str:
        return self.field.name


@dataclass(frozen=True)
class Section:
    """A titled group of fields in `columns` columns (a lines field spans them all)."""

    title: Any
    columns: int
    fields: tuple[FormField, ...]

    @property
    def only_lines(self) -> bool:
        """A section holding one line-item table and nothing else."""
        return len(self.fields) == 1 and self.fields[0].type == "lines"

    def heading(self, locale: str = "en") -> str:
        """The section title in `locale` ('' when it has none)."""
        return label_text(self.title, locale, "")


@dataclass(frozen=True)
class Form:
    """A form document resolved for one viewer and action."""

    entity: EntitySpec
    name: str | None
    sections: tuple[Section, ...]
    tables: Mapping[str, LinesTable] = field(default_factory=dict)
    rules: tuple[Any, ...] = ()
    required: frozenset[str] = field(default_factory=frozenset)  # required by the form itself

    def fields(self) -> Iterator[FormField]:
        """Every field of the form (lines fields too, not their columns)."""
        for section in self.sections:
            yield from section.fields

    def field(self, name: str) -> FormField | None:
        """The form's field called `name`, or None."""
        return next((f for f in self.fields() if f.name == name), None)

    def table(self, name: str) -> LinesTable | None:
        """The line-item table of the lines field `name`, or None."""
        return self.tables.get(name)

    def editable(self) -> dict[str, FormField]:
        """The fields a submission may set, by name (lines fields included)."""
        return {f.name: f for f in self.fields() if f.editable}


def _item(item: Any) -> dict[str, Any]:
    return dict(item) if isinstance(item, Mapping) else {"field": str(item)}


def _field(
    spec: FieldSpec,
    item: Mapping[str, Any],
    hidden: frozenset[str],
    read_only: frozenset[str],
) -> FormField | None:
    if spec.name in hidden:
        return None
    locked = (
        spec.computed
        or bool(spec.get("read_only"))
        or bool(item.get("read_only"))
        or spec.name in read_only
    )
    required = not locked and (spec.required or bool(item.get("required")))
    return FormField(
        spec,
        widget_for(spec),
        item.get("label") or spec.get("label"),
        item.get("help") or spec.get("help"),
        required,
        locked,
        spec.type in WIDE,
    )


def _lines_table(
    parent: EntitySpec,
    holder: FormField,
    specs: AppSpecs,
    line_hidden: frozenset[str],
    hidden: frozenset[str],
) -> LinesTable:
    child = specs.entity(holder.spec.target or "")
    columns: list[FormField] = []
    outputs: list[FormField] = []
    for spec in child.fields.values():
        if spec.name in line_hidden or spec.type in ("lines", "links"):
            continue
        if not spec.computed:
            # A line is editable exactly when its lines field is.
            locked = holder.read_only or bool(spec.get("read_only"))
            columns.append(
                FormField(
                    spec,
                    widget_for(spec),
                    spec.get("label"),
                    spec.get("help"),
                    spec.required and not locked,
                    locked,
                )  # fmt: skip
            )
        elif "formula" in spec.doc and spec.type in NUMERIC and len(outputs) < MAX_LINE_OUTPUTS:
            outputs.append(FormField(spec, widget_for(spec), spec.get("label"), read_only=True))
    totals: dict[str, str] = {}
    count_field = None
    for spec in parent.fields.values():
        rollup = spec.get("rollup")
        if not isinstance(rollup, Mapping) or rollup.get("over") != holder.name:
            continue
        if spec.name in hidden:
            continue
        if rollup.get("agg") == "count" and not rollup.get("where"):
            count_field = count_field or spec.name
        elif rollup.get("agg") == "sum" and not rollup.get("where") and rollup.get("field"):
            totals.setdefault(str(rollup["field"]), spec.name)
    return LinesTable(holder, child, (*columns, *outputs), totals, count_field)


def resolve(
    doc: Mapping[str, Any],
    entity: EntitySpec,
    specs: AppSpecs,
    *,
    name: str | None = None,
    hidden: frozenset[str] = frozenset(),
    read_only: frozenset[str] = frozenset(),
    line_hidden: Mapping[str, frozenset[str]] | None = None,
) -> Form:
    """The form document `doc` of `entity` for a viewer who may not see `hidden` and may not
    change `read_only`; `line_hidden` gives the hidden fields of each line entity."""
    sections: list[Section] = []
    tables: dict[str, LinesTable] = {}
    form_required: set[str] = set()
    for section in doc.get("sections") or []:
        fields: list[FormField] = []
        for raw in section.get("fields") or []:
            item = _item(raw)
            spec = entity.fields.get(str(item.get("field")))
            if spec is None:
                continue
            resolved = _field(spec, item, hidden, read_only)
            if resolved is None:
                continue
            if item.get("required") and resolved.editable:
                form_required.add(spec.name)
            fields.append(resolved)
            if spec.type == "lines" and spec.target:
                hidden_lines = (line_hidden or {}).get(spec.target, frozenset())
                tables[spec.name] = _lines_table(entity, resolved, specs, hidden_lines, hidden)
        if fields:
            columns = max(1, min(4, int(section.get("columns") or 2)))
            sections.append(Section(section.get("title"), columns, tuple(fields)))
    return Form(entity, name, tuple(sections), tables, tuple(doc.get("rules") or ()),
                frozenset(form_required))  # fmt: skip
