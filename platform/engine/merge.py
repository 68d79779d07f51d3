"""Three-way merge of schema documents, for upgrading a shipped blueprint under a customisation.

    result = merge_documents(ancestor, ours, theirs)
    # ancestor: the base installed now; theirs: the new base being imported;
    # ours: the effective documents (the base with the custom layer over it)

A value that only one side changed takes that side's value; the same change on both sides is
taken once; different changes to one value are a `Conflict`, never a silent choice. Documents
merge key by key down to single values (`entities.supplier.fields.code.label.en`), so changing
a field's English label here and its Chinese label upstream is no conflict. Lists whose items
have a name (`states`, approval `levels`) or a value (choice `options`), and lists of plain
values, merge item by item; other lists (rules, indexes) merge as sets of whole items. Order
follows the side that reordered, with the other side's additions placed after their
predecessor; two different reorderings of a list are a conflict. The manifest's `version`
and `blueprint` always come from the new base. A whole document the customisation deleted
(ours lacks it) stays deleted while upstream leaves it as it was; when upstream changed it,
that is a `deleted_document` conflict naming what upstream changed. The module is pure: no
database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from appblocks.engine.catalog import SECTION_OF, Doc

#: keys of the manifest that always follow the incoming blueprint
UPSTREAM_KEYS = frozenset({"blueprint", "version"})


class _Missing:
    """A value that is not there (a key absent on one side)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Item:
    """A path step into a list, by the item's name or value (printed as `[name]`)."""

    id: str

    def __str__(self) -> str:
        return f"[{self.id}]"


Key = str | Item
Path = tuple[Key, ...]

# "here" is the customisation, "upstream" the new version of the shipped blueprint.
MESSAGES: dict[str, str] = {
    "changed_both": "customised to {ours}, but the new version changes it to {theirs} "
    "(was {ancestor})",
    "deleted_ours": "removed by the customisation, but the new version changes it to {theirs}",
    "deleted_document": "deleted by the customisation, but the new version changes it ({changed})",
    "deleted_theirs": "customised to {ours}, but the new version removes it",
    "added_both": "added by the customisation as {ours} and by the new version as {theirs}",
    "order": "reordered by the customisation as {ours} and by the new version as {theirs}",
}
ZH_CN: dict[str, str] = {
    "changed_both": "定制为 {ours},但新版本将其改为 {theirs}(原为 {ancestor})",
    "deleted_ours": "定制中已删除,但新版本将其改为 {theirs}",
    "deleted_document": "定制中已删除此文档,但新版本修改了它({changed})",
    "deleted_theirs": "定制为 {ours},但新版本删除了它",
    "added_both": "定制新增为 {ours},新版本也新增为 {theirs},内容不同",
    "order": "定制的排列顺序为 {ours},新版本的为 {theirs},两者不同",
}


def show(value: Any) -> str:
    """A value as short JSON text for a message (`(none)` when absent)."""
    if value is MISSING or value is None:
        return "(none)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True)
