"""Read a blueprint folder or file into one plain dict that remembers each key's file and line.

PyYAML's constructor is bypassed for mappings: we walk the composed node graph ourselves so
that every key keeps its position, duplicate keys are refused (PyYAML silently keeps the last
one, which loses a field) and keys are always the text written (`on:` stays "on", not True).
Scalars still go through PyYAML, except timestamps, which stay the text written so that a
document round-trips through JSON.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from appblocks.engine.i18n import DEFAULT_LOCALE, N_, render
from appblocks.engine.spec import MANIFEST_KEYS, SECTIONS

KeyPath = tuple[str | int, ...]
MANIFEST_FILE = "blueprint.yaml"
#: the `path` of an error about a whole file (syntax, encoding), where no key applies
FILE_LEVEL = "(file)"
#: sections merged by key across the files of a folder (`data` is keyed by entity)
MERGED_SECTIONS: tuple[str, ...] = (*SECTIONS, "data")


@dataclass(frozen=True)
class BlueprintError:
    """One problem in a blueprint, with the file, line and key path where it is.

    `message` is the English text (what the CLI and the API show); `template` and `params`
    keep what it was made from, so that `text(locale)` can say it in another language.
    """

    file: str
    line: int
    path: str
    message: str
    template: str = field(default="", compare=False, repr=False)
    params: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, file: str, line: int, path: str, template: str, /, **params: Any) -> BlueprintError:
        """An error from an English template (marked with N_) and its parameters."""
        return cls(file, line, path, render(template, params), template, params)

    def text(self, locale: str = DEFAULT_LOCALE) -> str:
        """The message in `locale` (en or zh-CN); English for a locale without a catalog."""
        return render(self.template, self.params, locale) if self.template else self.message

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


def dotted(path: KeyPath) -> str:
    """A key path as text: `entities.supplier.fields.name`, `data.supplier.3.name`."""
    return ".".join(str(p) for p in path) if path else FILE_LEVEL


@dataclass
class LoadedBlueprint:
    """A blueprint's merged document, the loading errors, and where each key was written."""

    doc: dict[str, Any]
    root: Path
    errors: list[BlueprintError] = field(default_factory=list)
    #: the files read, in load order (the manifest first)
    files: list[str] = field(default_factory=list)
    #: False when a file could not be read or parsed, so parts of the blueprint are missing
    complete: bool = True
    positions: dict[KeyPath, tuple[str, int]] = field(default_factory=dict, repr=False)

    def where(self, path: KeyPath) -> tuple[str, int]:
        """File and 1-based line of the deepest known node on `path`."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return (self.files[0] if self.files else str(self.root), 1)

    def error(self, path: KeyPath, template: str, /, **params: Any) -> BlueprintError:
        """An error at `path`, placed at that key's file and line (`template` marked N_)."""
        file, line = self.where(path)
        return BlueprintError.of(file, line, dotted(path), template, **params)


def load_blueprint(path: str | Path) -> LoadedBlueprint:
    """Load a blueprint folder (`blueprint.yaml` then the other YAML files) or one YAML file."""
    root = Path(path)
    loaded = LoadedBlueprint(doc={}, root=root)
    if root.is_dir():
        manifest = root / MANIFEST_FILE
        others = sorted(
            p
            for p in root.iterdir()
            if p.is_file()
            and p.suffix in (".yaml", ".yml")
            and p.name != MANIFEST_FILE
            and not p.name.startswith(".")
        )
        if not manifest.is_file():
            loaded.errors.append(
                BlueprintError.of(
                    str(manifest),
                    1,
                    FILE_LEVEL,
                    N_("missing: a blueprint folder needs a blueprint.yaml"),
                )
            )
            loaded.complete = False
        else:
            _add_file(loaded, manifest, is_manifest=True)
        for other in others:
            _add_file(loaded, other, is_manifest=False)
    elif root.is_file():
        _add_file(loaded, root, is_manifest=True)
    else:
        loaded.errors.append(
            BlueprintError.of(str(root), 1, FILE_LEVEL, N_("no such file or folder"))
        )
        loaded.complete = False
    return loaded


def load_blueprint_text(text: str, filename: str = "<upload>") -> LoadedBlueprint:
    """Load a blueprint given as one YAML text (an upload); errors name `filename`."""
    loaded = LoadedBlueprint(doc={}, root=Path(filename))
    _add_text(loaded, text, filename, is_manifest=True)
    return loaded


def _add_file(loaded: LoadedBlueprint, path: Path, *, is_manifest: bool) -> None:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        loaded.files.append(str(path))
        loaded.errors.append(
            BlueprintError.of(str(path), 1, FILE_LEVEL, N_("cannot be read: {detail}"), detail=exc)
        )
        loaded.complete = False
        return
    _add_text(loaded, text, str(path), is_manifest=is_manifest)


def _add_text(loaded: LoadedBlueprint, text: str, filename: str, *, is_manifest: bool) -> None:
    loaded.files.append(filename)
    reader = _FileReader(filename)
    doc = reader.read(text)
    loaded.errors.extend(reader.errors)
    if doc is None:
        loaded.complete = False
        return
    _merge(loaded, doc, reader.positions, filename, is_manifest=is_manifest)


