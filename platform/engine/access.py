"""Access control: role permissions per entity and action, record rules and field rules.

Roles come from blueprints (`roles:` section) plus the platform roles `admin` (everything) and
`designer` (the designer; no records unless a blueprint role grants them). A permission is a
list of actions, or `{actions, where, fields}`: `where` is a filter in the query language whose
string values may be `$user` (the signed-in user's name) or `$user.<attr>` (an attribute set on
the user). It compiles to a SQL predicate that every read and write applies, so a record
outside the rule is simply not there (404), never "forbidden".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from appblocks.engine.catalog import Catalog
from appblocks.engine.query import compile_filter
from appblocks.engine.spec import qualify
from appblocks.engine.users import PLATFORM_ROLES, Identity

ACTIONS = ("read", "create", "update", "delete", "import", "export")
FIELD_MODES = ("hidden", "read", "write")


@dataclass(frozen=True)
class Grant:
    """What one role may do with one entity."""

    role: str
    actions: frozenset[str]
    where: Mapping[str, Any] | None = None
    fields: Mapping[str, str] = field(default_factory=dict)  # field -> hidden | read | write
    portal: bool = False


@dataclass(frozen=True)
class Scope:
    """One identity's access to one entity for one action, ready to apply to queries."""

    entity: str
    predicate: ColumnElement[bool] | None  # None: every row
    hidden: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()
    owner_fields: frozenset[str] = frozenset()  # `user` fields a rule names: filled on create


def _grant(role: str, portal: bool, body: Any) -> Grant:
    if isinstance(body, list | tuple):
        return Grant(role, frozenset(str(a) for a in body), portal=portal)
    body = body or {}
    actions = body.get("actions", ["read"])
    return Grant(
        role,
        frozenset(str(a) for a in actions),
        body.get("where"),
        dict(body.get("fields") or {}),
        portal,
    )


def _substitute(spec: Any, identity: Identity) -> tuple[Any, bool]:
    """Replace `$user` / `$user.attr` in a rule; False when an attribute is missing."""
    if isinstance(spec, Mapping):
        out = {}
        for key, value in spec.items():
            value, ok = _substitute(value, identity)
            if not ok:
                return None, False
            out[key] = value
        return out, True
    if isinstance(spec, list):
        items = []
        for value in spec:
            value, ok = _substitute(value, identity)
            if not ok:
                return None, False
            items.append(value)
        return items, True
    if isinstance(spec, str) and spec.startswith("$user"):
        if spec == "$user":
            return identity.name, True
        attr = spec[len("$user.") :]
        if attr not in identity.attributes or identity.attributes[attr] in (None, ""):
            return None, False
        return identity.attributes[attr], True
    return spec, True


