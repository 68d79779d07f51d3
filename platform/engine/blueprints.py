"""Blueprint import, upgrade and export: validate, plan, apply atomically, write YAML back.

Every way a document reaches the database (CLI, REST upload, designer) goes through
`install`, so there is one path from a document to a table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from appblocks.engine import migrations
from appblocks.engine.catalog import (
    Catalog,
    installed_apps,
    join_documents,
    read_documents,
    write_blueprint,
)
from appblocks.engine.compute import build_store, recompute_entities
from appblocks.engine.layers import (
    LAYER_NAMES,
    has_custom,
    layer_blueprint,
    upgrade_merge,
    write_custom,
)
from appblocks.engine.loader import BlueprintError, LoadedBlueprint
from appblocks.engine.merge import Conflict, Item
from appblocks.engine.platform_db import upgrade as upgrade_platform
from appblocks.engine.records import RecordStore
from appblocks.engine.seed import load_seed_data
from appblocks.engine.spec import MANIFEST_KEYS, SECTIONS
from appblocks.engine.validate import validate_blueprint
from appblocks.engine.versions import record_version


class BlueprintRefused(Exception):
    """A blueprint that cannot be installed; `errors` says why, each with its place."""

    def __init__(self, errors: list[BlueprintError] | list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class UpgradeConflict(BlueprintRefused):
    """A new version of a customised blueprint changes what the customisation changed, in
    another way; `conflicts` names each place with both values. Nothing was changed."""

    def __init__(self, conflicts: list[Conflict], loaded: LoadedBlueprint) -> None:
        self.conflicts = conflicts
        errors = []
        for conflict in conflicts:
            # Placed in the incoming files where the key is written (lists: at the list).
            file, line = loaded.where(tuple(_until_item(conflict.keys)))
            errors.append(BlueprintError(file, line, conflict.path, conflict.detail()))
        super().__init__(errors)


def _until_item(keys: tuple[str | Item, ...]) -> list[str]:
    out = []
    for key in keys:
        if isinstance(key, Item):
            break
        out.append(key)
    return out


@dataclass
class InstallResult:
    """What an import did (or, for a dry run, would do)."""

    app: str
    version: str
    previous_version: str | None
    plan: migrations.Plan
    applied: bool
    records: dict[str, int] = field(default_factory=dict)
    backups: list[Path] = field(default_factory=list)
    recomputed: dict[str, int] = field(default_factory=dict)  # records whose values changed
    customised: bool = False  # the installed customisation was merged into the new version
    version_number: int | None = None  # the kept version this import recorded


_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def semver_key(version: str) -> tuple[int, int, int, int, str]:
    """A sort key for a semver string (a release sorts after its pre-releases)."""
    match = _SEMVER.match(version)
    if not match:
        return (0, 0, 0, 0, version)
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


def satisfies(version: str, spec: str) -> bool:
    """Whether an installed `version` meets a `requires` specifier (>=1.0, ^1.2, ~1.2, 1.2.3, *)."""
    spec = str(spec).strip()
    if spec in ("", "*"):
        return True
    have = semver_key(version)[:3]
    for part in spec.split(","):
        part = part.strip()
        op_match = re.match(r"^(>=|<=|>|<|==|=|\^|~)?\s*(\d+(?:\.\d+){0,2})$", part)
        if not op_match:
            return False
        op, number = op_match.groups()
        nums = [int(n) for n in number.split(".")]
        want = tuple(nums + [0] * (3 - len(nums)))
        if op in (None, "=", "=="):
            ok = have[: len(nums)] == tuple(nums)
        elif op == ">=":
            ok = have >= want
        elif op == ">":
            ok = have > want
        elif op == "<=":
            ok = have <= want
        elif op == "<":
            ok = have < want
        elif op == "^":
            ok = have >= want and have[0] == want[0]
        else:  # "~": same major.minor
            ok = have >= want and have[:2] == want[:2]
        if not ok:
            return False
    return True


def installed_blueprints(connection: sa.Connection) -> dict[str, dict[str, Any]]:
    """Every installed app's blueprint (custom layer applied), keyed by app."""
    return join_documents(read_documents(connection))


def prepare(
    connection: sa.Connection, loaded: LoadedBlueprint
) -> tuple[Catalog, Catalog, dict[str, Any]]:
    """Validate a loaded blueprint against what is installed; the old and new catalogs."""
    installed = installed_blueprints(connection)
    app = str(loaded.doc.get("blueprint", ""))
    others = {a: b for a, b in installed.items() if a != app}
    errors = list(loaded.errors) or validate_blueprint(loaded, others)
    if errors:
        raise BlueprintRefused(sorted(errors, key=lambda e: (e.file, e.line)))
    blueprint = loaded.doc
    problems: list[str] = []
    versions = dict(installed_apps(connection))
    for needed, spec in (blueprint.get("requires") or {}).items():
        if needed not in versions:
            problems.append(f"{app} requires {needed} {spec}, which is not installed")
        elif not satisfies(versions[needed], str(spec)):
            problems.append(f"{app} requires {needed} {spec}, but {versions[needed]} is installed")
    current = versions.get(app)
    if current and semver_key(str(blueprint["version"])) < semver_key(current):
        problems.append(
            f"{app} {current} is installed; {blueprint['version']} is older (a downgrade is "
            "not an upgrade: export, edit and bump the version instead)"
        )
    if problems:
        raise BlueprintRefused(problems)
    old = Catalog(installed)
    new = old.with_blueprint(blueprint)
    return old, new, blueprint


