"""What computing fields needs, analysed once per catalog version (compile once, run many).

Per entity: its computed fields as steps (formula, rollup, lookup) in dependency order. Across
entities: `Watch`es, which say whose stored values a change to a record of one entity makes
stale: the parent of a line (a rollup over `lines`), the record a reverse link points at (a
rollup over `entity.link`), and the records that look up one of its fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from appblocks.engine.catalog import Catalog
from appblocks.engine.sandbox import CompiledExpression, ExpressionError, compile_expression
from appblocks.engine.spec import EntitySpec, FieldSpec, qualify

AGGREGATES = ("sum", "count", "min", "max", "avg")


@dataclass(frozen=True, eq=False)
class Formula:
    """`formula`: an expression over the record's values (other computed fields included)."""

    field: FieldSpec
    expression: CompiledExpression | None  # None: it does not compile (validation says why)


@dataclass(frozen=True, eq=False)
class Rollup:
    """`rollup`: an aggregate over this record's lines or over the records linking to it."""

    field: FieldSpec
    agg: str
    child: str  # the qualified entity whose records are aggregated
    child_field: str | None
    where: CompiledExpression | None
    lines: str | None = None  # over a `lines` field of this entity
    link: str | None = None  # over a reverse link: the child's link field pointing here


@dataclass(frozen=True, eq=False)
class Lookup:
    """`lookup`: a stored copy of a field of the record a link points at."""

    field: FieldSpec
    via: str
    target: str
    source: str


Step = Formula | Rollup | Lookup


@dataclass(frozen=True, eq=False)
class EntityCompute:
    """One entity's computed fields, in the order they are computed, and their coercers."""

    spec: EntitySpec
    steps: tuple[Step, ...]
    coercers: Mapping[str, Callable[[Any], Any]]


@dataclass(frozen=True, eq=False)
class Watch:
    """Records of `dependent` whose values depend on records of the watched entity.

    `kind` is `lines` (the watched entity is the line items of `dependent`; `link` is
    `_parent_id`), `rollup` (a rollup over the reverse link `link`) or `lookup` (`dependent`
    looks up fields through its link `link`; `copies` maps watched field -> lookup fields).
    `fields` are the watched fields that matter (None: all of them)."""

    kind: str
    dependent: str
    link: str
    fields: frozenset[str] | None
    copies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    standalone: bool = False  # lookup: nothing else reads the copies (one UPDATE will do)


def _compile(source: Any) -> CompiledExpression | None:
    try:
        return compile_expression(source) if isinstance(source, str) else None
    except ExpressionError:
        return None


def _coercer(spec: FieldSpec) -> Callable[[Any], Any]:
    # Bounds and `required` constrain what people type, not what the engine computes.
    bare = FieldSpec(
        spec.name,
        spec.type,
        {k: v for k, v in spec.doc.items() if k not in ("min", "max", "required")},
        spec.entity,
        spec.target,
        spec.resolved_lookup,
    )
    if spec.type == "lookup":
        return lambda value: value  # a copy of a stored value of the same type
    from_json = spec.ftype.from_json
    if spec.type == "integer":
        # Decimal fields round to their scale; an integer one (an avg, a division) likewise.
        def whole(value: Any) -> Any:
            if isinstance(value, float | Decimal):
                value = Decimal(repr(value) if isinstance(value, float) else value)
                value = value.to_integral_value(ROUND_HALF_EVEN)
            return None if value is None else from_json(value, bare)

        return whole
    return lambda value: None if value is None else from_json(value, bare)


def _step(spec: EntitySpec, fs: FieldSpec) -> Step | None:
    if "formula" in fs.doc:
        return Formula(fs, _compile(fs.doc["formula"]))
    if "rollup" in fs.doc:
        doc = fs.doc["rollup"] if isinstance(fs.doc["rollup"], Mapping) else {}
        over = str(doc.get("over", ""))
        agg = str(doc.get("agg", "sum"))
        where = _compile(doc.get("where"))
        child_field = doc.get("field")
        if "." in over:
            ref, _, link = over.rpartition(".")
            child = qualify(spec.app, ref)
            return Rollup(fs, agg, child, child_field, where, link=link)
        lines = spec.fields.get(over)
        if lines is None or lines.target is None:
            return None
        return Rollup(fs, agg, lines.target, child_field, where, lines=over)
    if fs.type == "lookup":
        via = spec.fields.get(str(fs.doc.get("via")))
        if via is None or via.target is None:
            return None
        return Lookup(fs, via.name, via.target, str(fs.doc.get("field")))
    return None


def _reads(step: Step) -> frozenset[str]:
    if isinstance(step, Formula) and step.expression is not None:
        return step.expression.names
    return frozenset()


def formula_reads(spec: EntitySpec) -> dict[str, frozenset[str]]:
    """Computed field -> the computed fields of the same entity it reads."""
    computed = {f.name for f in spec.fields.values() if f.computed}
    out: dict[str, frozenset[str]] = {}
    for fs in spec.fields.values():
        step = _step(spec, fs)
        if step is not None:
            out[fs.name] = _reads(step) & computed
    return out