class Conflict:
    """Two different changes to one value: where, and the ancestor's, our and their value."""

    code: str  # changed_both, deleted_ours, deleted_document, deleted_theirs, added_both, order
    keys: Path
    ancestor: Any
    ours: Any
    theirs: Any

    @property
    def path(self) -> str:
        """The path as text: `entities.supplier.fields.code.label.en`, `...states[draft]`."""
        return format_path(self.keys)

    def detail(self, locale: str = "en") -> str:
        """What the two sides did, in `locale` (en or zh-CN), without the path."""
        template = (ZH_CN if locale == "zh-CN" else MESSAGES)[self.code]
        return template.format(
            ancestor=show(self.ancestor),
            ours=show(self.ours),
            theirs=show(self.theirs),
            changed=", ".join(changed_paths(self.ancestor, self.theirs)),
        )

    def message(self, locale: str = "en") -> str:
        """The conflict in `locale`: `path: detail`."""
        return f"{self.path}: {self.detail(locale)}"

    def __str__(self) -> str:
        return self.message()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form (absent values as None) for the API and the designer."""
        plain = {k: None if v is MISSING else v for k, v in self._values().items()}
        return {"code": self.code, "path": self.path, **plain}

    def _values(self) -> dict[str, Any]:
        return {"ancestor": self.ancestor, "ours": self.ours, "theirs": self.theirs}


def changed_paths(old: Any, new: Any, keys: Path = (), limit: int = 5) -> list[str]:
    """Where `new` differs from `old`, as paths relative to them (at most `limit`, then `...`)."""
    out: list[str] = []
    _collect_changes(old, new, keys, out)
    return out if len(out) <= limit else [*out[:limit], "..."]


def _collect_changes(old: Any, new: Any, keys: Path, out: list[str]) -> None:
    if same(old, new):
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        before = len(out)
        for key in {**old, **new}:
            _collect_changes(old.get(key, MISSING), new.get(key, MISSING), (*keys, key), out)
        if len(out) == before:
            out.append(format_path(keys) or "(order)")  # only the order of the keys changed
        return
    out.append(format_path(keys) or "(value)")


def format_path(keys: Sequence[Key]) -> str:
    """Path steps as text; list items attach without a dot."""
    out = ""
    for key in keys:
        if isinstance(key, Item):
            out += str(key)
        else:
            out += ("." if out else "") + str(key)
    return out


@dataclass
class MergeResult:
    """The merged documents, the custom layer they need over `theirs` (a tombstone, body None,
    for each document of `theirs` the merge left out), and the conflicts."""

    documents: list[Doc]
    custom: list[Doc]
    removed: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) left out
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.conflicts


def doc_keys(kind: str, name: str) -> Path:
    """The path of a document inside a blueprint (the manifest is the blueprint's root)."""
    return () if kind == "blueprint" else (SECTION_OF[kind], name)


def merge_documents(
    ancestor: Iterable[Doc], ours: Iterable[Doc], theirs: Iterable[Doc]
) -> MergeResult:
    """Merge documents (of one app) three ways; see the module's docstring."""
    a = {(d.kind, d.name): d for d in ancestor}
    o = {(d.kind, d.name): d for d in ours}
    t = {(d.kind, d.name): d for d in theirs}
    conflicts: list[Conflict] = []
    merged: dict[tuple[str, str], Any] = {}
    for key in {**t, **o}:
        kind, name = key
        bodies = [d[key].body if key in d else MISSING for d in (a, o, t)]
        if kind == "blueprint":
            bodies = [_upstream_manifest(b, bodies[2]) for b in bodies]
        was, ours_body, now = bodies
        if ours_body is MISSING and was is not MISSING and now is not MISSING:
            if not same(was, now):
                # Deleted here (a tombstone), changed upstream: one conflict for the document.
                keys = doc_keys(kind, name)
                conflicts.append(Conflict("deleted_document", keys, was, MISSING, now))
            continue  # unchanged upstream: it stays deleted
        value = merge_values(*bodies, keys=doc_keys(kind, name), conflicts=conflicts)
        if value is not MISSING:
            merged[key] = value
    order = merge_order(list(a), list(o), list(t), set(merged)) or list(merged)
    app = next(iter({**a, **o, **t}.values())).app if (a or o or t) else ""
    documents = [Doc(kind, app, name, merged[(kind, name)]) for kind, name in order]
    custom = [
        d
        for d in documents
        if (d.kind, d.name) not in t or not same(d.body, t[(d.kind, d.name)].body)
    ]
    removed = [key for key in t if key not in merged]
    # What the new base has and the merge left out, the custom layer deletes with a tombstone.
    custom += [Doc(kind, app, name, None) for kind, name in removed]
    return MergeResult(documents, custom, removed, conflicts)


def _upstream_manifest(body: Any, theirs: Any) -> Any:
    # The manifest's identity and version are the incoming blueprint's, whatever a side says.
    if not isinstance(body, Mapping) or not isinstance(theirs, Mapping):
        return body
    out = dict(body)
    for key in UPSTREAM_KEYS:
        if key in theirs:
            out[key] = theirs[key]
    return out


def merge_values(
    ancestor: Any,
    ours: Any,
    theirs: Any,
    *,
    keys: Path = (),
    conflicts: list[Conflict] | None = None,
) -> Any:
    """The three-way merge of one JSON value (MISSING for absent); conflicts are appended to
    `conflicts` and keep our value in the result."""
    out = conflicts if conflicts is not None else []
    if same(ours, theirs):
        return ours
    if same(ours, ancestor):
        return theirs
    if same(theirs, ancestor):
        return ours
    if ancestor is MISSING:
        code = "added_both"
    elif ours is MISSING:
        code = "deleted_ours"
    elif theirs is MISSING:
        code = "deleted_theirs"
    elif all(isinstance(v, Mapping) for v in (ancestor, ours, theirs)):
        return _merge_dicts(ancestor, ours, theirs, keys, out)
    elif all(isinstance(v, list) for v in (ancestor, ours, theirs)):
        return _merge_lists(ancestor, ours, theirs, keys, out)
    else:
        code = "changed_both"
    out.append(Conflict(code, keys, ancestor, ours, theirs))
    return ours


def _merge_dicts(
    a: Mapping[str, Any],
    o: Mapping[str, Any],
    t: Mapping[str, Any],
    keys: Path,
    out: list[Conflict],
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in {**t, **o}:
        value = merge_values(
            a.get(key, MISSING),
            o.get(key, MISSING),
            t.get(key, MISSING),
            keys=(*keys, key),
            conflicts=out,
        )
        if value is not MISSING:
            merged[key] = value
    # Two reorderings of a mapping's keys (fields) are no conflict: ours wins.
    order = merge_order(list(a), list(o), list(t), set(merged)) or _ours_first(o, t, merged)
    return {key: merged[key] for key in order}


def _ours_first(o: Iterable[Any], t: Iterable[Any], keep: Iterable[Any]) -> list[Any]:
    wanted = set(keep)
    return [k for k in dict.fromkeys([*o, *t]) if k in wanted]


def identity(item: Any) -> str | None:
    """An item's identity in a list: a plain value itself, else its `name` or `value`."""
    if isinstance(item, str | int | float | bool) or item is None:
        return json.dumps(item)
    if isinstance(item, Mapping):
        for key in ("name", "value"):
            if isinstance(item.get(key), str | int):
                return f"{key}={item[key]}"
    return None


def item_label(ident: str) -> str:
    """An identity as shown in a path: `approved` for `name=approved`, `CNY` for `"CNY"`."""
    if ident.startswith(("name=", "value=")):
        return ident.split("=", 1)[1]
    try:
        return str(json.loads(ident))
    except ValueError:
        return ident


def keyed_items(items: Sequence[Any]) -> dict[str, Any] | None:
    """A list's items by identity, or None when an item has none or two share one."""
    ids = [identity(i) for i in items]
    if any(i is None for i in ids) or len(set(ids)) != len(ids):
        return None
    return {str(i): item for i, item in zip(ids, items, strict=True)}


def _merge_lists(
    a: list[Any], o: list[Any], t: list[Any], keys: Path, out: list[Conflict]
) -> list[Any]:
    maps = [keyed_items(x) for x in (a, o, t)]
    if all(m is not None for m in maps):
        am, om, tm = (m or {} for m in maps)
        merged: dict[str, Any] = {}
        for ident in {**tm, **om}:
            value = merge_values(
                am.get(ident, MISSING),
                om.get(ident, MISSING),
                tm.get(ident, MISSING),
                keys=(*keys, Item(item_label(ident))),
                conflicts=out,
            )
            if value is not MISSING:
                merged[ident] = value
        return _ordered_list(list(am), list(om), list(tm), merged, keys, o, t, out)
    # Items without a name: whole items, compared by value.
    canon = [[_canonical(i) for i in x] for x in (a, o, t)]
    if any(len(set(c)) != len(c) for c in canon):
        out.append(Conflict("changed_both", keys, a, o, t))
        return o
    ca, co, ct = (set(c) for c in canon)
    removed_o, removed_t = ca - co, ca - ct
    added_o, added_t = co - ca, ct - ca
    if removed_o & removed_t and added_o and added_t:
        # Both sides replaced the same item (a rule edited twice): a conflict, not two rules.
        out.append(Conflict("changed_both", keys, a, o, t))
        return o
    values = {
        c: i for x, cx in zip((a, o, t), canon, strict=True) for c, i in zip(cx, x, strict=True)
    }
    keep = {c: values[c] for c in (ca - removed_o - removed_t) | added_o | added_t}
    return _ordered_list(canon[0], canon[1], canon[2], keep, keys, o, t, out)


def _ordered_list(
    a: list[str],
    o: list[str],
    t: list[str],
    items: Mapping[str, Any],
    keys: Path,
    ours: list[Any],
    theirs: list[Any],
    out: list[Conflict],
) -> list[Any]:
    order = merge_order(a, o, t, set(items))
    if order is None:
        out.append(Conflict("order", keys, MISSING, ours, theirs))
        order = _ours_first(o, t, items)
    return [items[i] for i in order]


def merge_order(a: list[Any], o: list[Any], t: list[Any], keep: set[Any]) -> list[Any] | None:
    """The merged order of the kept items, or None when both sides reordered differently."""
    o_moved, t_moved = _moved(a, o), _moved(a, t)
    if o_moved and t_moved:
        both = [x for x in o if x in keep and x in t]
        in_t = set(both)
        if both != [x for x in t if x in in_t]:
            return None
    primary, secondary = (t, o) if t_moved and not o_moved else (o, t)
    result = [x for x in primary if x in keep]
    placed = set(result)
    previous: Any = MISSING
    for i, x in enumerate(secondary):
        if x in keep and x not in placed:
            if previous is MISSING:
                result.insert(0, x)  # first on its side: first here
            elif not any(y in placed for y in secondary[i + 1 :]):
                result.append(x)  # after everything placed on its side: last here
            else:
                result.insert(result.index(previous) + 1, x)  # after its predecessor
            placed.add(x)
        if x in placed:
            previous = x
    return result


def _moved(a: list[Any], side: list[Any]) -> bool:
    """Whether `side` put the items it shares with `a` in another relative order."""
    shared = set(a) & set(side)
    return [x for x in a if x in shared] != [x for x in side if x in shared]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def same(x: Any, y: Any) -> bool:
    """Equal as JSON values (True is not 1), keys in the same order: the order of an entity's
    fields is what every form and list shows, so moving a field is a change."""
    if x is MISSING or y is MISSING:
        return x is y
    if isinstance(x, Mapping) and isinstance(y, Mapping):
        return list(x) == list(y) and all(same(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(same(i, j) for i, j in zip(x, y, strict=True))
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    if isinstance(x, int | float) and isinstance(y, int | float):
        return x == y
    return type(x) is type(y) and bool(x == y)
