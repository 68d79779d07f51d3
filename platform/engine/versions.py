"""Kept versions of an app: a snapshot of its documents after every import, upgrade, publish
and restore, with who made it, when, why and the migration plan that ran.

Restoring a version is not a rewind: it opens a draft whose documents are the snapshot's
(`restore`), which is planned and published like any other draft, so the tables follow and
the restore is itself a new version (`restore_version` does both steps).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from appblocks.engine.catalog import Doc, join_documents, read_documents
from appblocks.engine.layers import CodedError, read_layer
from appblocks.engine.models import App, AppVersion, utcnow

if TYPE_CHECKING:
    from appblocks.engine.catalog import Catalog
    from appblocks.engine.drafts import Draft, PublishResult
    from appblocks.engine.records import RecordStore

#: how a version came to be
SOURCES = ("import", "upgrade", "create", "publish", "restore")


class VersionError(CodedError):
    """A version that does not exist."""

    MESSAGES = {"not_found": "{app} has no version {number}"}
    ZH_CN = {"not_found": "{app} 没有版本 {number}"}


@dataclass(frozen=True)
class VersionInfo:
    """One kept version, without its documents (for lists)."""

    app: str
    number: int
    source: str
    base_version: str | None  # the shipped blueprint's version under it
    actor: str | None
    note: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class Version:
    """One kept version with its documents and the plan that produced it."""

    info: VersionInfo
    documents: tuple[Doc, ...]
    layers: dict[tuple[str, str], str]  # (kind, name) -> the layer it came from
    plan: str | None

    @property
    def number(self) -> int:
        return self.info.number

    def blueprint(self) -> dict[str, Any]:
        """The version's documents as one blueprint dict."""
        app = self.info.app
        return join_documents(self.documents).get(app, {"blueprint": app})


def record_version(
    connection: sa.Connection,
    app: str,
    *,
    source: str,
    actor: str | None = None,
    note: str | None = None,
    plan: str | None = None,
) -> int:
    """Keep the app's documents as they are now as a new version; its number."""
    custom = {(d.kind, d.name) for d in read_layer(connection, app, "custom")}
    documents = [
        {
            "kind": d.kind,
            "name": d.name,
            "layer": "custom" if (d.kind, d.name) in custom else "base",
            "body": d.body,
        }
        for d in read_documents(connection, app)
    ]
    last = connection.execute(
        sa.select(sa.func.max(AppVersion.number)).where(AppVersion.app == app)
    ).scalar()
    number = int(last or 0) + 1
    base_version = connection.execute(sa.select(App.version).where(App.app == app)).scalar()
    connection.execute(
        sa.insert(AppVersion).values(
            app=app,
            number=number,
            source=source,
            base_version=base_version,
            documents=documents,
            plan=plan,
            actor=actor,
            note=note,
            created_at=utcnow(),
        )
    )
    return number


_INFO = (
    AppVersion.app,
    AppVersion.number,
    AppVersion.source,
    AppVersion.base_version,
    AppVersion.actor,
    AppVersion.note,
    AppVersion.created_at,
)


def list_versions(connection: sa.Connection, app: str) -> list[VersionInfo]:
    """The kept versions of `app`, newest first."""
    query = sa.select(*_INFO).where(AppVersion.app == app).order_by(AppVersion.number.desc())
    return [VersionInfo(*row) for row in connection.execute(query)]


def get_version(connection: sa.Connection, app: str, number: int) -> Version:
    """One kept version with its documents; VersionError when there is none."""
    query = sa.select(*_INFO, AppVersion.documents, AppVersion.plan).where(
        AppVersion.app == app, AppVersion.number == number
    )
    row = connection.execute(query).first()
    if row is None:
        raise VersionError("not_found", app=app, number=number)
    info = VersionInfo(*row[: len(_INFO)])
    stored, plan = row[len(_INFO)], row[len(_INFO) + 1]
    docs = tuple(Doc(d["kind"], app, d["name"], d["body"]) for d in stored)
    layers = {(d["kind"], d["name"]): str(d.get("layer", "base")) for d in stored}
    return Version(info, docs, layers, plan)


def restore(connection: sa.Connection, app: str, number: int, *, actor: str | None = None) -> Draft:
    """A new draft whose documents are those of version `number` (publish it to restore)."""
    # drafts records versions when it publishes; imported here to keep that dependency one-way.
    from appblocks.engine.drafts import start_draft

    version = get_version(connection, app, number)
    return start_draft(
        connection,
        app,
        version.documents,
        actor=actor,
        restores=number,
        label=f"Restore version {number}",
    )


def restore_version(
    engine: sa.Engine,
    app: str,
    number: int,
    *,
    actor: str | None = None,
    confirm_data_loss: bool = False,
    backup_dir: Path | None = None,
    store_factory: Callable[[Catalog], RecordStore] | None = None,
) -> PublishResult:
    """Restore version `number` in one go: its draft, planned and published (a new version)."""
    from appblocks.engine.drafts import discard, publish

    with engine.begin() as connection:
        draft = restore(connection, app, number, actor=actor)
    try:
        return publish(
            engine,
            draft.id,
            actor=actor,
            confirm_data_loss=confirm_data_loss,
            backup_dir=backup_dir,
            store_factory=store_factory,
        )
    except Exception:
        # Refused (data loss not confirmed, a stale app): no half-made draft is left behind.
        with engine.begin() as connection:
            discard(connection, draft.id)
        raise