def _owner_fields(catalog: Catalog, entity: str, where: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(where, Mapping):
        for key, value in where.items():
            if key in ("and", "or") and isinstance(value, list):
                for part in value:
                    found |= _owner_fields(catalog, entity, part)
            elif value == "$user" or (isinstance(value, Mapping) and value.get("eq") == "$user"):
                spec = catalog.entity(entity).fields.get(key)
                if spec is not None and spec.type == "user":
                    found.add(key)
    return found


class AccessPolicy:
    """Every role's grants, compiled once per catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.grants: dict[str, dict[str, Grant]] = {}  # role -> entity -> grant
        self.portal_roles: set[str] = set()
        for app, blueprint in catalog.blueprints.items():
            for role, doc in (blueprint.get("roles") or {}).items():
                doc = doc or {}
                portal = bool(doc.get("portal"))
                if portal:
                    self.portal_roles.add(role)
                per_entity = self.grants.setdefault(role, {})
                for entity, body in (doc.get("permissions") or {}).items():
                    per_entity[qualify(app, entity)] = _grant(role, portal, body)

    def roles(self) -> list[str]:
        """Every role: the platform's and the blueprints'."""
        return [*PLATFORM_ROLES, *sorted(r for r in self.grants if r not in PLATFORM_ROLES)]

    def is_portal(self, identity: Identity) -> bool:
        """A portal user (supplier, customer): only portal roles, never admin or designer."""
        return bool(identity.roles) and identity.roles <= self.portal_roles

    def _grants(self, identity: Identity, entity: str, action: str) -> list[Grant]:
        return [
            grant
            for role in identity.roles
            if (grant := self.grants.get(role, {}).get(entity)) is not None
            and action in grant.actions
        ]

    def can(self, identity: Identity, entity: str, action: str) -> bool:
        """Whether any role of the identity allows `action` on `entity` (some rows at least)."""
        return identity.is_admin or bool(self._grants(identity, entity, action))

    def entities(self, identity: Identity, action: str = "read") -> list[str]:
        """The entities the identity may `action`."""
        return [q for q in self.catalog.specs.entities if self.can(identity, q, action)]

    def scope(self, identity: Identity, entity: str, action: str = "read") -> Scope | None:
        """The rows and fields `identity` may reach for `action`; None when it may not at all."""
        if identity.is_admin:
            return Scope(entity, None)
        grants = self._grants(identity, entity, action)
        if not grants:
            return None
        predicates: list[ColumnElement[bool]] = []
        unrestricted = False
        owners: set[str] = set()
        for grant in grants:
            if not grant.where:
                unrestricted = True
                continue
            owners |= _owner_fields(self.catalog, entity, grant.where)
            spec, ok = _substitute(grant.where, identity)
            predicates.append(compile_filter(self.catalog, entity, spec) if ok else sa.false())
        predicate = None if unrestricted else sa.or_(*predicates)
        fields = self.catalog.entity(entity).fields
        hidden = frozenset(f for f in fields if all(g.fields.get(f) == "hidden" for g in grants))
        # A field the blueprint marks read_only (set by workflows and automations, e.g. the
        # approved total an order may not outgrow) is read-only for every role's own writes.
        read_only = frozenset(
            f
            for f, spec in fields.items()
            if f not in hidden
            and (spec.get("read_only") or all(g.fields.get(f, "write") != "write" for g in grants))
        )
        return Scope(entity, predicate, hidden, read_only, frozenset(owners))


def _rule_attributes(where: Any, found: dict[str, str], key: str = "") -> None:
    """Collect `attr -> field path` for every `$user.<attr>` a rule compares a path with."""
    if isinstance(where, Mapping):
        for k, value in where.items():
            if k in ("and", "or") and isinstance(value, list):
                for part in value:
                    _rule_attributes(part, found)
            elif isinstance(value, str) and value.startswith("$user."):
                found.setdefault(value[len("$user.") :], str(k))
            elif isinstance(value, Mapping):
                for op_value in value.values():
                    if isinstance(op_value, str) and op_value.startswith("$user."):
                        found.setdefault(op_value[len("$user.") :], str(k))


def sample_attributes(
    connection: sa.Connection, catalog: Catalog, policy: AccessPolicy, role: str
) -> dict[str, Any]:
    """Attribute values that give a demo user of `role` something to see: for each
    `$user.<attr>` in its rules, the value the rule's field path has on a real record."""
    values: dict[str, Any] = {}
    for entity, grant in policy.grants.get(role, {}).items():
        paths: dict[str, str] = {}
        _rule_attributes(grant.where, paths)
        for attr, path in paths.items():
            if attr in values:
                continue
            current, parts = entity, path.split(".")
            for part in parts[:-1]:
                field = catalog.entity(current).fields.get(part)
                if field is None or not field.target:
                    break
                current = field.target
            else:
                column = catalog.table(current).c.get(parts[-1])
                if column is not None:
                    first = connection.execute(
                        sa.select(column)
                        .where(column.is_not(None))
                        .order_by(catalog.table(current).c.id)
                        .limit(1)
                    ).scalar()
                    if first is not None:
                        values[attr] = first
    return values
