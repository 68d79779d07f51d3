"""A tiny synchronous event bus: record changes announced inside the writer's transaction.

Subscribers (automations, timers, caches, later) run in the caller's transaction with its
connection, so what they write commits or rolls back with the change that caused it; an
exception in a subscriber propagates and so undoes the save.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

RECORD_CREATED = "record.created"
RECORD_UPDATED = "record.updated"
RECORD_DELETED = "record.deleted"
ALL = "*"


@dataclass(frozen=True)
class Event:
    """One change to one record; `before`/`after` are records as the store returns them."""

    name: str
    entity: str
    id: int
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    actor: str | None
    connection: sa.Connection


Subscriber = Callable[[Event], None]


class EventBus:
    """Subscribers by event name (`*` hears every event), called in subscription order."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Subscriber]] = {}

    def subscribe(self, name: str, callback: Subscriber) -> None:
        """Call `callback` for every event called `name` (or every event, for `*`)."""
        self._subscribers.setdefault(name, []).append(callback)

    def unsubscribe(self, name: str, callback: Subscriber) -> None:
        """Stop calling `callback` for `name`; a no-op when it was not subscribed."""
        callbacks = self._subscribers.get(name, [])
        if callback in callbacks:
            callbacks.remove(callback)

    def wants(self, name: str) -> bool:
        """Whether anyone listens to `name` (lets writers skip building events nobody hears)."""
        return bool(self._subscribers.get(name) or self._subscribers.get(ALL))

    def emit(self, event: Event) -> None:
        """Call every subscriber of the event, in order; their exceptions propagate."""
        for callback in (*self._subscribers.get(event.name, ()), *self._subscribers.get(ALL, ())):
            callback(event)