def _merge(
    loaded: LoadedBlueprint,
    doc: dict[str, Any],
    positions: dict[KeyPath, tuple[str, int]],
    filename: str,
    *,
    is_manifest: bool,
) -> None:
    """Merge one file's top level into the blueprint: sections by key, everything else once."""
    # Positions under each top-level key and each section entry, to adopt what is merged.
    under: dict[KeyPath, list[tuple[KeyPath, tuple[str, int]]]] = defaultdict(list)
    for path, where in positions.items():
        under[path[:1]].append((path, where))
        if len(path) >= 2:
            under[path[:2]].append((path, where))

    def adopt(prefix: KeyPath) -> None:
        for path, where in under.get(prefix, []):
            loaded.positions.setdefault(path, where)

    def err(path: KeyPath, template: str, **params: Any) -> None:
        line = positions.get(path, (filename, 1))[1]
        loaded.errors.append(BlueprintError.of(filename, line, dotted(path), template, **params))

    merged = loaded.doc
    for key, value in doc.items():
        if key in MERGED_SECTIONS and value is None:
            value = {}  # an empty section (`forms:` with everything commented out)
        if key in MANIFEST_KEYS and not is_manifest:
            err(
                (key,),
                N_("'{key}' is a manifest key: it belongs in {file}"),
                key=key,
                file=MANIFEST_FILE,
            )
            continue
        if key not in merged:
            merged[key] = value
            adopt((key,))
            continue
        if key in MERGED_SECTIONS and isinstance(merged[key], dict) and isinstance(value, dict):
            loaded.positions.setdefault((key,), positions[(key,)])
            for name, body in value.items():
                if name in merged[key]:
                    first_file, first_line = loaded.where((key, name))
                    err(
                        (key, name),
                        N_("'{name}' is defined twice (first at {file}:{line})"),
                        name=name,
                        file=first_file,
                        line=first_line,
                    )
                    continue
                merged[key][name] = body
                adopt((key, name))
            continue
        first_file, first_line = loaded.where((key,))
        err(
            (key,),
            N_("'{key}' is given twice (first at {file}:{line})"),
            key=key,
            file=first_file,
            line=first_line,
        )


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as the text written (documents round-trip JSON)."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)

_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN = (str, int, float, bool, type(None))


class _FileReader:
    """Turns one YAML text into plain values, recording each key's line and refusing duplicates."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: list[BlueprintError] = []
        self.positions: dict[KeyPath, tuple[str, int]] = {}
        self._loader: _SafeLoader | None = None
        self._active: set[int] = set()  # node ids being built: an alias loop would never end

    def read(self, text: str) -> dict[str, Any] | None:
        """The file's top-level mapping, or None when it cannot be parsed."""
        loader = _SafeLoader(text)
        self._loader = loader
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            detail = exc.problem or "invalid YAML"
            context = f" ({exc.context}" if exc.context else ""
            if context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
                context += f" that starts at line {exc.context_mark.line + 1}"
            context += ")" if context else ""
            self.errors.append(
                BlueprintError.of(
                    self.filename,
                    line,
                    FILE_LEVEL,
                    N_("invalid YAML: {detail}"),
                    detail=f"{detail}{context}",
                )
            )
            return None
        except yaml.YAMLError as exc:
            self.errors.append(
                BlueprintError.of(
                    self.filename, 1, FILE_LEVEL, N_("invalid YAML: {detail}"), detail=exc
                )
            )
            return None
        try:
            if node is None:
                return {}
            if not isinstance(node, MappingNode):
                self._error(node, (), N_("a blueprint file must be a mapping of keys to sections"))
                return None
            return self._mapping(node, ())
        finally:
            loader.dispose()

    def _error(self, node: Node, path: KeyPath, template: str, /, **params: Any) -> None:
        line = node.start_mark.line + 1
        self.errors.append(BlueprintError.of(self.filename, line, dotted(path), template, **params))

    def _value(self, node: Node, path: KeyPath) -> Any:
        if id(node) in self._active:
            self._error(node, path, N_("an alias refers to itself"))
            return None
        if isinstance(node, MappingNode):
            self._active.add(id(node))
            try:
                return self._mapping(node, path)
            finally:
                self._active.discard(id(node))
        if isinstance(node, SequenceNode):
            self._active.add(id(node))
            try:
                items = []
                for index, item in enumerate(node.value):
                    self.positions[(*path, index)] = (self.filename, item.start_mark.line + 1)
                    items.append(self._value(item, (*path, index)))
                return items
            finally:
                self._active.discard(id(node))
        return self._scalar(node, path)

    def _scalar(self, node: Node, path: KeyPath) -> Any:
        assert self._loader is not None
        try:
            value = self._loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self._error(node, path, N_("invalid YAML value: {detail}"), detail=problem)
            return None
        if not isinstance(value, _PLAIN):
            self._error(
                node,
                path,
                N_("a {kind} value cannot be used here (only text, numbers, true/false and null)"),
                kind=type(value).__name__,
            )
            return None
        return value

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merges: list[Node] = []
        explicit: list[tuple[str, Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self._error(key_node, path, N_("a key must be plain text, not a list or mapping"))
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in first_line:
                self._error(
                    key_node,
                    (*path, key),
                    N_("duplicate key '{key}' (first at line {line})"),
                    key=key,
                    line=first_line[key],
                )
                continue
            first_line[key] = line
            explicit.append((key, key_node, value_node))
        # `<<: *anchor` merges first, so that keys written here win over merged ones.
        merged: dict[str, Any] = {}
        for source in merges:
            sources = source.value if isinstance(source, SequenceNode) else [source]
            for one in sources:
                value = self._value(one, path)
                if not isinstance(value, dict):
                    self._error(one, path, N_("'<<' merges only mappings"))
                    continue
                for key, item in value.items():
                    merged.setdefault(key, item)
        for key, key_node, value_node in explicit:
            self.positions[(*path, key)] = (self.filename, key_node.start_mark.line + 1)
            out[key] = self._value(value_node, (*path, key))
        for key, item in merged.items():
            out.setdefault(key, item)
        return out
