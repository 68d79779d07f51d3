"""What the server keeps per process: the engine and the catalog, reloaded when it changes.

Nothing here is state another server must see: the catalog is a cache of `ab_document`,
re-read when the documents' fingerprint changes (checked at most once per TTL). Two small
caches spare the hot path work it would repeat on every request:

- the identity behind a bearer token, by the token's digest, for `IDENTITY_TTL_SECONDS` (2 s,
  never past the token's expiry). A token revoked through this process is forgotten at once;
  a revocation elsewhere (another server, the CLI, SQL), a deactivated user or changed roles
  take effect here within the TTL.
- each identity's access scope per entity and action, in the catalog generation (so a reload
  starts afresh), keyed by the identity object that the token cache hands out.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from appblocks.engine.access import AccessPolicy, Scope
from appblocks.engine.catalog import Catalog, fingerprint
from appblocks.engine.db import create_engine, reading
from appblocks.engine.models import utcnow
from appblocks.engine.platform_db import upgrade
from appblocks.engine.records import RecordStore
from appblocks.engine.users import Identity, identity_for_digest, token_digest
from appblocks.server.settings import Settings
from appblocks.workflows.assembly import assemble
from appblocks.workflows.states import WorkflowEngine

IDENTITY_TTL_SECONDS = 2.0
IDENTITY_CACHE_SIZE = 10_000
SCOPE_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Loaded:
    """One consistent generation: catalog, record store and access policy built together."""

    fingerprint: tuple[object, ...]
    catalog: Catalog
    store: RecordStore
    policy: AccessPolicy
    workflows: WorkflowEngine
    # init=False: not a constructor argument, so later fields need no default after it.
    _scopes: dict[tuple[int, str, str], tuple[Identity, Scope | None]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def scope(self, identity: Identity, entity: str, action: str) -> Scope | None:
        """`policy.scope(...)`, remembered for this identity object (rules compile once)."""
        key = (id(identity), entity, action)
        hit = self._scopes.get(key)
        # The entry holds the identity itself, so its id cannot be reused while it is cached.
        if hit is not None and hit[0] is identity:
            return hit[1]
        scope = self.policy.scope(identity, entity, action)
        if len(self._scopes) >= SCOPE_CACHE_SIZE:
            self._scopes.clear()
        self._scopes[key] = (identity, scope)
        return scope


class Runtime:
    """The engine, the current catalog generation and the token cache."""

    def __init__(
        self,
        settings: Settings,
        engine: sa.Engine | None = None,
        *,
        identity_ttl: float = IDENTITY_TTL_SECONDS,
    ) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings.db_url)
        upgrade(self.engine)
        self.identity_ttl = identity_ttl
        self._identities: dict[str, tuple[float, Identity]] = {}  # digest -> (until, identity)
        self._lock = threading.Lock()
        self._checked = 0.0
        self._loaded = self._load()

    def _load(self) -> Loaded:
        with reading(self.engine) as conn:
            stamp = fingerprint(conn)
            catalog = Catalog.load(conn)
        # The store computes fields, checks rules, starts workflows and runs automations:
        # the same logic as every other channel (see workflows/assembly.py).
        logic = assemble(catalog)
        return Loaded(stamp, catalog, logic.store, AccessPolicy(catalog), logic.workflows)

    def current(self) -> Loaded:
        """The current generation, re-read if documents changed since the last check."""
        now = time.monotonic()
        if now - self._checked < self.settings.catalog_ttl_seconds:
            return self._loaded
        with self._lock:
            if now - self._checked >= self.settings.catalog_ttl_seconds:
                with reading(self.engine) as conn:
                    stamp = fingerprint(conn)
                if stamp != self._loaded.fingerprint:
                    self._loaded = self._load()
                self._checked = time.monotonic()
        return self._loaded

    def reload(self) -> Loaded:
        """Re-read the catalog now (after this process changed documents)."""
        with self._lock:
            self._loaded = self._load()
            self._checked = time.monotonic()
        return self._loaded

    # --- bearer tokens ----------------------------------------------------------------------

    def cached_identity(self, token: str) -> Identity | None:
        """The identity of a token looked up less than the TTL ago, else None (no I/O)."""
        hit = self._identities.get(token_digest(token))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def token_identity(self, token: str) -> Identity | None:
        """The identity a bearer token stands for (None when unknown, expired or revoked);
        from the cache when it was looked up less than the TTL ago."""
        digest = token_digest(token)
        now = time.monotonic()
        hit = self._identities.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        with reading(self.engine) as conn:
            found = identity_for_digest(conn, digest)
        if found is None:
            self._identities.pop(digest, None)
            return None
        identity, expires_at = found
        left = (expires_at - utcnow()).total_seconds()
        if len(self._identities) >= IDENTITY_CACHE_SIZE:
            self._identities = {k: v for k, v in self._identities.items() if v[0] > now}
            if len(self._identities) >= IDENTITY_CACHE_SIZE:
                self._identities = {}
        self._identities[digest] = (now + min(self.identity_ttl, left), identity)
        return identity

    def forget_token(self, token: str) -> None:
        """Drop a token from the cache (it was revoked here)."""
        self._identities.pop(token_digest(token), None)