def install(
    engine: sa.Engine,
    loaded: LoadedBlueprint,
    *,
    with_data: bool = False,
    allow_data_loss: bool = False,
    backup_dir: Path | None = None,
    dry_run: bool = False,
    actor: str | None = None,
    store_factory: Callable[[Catalog], RecordStore] | None = None,
) -> InstallResult:
    """Validate, plan and apply a blueprint in one transaction (or only plan, for a dry run).

    Stored formula, rollup and lookup values the change makes stale are recomputed in the same
    transaction; seed data is saved through `store_factory(new catalog)` (default
    `build_store`), which a caller may give automations to."""
    upgrade_platform(engine)
    # begin_migration: on SQLite, rebuilding a table must not cascade through foreign keys;
    # they are checked as a whole before COMMIT instead.
    with migrations.begin_migration(engine) as connection:
        old, new, blueprint = prepare(connection, loaded)
        app = str(blueprint["blueprint"])
        previous = dict(installed_apps(connection)).get(app)
        merged = None
        if previous is not None and has_custom(connection, app):
            # Three-way: the installed base, the customisation over it, the incoming base.
            merged = upgrade_merge(connection, blueprint)
            if merged.conflicts:
                raise UpgradeConflict(merged.conflicts, loaded)
            new = _check_merged(connection, app, merged.blueprint, old)
        plan = migrations.plan(old, new, connection=connection)
        result = InstallResult(app, str(blueprint["version"]), previous, plan, applied=False)
        result.customised = merged is not None
        if dry_run:
            return result
        report = migrations.apply(
            plan, connection, allow_data_loss=allow_data_loss, backup_dir=backup_dir
        )
        result.backups = list(report.backups)
        store = (store_factory or build_store)(new)
        if report.recompute:
            result.recomputed = recompute_entities(connection, store, report.recompute)
        write_blueprint(connection, {k: v for k, v in blueprint.items() if k != "data"})
        if merged is not None:
            write_custom(connection, app, merged.result.custom)
        if with_data and blueprint.get("data"):
            result.records = load_seed_data(
                connection, new, app, blueprint["data"], actor=actor, store=store
            )
        result.version_number = record_version(
            connection,
            app,
            source="upgrade" if previous else "import",
            actor=actor,
            plan=plan.render(),
        )
        result.applied = True
        return result


def _check_merged(
    connection: sa.Connection, app: str, blueprint: dict[str, Any], old: Catalog
) -> Catalog:
    """The catalog of a merged upgrade, once the merged blueprint validates: a change upstream
    can break a customisation that merged cleanly (a field it reads was removed)."""
    others = {a: b for a, b in installed_blueprints(connection).items() if a != app}
    loaded = LoadedBlueprint(doc=blueprint, root=Path(f"{app} (customised)"))
    errors = validate_blueprint(loaded, others)
    if errors:
        raise BlueprintRefused(
            [
                f"the customisation of {app} does not fit the new version: {e.path}: {e.message}"
                for e in errors
            ]
        )
    return old.with_blueprint(blueprint)


def export_blueprint(
    connection: sa.Connection, app: str, layer: str = "effective"
) -> dict[str, Any]:
    """The installed app as one blueprint dict: with its customisations (`effective`), as
    shipped (`base`), or only the customised documents (`custom`)."""
    if layer not in LAYER_NAMES:
        raise ValueError(f"layer must be one of {', '.join(LAYER_NAMES)}")
    blueprints = join_documents(read_documents(connection, app))
    if app not in blueprints:
        raise BlueprintRefused([f"no app called {app!r} is installed"])
    return blueprints[app] if layer == "effective" else layer_blueprint(connection, app, layer)


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def write_blueprint_folder(blueprint: Mapping[str, Any], out: Path) -> list[Path]:
    """Write a blueprint as a folder: `blueprint.yaml` plus one file per non-empty section."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    manifest = {k: blueprint[k] for k in MANIFEST_KEYS if k in blueprint}
    path = out / "blueprint.yaml"
    path.write_text(_yaml(manifest), encoding="utf-8")
    written.append(path)
    for section in SECTIONS:
        if blueprint.get(section):
            path = out / f"{section}.yaml"
            path.write_text(_yaml({section: blueprint[section]}), encoding="utf-8")
            written.append(path)
    return written


def blueprint_yaml(blueprint: Mapping[str, Any]) -> str:
    """A blueprint as one YAML document (for downloads)."""
    manifest = {k: blueprint[k] for k in MANIFEST_KEYS if k in blueprint}
    sections = {s: blueprint[s] for s in SECTIONS if blueprint.get(s)}
    return _yaml({**manifest, **sections})
