"""What a portal user (a supplier's or a customer's staff) sees: their records, in sections.

The sections come from the blueprints' portal roles (`portal: true`): every entity such a role
may read under a record rule (`where`: its own records) lands in a section. Entities known to
SRM and CRM get the sections a supplier or a customer looks for (RFQs to bid on, orders to
confirm, deliveries, invoices, tickets, the company profile); any other entity with a rule
gets a section of its own. Entities a role reads without a rule (the material catalogue, the
product list) are reference data, not "their records", and stay off the portal. The records
themselves are read elsewhere, always under the caller's scope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from appblocks.engine.access import AccessPolicy, Grant
from appblocks.engine.catalog import Catalog
from appblocks.engine.spec import EntitySpec, FieldSpec
from appblocks.engine.users import Identity
from appblocks.views import display

LIST_TYPES = frozenset(
    {"text", "date", "datetime", "money", "decimal", "integer", "percent", "choice", "link",
     "boolean", "email", "phone", "autonumber", "lookup", "user"}
)  # fmt: skip
MAX_COLUMNS = 5
RESPOND = frozenset({"rfqs", "confirm", "orders"})  # sections whose rows can be answered


@dataclass(frozen=True)
class Kind:
    """A section a portal user expects, by the entity names it gathers."""

    key: str
    entities: tuple[str, ...]
    states: tuple[str, ...] = ()  # only records in these workflow states
    confirm: bool = False  # only records still waiting for the user's confirmation


KINDS = (
    Kind("rfqs", ("rfq",), states=("open",)),
    Kind("confirm", ("purchase_order",), states=("approved",), confirm=True),
    Kind("orders", ("purchase_order", "sales_order")),
    Kind("bids", ("bid",)),
    Kind("deliveries", ("ship_notice", "goods_receipt")),
    Kind("invoices", ("supplier_invoice", "reconciliation")),
    Kind("tickets", ("ticket",)),
    Kind("profile", ("supplier", "account")),
)


@dataclass(frozen=True)
class PortalList:
    """One entity's list in a section, with the query that selects its records."""

    entity: EntitySpec
    columns: tuple[FieldSpec, ...]
    filter: Mapping[str, Any] | None = None
    confirm_field: str | None = None  # the boolean the user sets to confirm a record
    respond: bool = False  # rows offer to create what answers them (a bid, a ship notice)


@dataclass(frozen=True)
class Section:
    """A titled group of lists (`key` names a known kind; `more` is an entity of its own)."""

    key: str
    lists: tuple[PortalList, ...] = field(default_factory=tuple)


def portal_roles(policy: AccessPolicy, identity: Identity, preview: str | None = None) -> list[str]:
    """The portal roles whose sections the identity sees: its own, or for an administrator
    the one it previews (the first portal role when it names none)."""
    if identity.is_admin:
        roles = sorted(policy.portal_roles)
        return [preview] if preview in roles else roles[:1]
    return sorted(identity.roles & policy.portal_roles)


def portal_grants(policy: AccessPolicy, roles: list[str]) -> dict[str, list[Grant]]:
    """Entity -> the grants of these portal roles that let them read that entity."""
    out: dict[str, list[Grant]] = {}
    for role in roles:
        for entity, grant in policy.grants.get(role, {}).items():
            if "read" in grant.actions:
                out.setdefault(entity, []).append(grant)
    return out


def confirm_field(entity: EntitySpec, writable: frozenset[str] | None) -> str | None:
    """The yes/no field by which the user confirms a record (`supplier_confirmed`), if the
    entity has one and the user may write it (`writable` None: may not update at all)."""
    if writable is None:
        return None
    for f in entity.fields.values():
        if f.type == "boolean" and f.name.endswith("confirmed") and f.name in writable:
            return f.name
    return None


