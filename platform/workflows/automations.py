"""Automations: actions that run when records change or on a schedule.

`Automations(catalog)` compiles every automation of the installed apps once. `subscribe`
hooks the event-triggered ones onto a record store's event bus: they run inside the
transaction of the save that triggered them, so an automation that fails undoes that save
(its error names the automation), and the mail and webhooks it queued are never sent.
`register_jobs` and `ensure_schedules` run the scheduled ones from the worker, each run in its
job's transaction, the next run queued as the last step of this one.

Automations may trigger automations (a forecast creates a requisition whose automation
notifies a buyer). The chain is kept on the connection and refused past `MAX_DEPTH`, with an
error that names it, so two automations that feed each other cannot loop for ever.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from typing import Any, cast

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.events import (
    RECORD_CREATED,
    RECORD_DELETED,
    RECORD_UPDATED,
    Event,
    EventBus,
)
from appblocks.engine.models import utcnow
from appblocks.engine.record_errors import RecordError
from appblocks.engine.records import RecordStore
from appblocks.engine.sandbox import ExpressionError, UserContext
from appblocks.engine.users import Identity, identity_of
from appblocks.workflows.automation_actions import UPDATE_LIMIT, Run, run_actions
from appblocks.workflows.automation_spec import (
    Automation,
    AutomationConfigError,
    AutomationError,
    compile_automation,
)
from appblocks.workflows.jobs import JOBS, PENDING, JobHandlers
from appblocks.workflows.schedule import META, recurring, schedule_job, unschedule
from appblocks.workflows.specs import SYSTEM

__all__ = [
    "JOB_KIND",
    "MAX_DEPTH",
    "Automation",
    "AutomationConfigError",
    "AutomationError",
    "Automations",
]

JOB_KIND = "automation_schedule"
MAX_DEPTH = 5
#: where the chain of running automations is kept, on the connection's `info`
CHAIN_KEY = "appblocks.automation_chain"
_EVENTS = (RECORD_CREATED, RECORD_UPDATED, RECORD_DELETED)

StoreProvider = Callable[[], RecordStore]


def schedule_name(automation: Automation) -> str:
    """The name its runs are queued under (the jobs' dedupe keys start with it)."""
    return f"automation:{automation.qualified}"


class Automations:
    """Every automation of a catalog, compiled once; runs them on events and schedules."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        env: Mapping[str, str] | None = None,
        max_depth: int = MAX_DEPTH,
        update_limit: int = UPDATE_LIMIT,
    ) -> None:
        self.catalog = catalog
        self.env = os.environ if env is None else env
        self.max_depth = max_depth
        self.update_limit = update_limit
        self.all: dict[str, Automation] = {}
        for app, blueprint in catalog.blueprints.items():
            for name, doc in (blueprint.get("automations") or {}).items():
                automation = compile_automation(catalog, app, str(name), doc)
                self.all[automation.qualified] = automation
        self.by_entity: dict[str, list[Automation]] = {}
        for automation in self.all.values():
            if automation.trigger.entity is not None:
                self.by_entity.setdefault(automation.trigger.entity, []).append(automation)
        self.scheduled = [a for a in self.all.values() if a.trigger.schedule is not None]
        self._handlers: list[tuple[EventBus, str, Callable[[Event], None]]] = []
        self._newer: Automations | None = None

    def for_catalog(self, catalog: Catalog) -> Automations:
        """These automations, or (compiled once) those of a newer catalog the store now has."""
        if catalog is self.catalog or catalog.version == self.catalog.version:
            return self
        newer = self._newer
        if newer is None or newer.catalog.version != catalog.version:
            newer = Automations(
                catalog, env=self.env, max_depth=self.max_depth, update_limit=self.update_limit
            )
            self._newer = newer
        return newer

    # --- record events ------------------------------------------------------------------------

    def subscribe(self, bus: EventBus, store_provider: StoreProvider) -> None:
        """Run the event-triggered automations on every record event of `bus`."""

        def on_event(event: Event) -> None:
            store = store_provider()
            self.for_catalog(store.catalog).handle(event, store)

        for name in _EVENTS:
            bus.subscribe(name, on_event)
            self._handlers.append((bus, name, on_event))

    def unsubscribe(self, bus: EventBus) -> None:
        """Stop listening to `bus` (before subscribing the automations of a new catalog)."""
        for subscribed, name, handler in list(self._handlers):
            if subscribed is bus:
                bus.unsubscribe(name, handler)
                self._handlers.remove((subscribed, name, handler))

    def handle(self, event: Event, store: RecordStore) -> None:
        """Run every automation that `event` triggers, in document order, in its transaction."""
        candidates = self.by_entity.get(event.entity)
        if not candidates:
            return
        user: UserContext | None = None
        looked_up = False
        for automation in candidates:
            if not automation.trigger.matches(event.name, event.before, event.after):
                continue
            if automation.uses_user and not looked_up:
                user, looked_up = _user(event.connection, event.actor), True
            run = Run(
                conn=event.connection,
                store=store,
                automation=automation,
                event=event.name,
                entity=event.entity,
                before=event.before,
                after=event.after,
                actor=event.actor,
                user=user,
                env=self.env,
                update_limit=self.update_limit,
            )
            self._run(run, f"{event.entity} {event.id}")

    # --- running, with the loop guard ---------------------------------------------------------

    def _run(self, run: Run, on: str) -> None:
        automation = run.automation
        info = run.conn.info
        chain: list[str] = info.setdefault(CHAIN_KEY, [])
        step = f"{automation.qualified} on {on}"
        if len(chain) >= self.max_depth:
            raise run.fail(
                f"automations triggered each other more than {self.max_depth} deep: "
                + " -> ".join([*chain, step])
            )
        chain.append(step)
        try:
            if automation.when is not None and not automation.when.evaluate(
                run.variables(), user=run.user
            ):
                return
            run_actions(run, automation.actions)
        except AutomationError:
            raise  # an automation further down the chain failed; its message names it
        except (RecordError, ExpressionError, ValueError) as exc:
            detail = str(exc)
            if len(chain) > 1:
                detail += f" (chain: {' -> '.join(chain)})"
            raise run.fail(detail) from exc
        finally:
            chain.pop()
            if not chain:
                # `info` belongs to the pooled DBAPI connection and outlives this checkout.
                info.pop(CHAIN_KEY, None)

    # --- schedules ----------------------------------------------------------------------------

    def run_scheduled(
        self, conn: sa.Connection, store: RecordStore, name: str, at: dt.datetime | None = None
    ) -> None:
        """Run the scheduled automation `app.name` now, in `conn`'s transaction."""
        run = Run(
            conn=conn,
            store=store,
            automation=self.all[name],
            event="schedule",
            entity=None,
            before=None,
            after=None,
            # Scheduled runs act as `system`, as workflow timers do: the audit says so.
            actor=SYSTEM.name,
            user=UserContext(SYSTEM.name),
            env=self.env,
            update_limit=self.update_limit,
            at=at or utcnow(),
        )
        self._run(run, "schedule")

    def register_jobs(self, handlers: JobHandlers, store_provider: StoreProvider) -> None:
        """Register the `automation_schedule` job kind: one scheduled run, then the next."""

        def run_job(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
            store = store_provider()
            current = self.for_catalog(store.catalog)
            name = str(payload.get("automation"))
            automation = current.all.get(name)
            meta = payload.get(META) or {}
            if automation is None or not _same_schedule(automation, meta):
                # Removed or rescheduled since this run was queued: ensure_schedules queues
                # what the automation now says, so this run neither acts nor recurs.
                return
            at = dt.datetime.fromisoformat(str(meta.get("at", "")).replace("Z", "+00:00"))

            def act(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
                current.run_scheduled(conn, store, name, at)

            recurring(act)(conn, payload, job_id)

        handlers.register(JOB_KIND)(run_job)

    def ensure_schedules(self, conn: sa.Connection, now: dt.datetime | None = None) -> int:
        """Queue every scheduled automation's next run, cancel stale ones; how many queued."""
        now = now or utcnow()
        pending = conn.execute(
            sa.select(JOBS.c.payload).where(JOBS.c.kind == JOB_KIND, JOBS.c.status == PENDING)
        ).scalars()
        for payload in pending:
            meta = (payload or {}).get(META) or {}
            automation = self.all.get(str((payload or {}).get("automation")))
            if meta.get("name") and (automation is None or not _same_schedule(automation, meta)):
                unschedule(conn, str(meta["name"]))
        queued = 0
        for automation in self.scheduled:
            job_id = schedule_job(
                conn,
                schedule_name(automation),
                cast(str, automation.trigger.schedule),
                now,
                kind=JOB_KIND,
                payload={"automation": automation.qualified},
                tz=automation.trigger.timezone,
            )
            queued += job_id is not None
        return queued


def _same_schedule(automation: Automation, meta: Mapping[str, Any]) -> bool:
    trigger = automation.trigger
    return (
        meta.get("name") == schedule_name(automation)
        and meta.get("schedule") == trigger.schedule
        and meta.get("tz", "UTC") == trigger.timezone
    )


def _user(conn: sa.Connection, actor: str | None) -> UserContext | None:
    if not actor:
        return None
    # An actor without a user row (`system`, a timer) still has a name to read.
    identity = identity_of(conn, actor) or Identity(actor)
    return UserContext(identity.name, identity.roles, identity.attributes)
