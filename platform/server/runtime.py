"""What the server keeps per process: the engine and the catalog, reloaded when it changes.

Nothing here is state another server must see: the catalog is a cache of `ab_document`,
re-read when the documents' fingerprint changes (checked at most once per TTL).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from appblocks.engine.access import AccessPolicy
from appblocks.engine.catalog import Catalog
from appblocks.engine.db import create_engine, reading
from appblocks.engine.models import Document
from appblocks.engine.platform_db import upgrade
from appblocks.engine.records import RecordStore
from appblocks.server.settings import Settings


@dataclass(frozen=True)
class Loaded:
    """One consistent generation: catalog, record store and access policy built together."""

    fingerprint: tuple[object, ...]
    catalog: Catalog
    store: RecordStore
    policy: AccessPolicy


class Runtime:
    """The engine and the current catalog generation."""

    def __init__(self, settings: Settings, engine: sa.Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings.db_url)
        upgrade(self.engine)
        self._lock = threading.Lock()
        self._checked = 0.0
        self._loaded = self._load()

    def _fingerprint(self, conn: sa.Connection) -> tuple[object, ...]:
        row = conn.execute(
            sa.select(sa.func.count(Document.id), sa.func.max(Document.updated_at))
        ).one()
        return (row[0], row[1])

    def _load(self) -> Loaded:
        with reading(self.engine) as conn:
            fingerprint = self._fingerprint(conn)
            catalog = Catalog.load(conn)
        return Loaded(fingerprint, catalog, RecordStore(catalog), AccessPolicy(catalog))

    def current(self) -> Loaded:
        """The current generation, re-read if documents changed since the last check."""
        now = time.monotonic()
        if now - self._checked < self.settings.catalog_ttl_seconds:
            return self._loaded
        with self._lock:
            if now - self._checked >= self.settings.catalog_ttl_seconds:
                with reading(self.engine) as conn:
                    fingerprint = self._fingerprint(conn)
                if fingerprint != self._loaded.fingerprint:
                    self._loaded = self._load()
                self._checked = time.monotonic()
        return self._loaded

    def reload(self) -> Loaded:
        """Re-read the catalog now (after this process changed documents)."""
        with self._lock:
            self._loaded = self._load()
            self._checked = time.monotonic()
        return self._loaded
