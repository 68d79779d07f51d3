"""One place that wires a catalog's business logic together.

A `Logic` holds, for one catalog generation, the record store with computed fields and rules,
the workflow engine (initial states, timers) and the automations subscribed to its events.
The server, the worker, blueprint import and data import all build theirs here, so a save
behaves the same from every channel.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog, fingerprint
from appblocks.engine.compute import build_store
from appblocks.engine.events import EventBus
from appblocks.engine.records import RecordStore
from appblocks.workflows import timers
from appblocks.workflows.automations import Automations
from appblocks.workflows.jobs import JobHandlers
from appblocks.workflows.outbox import MailSettings, register_outbox
from appblocks.workflows.states import WorkflowEngine


@dataclass(frozen=True)
class Logic:
    """The store, workflows and automations of one catalog generation."""

    catalog: Catalog
    store: RecordStore
    workflows: WorkflowEngine
    automations: Automations


def assemble(catalog: Catalog, *, automations: bool = True) -> Logic:
    """Build the store for `catalog` with computed fields, rules, workflows and automations.

    `automations=False` leaves automations out (seed data at install time must not send
    mail or call webhooks).
    """
    bus = EventBus()
    workflows = WorkflowEngine(catalog)
    store = build_store(catalog, bus, extra_computers=[workflows.initial_computer])
    timers.subscribe(bus, workflows)
    autos = Automations(catalog)
    if automations:
        autos.subscribe(bus, lambda: store)
    return Logic(catalog, store, workflows, autos)


def store_factory(*, automations: bool = True) -> Callable[[Catalog], RecordStore]:
    """A factory the engine's import paths accept, so imports run the same logic."""
    return lambda catalog: assemble(catalog, automations=automations).store


def job_handlers(current: Callable[[sa.Connection], Logic], engine: sa.Engine) -> JobHandlers:
    """Every job kind the worker runs: mail, webhooks, workflow timers, scheduled automations.

    Timers use the catalog current when each job runs. Scheduled automations are those of
    the catalog at worker start (a worker restarted after a blueprint import picks up new
    schedules); their next runs are queued here.
    """
    handlers = JobHandlers()
    register_outbox(handlers, MailSettings.from_env(os.environ))

    def provider(conn: sa.Connection) -> tuple[WorkflowEngine, RecordStore]:
        logic = current(conn)
        return logic.workflows, logic.store

    timers.register(handlers, provider)
    with engine.begin() as conn:
        logic = current(conn)
        logic.automations.ensure_schedules(conn)
    logic.automations.register_jobs(handlers, lambda: logic.store)
    return handlers


class LogicCache:
    """The Logic of the installed catalog, rebuilt when the documents change."""

    def __init__(self) -> None:
        self._logic: Logic | None = None
        self._stamp: tuple[object, ...] | None = None

    def __call__(self, conn: sa.Connection) -> Logic:
        # Every job asks; reading all documents per job would cost more than most jobs do.
        stamp = fingerprint(conn)
        if self._logic is None or stamp != self._stamp:
            self._logic = assemble(Catalog.load(conn))
            self._stamp = stamp
        return self._logic