def list_columns(
    entity: EntitySpec,
    hidden: frozenset[str],
    *,
    skip: frozenset[str] = frozenset(),
    unreadable: Callable[[str], bool] = lambda target: False,
) -> tuple[FieldSpec, ...]:
    """The few columns a portal list shows: the title, then the first plain fields (not the
    ones in `skip`, e.g. the user's own company, nor links to what they may not read)."""
    out: list[FieldSpec] = []
    title = entity.fields.get(entity.title or "")
    if title is not None and title.name not in hidden:
        out.append(title)
    for f in entity.fields.values():
        if len(out) >= MAX_COLUMNS:
            break
        if f is title or f.name in hidden or f.name in skip or f.type not in LIST_TYPES:
            continue
        if f.type == "lookup" or f.name.endswith("_at"):
            continue  # copies and time stamps crowd a short list
        if f.type == "link" and f.target and unreadable(f.target):
            continue
        out.append(f)
    return tuple(out)


def rule_fields(grants: list[Grant]) -> frozenset[str]:
    """The fields the record rules of these grants follow (`supplier` of `supplier.name`):
    on the portal every record has the user's own value there, so a column would only repeat
    it."""
    return frozenset(str(key).split(".")[0] for g in grants for key in (g.where or {}))


def sections(
    catalog: Catalog,
    policy: AccessPolicy,
    roles: list[str],
    *,
    hidden: Callable[[str], frozenset[str]],
    writable: Callable[[str], frozenset[str] | None],
    readable: Callable[[str], bool] = lambda entity: True,
) -> list[Section]:
    """The portal's sections for these portal roles: `hidden(entity)` are the fields the
    user may not see, `writable(entity)` the fields they may update (None: no update), `readable(entity)`
    whether they may read an entity at all."""
    grants = portal_grants(policy, roles)
    own = {e for e, gs in grants.items() if any(g.where for g in gs)}
    by_name: dict[str, list[str]] = {}
    for qualified in sorted(own):
        spec = catalog.entity(qualified)
        if spec.parent is None:
            by_name.setdefault(spec.name, []).append(qualified)
    placed: set[str] = set()
    out: list[Section] = []
    for kind in KINDS:
        lists: list[PortalList] = []
        for name in kind.entities:
            for qualified in by_name.get(name, []):
                spec = catalog.entity(qualified)
                columns = list_columns(
                    spec, hidden(qualified), skip=rule_fields(grants[qualified]),
                    unreadable=lambda t: not readable(t),
                )  # fmt: skip
                filter_: dict[str, Any] = {}
                if kind.states and spec.has_state:
                    filter_["_state"] = {"in": list(kind.states)}
                confirm = None
                if kind.confirm:
                    confirm = confirm_field(spec, writable(qualified))
                    if confirm is None:
                        continue
                    filter_[confirm] = {"ne": True}
                placed.add(qualified)
                respond = kind.key in RESPOND
                lists.append(PortalList(spec, columns, filter_ or None, confirm, respond))
        if lists:
            out.append(Section(kind.key, tuple(lists)))
    for names in by_name.values():
        for qualified in names:
            if qualified in placed:
                continue
            spec = catalog.entity(qualified)
            columns = list_columns(
                spec, hidden(qualified), skip=rule_fields(grants[qualified]),
                unreadable=lambda t: not readable(t),
            )  # fmt: skip
            out.append(Section("more", (PortalList(spec, columns),)))
    return out


def cell_text(catalog: Catalog, spec: FieldSpec, value: Any, locale: str) -> str:
    """A field's value as text for a list; a link expanded to its record shows the title."""
    if spec.type in ("link", "links") and spec.target:
        title = catalog.entity(spec.target).title

        def titled(v: Any) -> Any:
            if isinstance(v, Mapping):
                return {"id": v.get("id"), "title": v.get(title or "") or f"#{v.get('id')}"}
            return {"id": v, "title": f"#{v}"}

        value = [titled(v) for v in value] if isinstance(value, list) else titled(value)
        if value == {"id": None, "title": "#None"}:
            return ""
    return display.value(spec, value, locale)
