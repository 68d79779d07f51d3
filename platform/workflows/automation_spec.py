"""Automation documents compiled once per catalog: triggers, guards and actions.

Compiling resolves entity names (and the targets of links), compiles every expression and
parses the schedule, so that running an automation does no parsing. A document the validator passed
always compiles; `AutomationConfigError` here means the validator missed something.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from appblocks.engine.catalog import Catalog
from appblocks.engine.events import RECORD_CREATED, RECORD_DELETED, RECORD_UPDATED
from appblocks.engine.record_errors import RecordError
from appblocks.engine.sandbox import CompiledExpression, ExpressionError, compile_expression
from appblocks.engine.spec import label_text, qualify
from appblocks.workflows.schedule import ScheduleError, parse_schedule

EVENTS = ("created", "updated", "deleted", "field_changed", "state_entered")
_USES_USER = re.compile(r"\buser\b")
_ORIGIN = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # compiling must not depend on the clock


class AutomationConfigError(ValueError):
    """An automation document that does not compile (the validator should have said so)."""


class AutomationError(RecordError):
    """An automation that failed while running; the save that triggered it is rolled back."""

    def __init__(self, automation: str, message: str) -> None:
        self.automation = automation
        self.detail = message
        # The "invalid" code renders `detail` as it is, so the API reports the message
        # (naming the automation) without a message code of its own.
        super().__init__("invalid", detail=f"automation {automation} failed: {message}")


#: field -> (compiled expression, or None with a constant)
Values = tuple[tuple[str, CompiledExpression | None, Any], ...]


@dataclass(frozen=True)
class SetAction:
    """Change fields of the triggering record."""

    values: Values


@dataclass(frozen=True)
class CreateAction:
    """Create a record of any installed entity."""

    entity: str
    values: Values


@dataclass(frozen=True)
class UpdateAction:
    """Update the record a link of the triggering record points at, or records by filter."""

    entity: str
    link: str | None
    filter: Mapping[str, Any] | None
    values: Values


@dataclass(frozen=True)
class NotifyAction:
    """Notify users (names, `$user`, `$record.<field>`) and role members, maybe by mail."""

    recipients: Mapping[str, Any]  # `users`/`user` and `roles`/`role`, as workflows read them
    subject: str | None  # a template with {field} placeholders; None: the default subject
    body: str
    email: bool


@dataclass(frozen=True)
class WebhookAction:
    """POST the event, signed with the secret from the environment variable `secret_env`."""

    url: str
    secret_env: str | None


Action = SetAction | CreateAction | UpdateAction | NotifyAction | WebhookAction


@dataclass(frozen=True)
class Trigger:
    """What starts an automation: record events on an entity, or a schedule."""

    entity: str | None
    events: frozenset[str]
    fields: tuple[str, ...] = ()
    states: frozenset[str] = frozenset()
    schedule: str | None = None
    timezone: str = "UTC"

    def matches(
        self, name: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> bool:
        """Whether the record event `name` (with the record before and after) fires this."""
        events = self.events
        if name == RECORD_CREATED:
            return "created" in events
        if name == RECORD_DELETED:
            return "deleted" in events
        if name != RECORD_UPDATED or before is None or after is None:
            return False
        if "updated" in events:
            return True
        # A key missing on one side (lines are not always loaded) is not a change.
        if "field_changed" in events and any(
            f in before and f in after and before[f] != after[f] for f in self.fields
        ):
            return True
        state = after.get("_state")
        return "state_entered" in events and state != before.get("_state") and state in self.states


@dataclass(frozen=True)
class Automation:
    """One compiled automation of an app."""

    app: str
    name: str
    label: str
    trigger: Trigger
    when: CompiledExpression | None
    actions: tuple[Action, ...]
    uses_user: bool

    @property
    def qualified(self) -> str:
        return f"{self.app}.{self.name}"


def _listed(doc: Mapping[str, Any], many: str, one: str) -> tuple[str, ...]:
    items = list(doc.get(many) or [])
    if doc.get(one):
        items.append(doc[one])
    return tuple(dict.fromkeys(str(i) for i in items))


class _Compiler:
    """Compiles one automation document; every error names where it is."""

    def __init__(self, catalog: Catalog, app: str, name: str) -> None:
        self.catalog = catalog
        self.app = app
        self.name = f"{app}.{name}"
        self.sources: list[str] = []

    def fail(self, where: str, message: str) -> AutomationConfigError:
        return AutomationConfigError(f"automation {self.name}: {where}: {message}")

    def entity(self, where: str, ref: Any) -> str:
        qualified = qualify(self.app, str(ref))
        if qualified not in self.catalog.specs.entities:
            raise self.fail(where, f"'{ref}' is not an installed entity")
        return qualified

    def expression(self, where: str, source: str) -> CompiledExpression:
        try:
            compiled = compile_expression(source)
        except ExpressionError as exc:
            raise self.fail(where, f"{source!r} does not compile: {exc}") from None
        self.sources.append(source)
        return compiled

    def values(self, where: str, values: Any) -> Values:
        out: list[tuple[str, CompiledExpression | None, Any]] = []
        for field, value in (values or {}).items():
            if isinstance(value, str):  # a text is an expression; quote literal text: "'x'"
                out.append((str(field), self.expression(f"{where}.{field}", value), None))
            else:
                out.append((str(field), None, value))
        return tuple(out)

    def trigger(self, doc: Mapping[str, Any]) -> Trigger:
        if doc.get("schedule"):
            schedule, timezone = str(doc["schedule"]), str(doc.get("timezone") or "UTC")
            try:
                parse_schedule(schedule).next_run(_ORIGIN, timezone)
            except ScheduleError as exc:
                raise self.fail("on.schedule", str(exc)) from None
            return Trigger(None, frozenset(), schedule=schedule, timezone=timezone)
        entity = self.entity("on.entity", doc.get("entity"))
        events = frozenset(str(e) for e in doc.get("events") or ())
        if not events or not events <= set(EVENTS):
            raise self.fail("on.events", f"events are some of {', '.join(EVENTS)}")
        fields = _listed(doc, "fields", "field")
        states = frozenset(_listed(doc, "states", "state"))
        if "field_changed" in events and not fields:
            raise self.fail("on", "field_changed needs 'fields'")
        if "state_entered" in events and not states:
            raise self.fail("on", "state_entered needs 'states'")
        return Trigger(entity, events, fields, states)

    def action(self, where: str, doc: Mapping[str, Any], trigger: Trigger) -> Action:
        if len(doc) != 1:
            raise self.fail(where, "an action is one of set, create, update, notify, webhook")
        kind, body = next(iter(doc.items()))
        where = f"{where}.{kind}"
        body = body if isinstance(body, Mapping) else {}
        if kind == "set":
            if trigger.entity is None:
                raise self.fail(where, "a scheduled automation has no record to set fields on")
            return SetAction(self.values(where, body))
        if kind == "create":
            entity = self.entity(f"{where}.entity", body.get("entity"))
            return CreateAction(entity, self.values(f"{where}.values", body.get("values")))
        if kind == "update":
            return self.update(where, body, trigger)
        if kind == "notify":
            return self.notify(where, body)
        if kind == "webhook":
            url = str(body.get("url") or "")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise self.fail(f"{where}.url", f"{url!r} is not an http:// or https:// URL")
            if "secret" in body:
                raise self.fail(where, "a secret never stands in a blueprint: use secret_env")
            secret_env = body.get("secret_env")
            return WebhookAction(url, str(secret_env) if secret_env else None)
        raise self.fail(where, f"'{kind}' is not an action (set, create, update, notify, webhook)")

    def update(self, where: str, body: Mapping[str, Any], trigger: Trigger) -> UpdateAction:
        link, filt = body.get("record"), body.get("filter")
        if (link is None) == (filt is None):
            raise self.fail(where, "give either 'record' (a link field) or 'filter'")
        values = self.values(f"{where}.values", body.get("values"))
        if isinstance(filt, Mapping):
            entity = self.entity(f"{where}.entity", body.get("entity"))
            return UpdateAction(entity, None, dict(filt), values)
        spec = self.catalog.entity(trigger.entity) if trigger.entity else None
        field = spec.fields.get(str(link)) if spec else None
        if field is None or field.type != "link" or field.target is None:
            raise self.fail(f"{where}.record", f"'{link}' is not a link field of the record")
        if body.get("entity") and self.entity(f"{where}.entity", body["entity"]) != field.target:
            raise self.fail(f"{where}.entity", f"'{link}' links to {field.target}")
        return UpdateAction(field.target, str(link), None, values)

    def notify(self, where: str, body: Mapping[str, Any]) -> NotifyAction:
        # The same shape as a workflow's notify (`message` is the body's other name), so one
        # notification reads alike wherever it is configured.
        recipients = {k: body[k] for k in ("users", "user", "roles", "role") if body.get(k)}
        if not recipients:
            raise self.fail(where, "name 'users' or 'roles' to notify")
        subject = body.get("subject")
        return NotifyAction(
            recipients,
            str(subject) if subject else None,
            str(body.get("body") or body.get("message") or ""),
            bool(body.get("email")),
        )


def compile_automation(catalog: Catalog, app: str, name: str, doc: Mapping[str, Any]) -> Automation:
    """Compile one automation document of `app`; AutomationConfigError names what is wrong."""
    humane = name.replace("_", " ").capitalize()
    compiler = _Compiler(catalog, app, name)
    trigger = compiler.trigger(doc.get("on") or {})
    when = compiler.expression("when", doc["when"]) if doc.get("when") else None
    actions = tuple(
        compiler.action(f"do[{i}]", a if isinstance(a, Mapping) else {}, trigger)
        for i, a in enumerate(doc.get("do") or ())
    )
    if not actions:
        raise compiler.fail("do", "an automation needs at least one action")
    uses_user = any(_USES_USER.search(s) for s in compiler.sources)
    label = label_text(doc.get("label"), "en", humane)
    return Automation(app, name, label, trigger, when, actions, uses_user)
