"""Workflows: state machines, approvals, automations, timers, the outbox and the worker."""