def dependency_cycle(spec: EntitySpec) -> list[str] | None:
    """A path of computed fields that read each other round in a circle (`a -> b -> a`)."""
    reads = formula_reads(spec)
    for start in reads:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, trail = stack.pop()
            for name in sorted(reads.get(node, ())):
                if name == start:
                    return [*trail, start]
                if name not in seen:
                    seen.add(name)
                    stack.append((name, [*trail, name]))
    return None


def ordered(names: Iterable[str], reads: Mapping[str, Iterable[str]]) -> list[str]:
    """`names` so that each comes after what it reads (document order otherwise; a cycle is
    broken where it is met: the validator reports it)."""
    out: list[str] = []
    state: dict[str, int] = {}  # 1: being visited, 2: placed

    def visit(name: str) -> None:
        if state.get(name):
            return
        state[name] = 1
        for dep in reads.get(name, ()):
            if dep in reads:
                visit(dep)
        state[name] = 2
        out.append(name)

    for name in names:
        visit(name)
    return out


def entity_compute(spec: EntitySpec) -> EntityCompute:
    """The steps of one entity, in dependency order."""
    steps = {fs.name: s for fs in spec.fields.values() if (s := _step(spec, fs)) is not None}
    reads = formula_reads(spec)
    order = ordered(steps, reads)
    coercers = {name: _coercer(steps[name].field) for name in order}
    return EntityCompute(spec, tuple(steps[name] for name in order), coercers)


def _where_names(step: Rollup) -> frozenset[str]:
    return step.where.names if step.where is not None else frozenset()


class ComputePlan:
    """Every entity's steps and the watches between entities, for one catalog version."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.version = catalog.version
        self.entities = {q: entity_compute(s) for q, s in catalog.specs.entities.items()}
        self._watches: dict[str, list[Watch]] = {}
        for qualified, ec in self.entities.items():
            self._watch(qualified, ec)
        for watches in self._watches.values():
            for n, watch in enumerate(watches):
                if watch.kind == "lookup":
                    copies = {c for names in watch.copies.values() for c in names}
                    standalone = not self._read_within(watch.dependent, copies)
                    watches[n] = Watch(
                        "lookup", watch.dependent, watch.link, watch.fields, watch.copies,
                        standalone,
                    )  # fmt: skip

    def watches(self, entity: str) -> list[Watch]:
        """What depends on records of `entity`."""
        return self._watches.get(entity, [])

    def _add(self, source: str, watch: Watch) -> None:
        self._watches.setdefault(source, []).append(watch)

    def _watch(self, qualified: str, ec: EntityCompute) -> None:
        spec = ec.spec
        by_lines: dict[str, set[str] | None] = {}
        by_link: dict[tuple[str, str], set[str]] = {}
        by_via: dict[str, dict[str, list[str]]] = {}
        formula_names = {n for s in ec.steps if isinstance(s, Formula) for n in _reads(s)}
        for step in ec.steps:
            if isinstance(step, Rollup):
                wanted = set(_where_names(step)) | (
                    {step.child_field} if step.child_field else set()
                )
                if step.lines is not None:
                    current = by_lines.setdefault(step.lines, set())
                    if current is not None:
                        current |= wanted
                elif step.link is not None:
                    by_link.setdefault((step.child, step.link), set()).update(wanted)
            elif isinstance(step, Lookup):
                copies = by_via.setdefault(step.via, {})
                copies.setdefault(step.source, []).append(step.field.name)
        for fs in spec.fields.values():
            if fs.type == "lines" and fs.name in formula_names:
                by_lines[fs.name] = None  # a formula walks the lines itself: any field matters
        for name, read in by_lines.items():
            child = spec.fields[name].target or ""
            fields = frozenset(read) if read is not None else None
            self._add(child, Watch("lines", qualified, "_parent_id", fields))
        for (child, link), read in by_link.items():
            self._add(child, Watch("rollup", qualified, link, frozenset(read)))
        for via, copies in by_via.items():
            target = spec.fields[via].target or ""
            frozen = {k: tuple(v) for k, v in copies.items()}
            self._add(target, Watch("lookup", qualified, via, frozenset(frozen), frozen))

    def _read_within(self, entity: str, names: set[str]) -> bool:
        """Whether a formula of `entity` or anything watching it reads one of `names`."""
        ec = self.entities[entity]
        if any(_reads(s) & names for s in ec.steps if isinstance(s, Formula)):
            return True
        return any(w.fields is None or w.fields & names for w in self.watches(entity))

    def dependents(self, entity: str) -> set[str]:
        """Entities whose stored values depend on computed values of `entity` (what a
        recomputation of `entity` may make stale; its input fields do not change then)."""
        computed = {s.field.name for s in self.entities[entity].steps}
        return {
            w.dependent for w in self.watches(entity) if w.fields is None or w.fields & computed
        }

    def recompute_order(self, entities: Iterable[str]) -> list[str]:
        """`entities` and every entity depending on them, each after what it depends on."""
        closure: set[str] = set()
        todo = [e for e in entities if e in self.entities]
        while todo:
            name = todo.pop()
            if name not in closure:
                closure.add(name)
                todo.extend(self.dependents(name))
        needs: dict[str, set[str]] = {name: set() for name in closure}
        for source in closure:
            for dependent in self.dependents(source):
                if dependent in closure and dependent != source:
                    needs[dependent].add(source)
        return ordered(sorted(closure), needs)
