"""Which fields a user expression reads, for the validator: compiled by the sandbox, never run."""

from __future__ import annotations

from collections.abc import Collection

from appblocks.engine.sandbox import ExpressionError, compile_expression

# The validator names the sandbox's error its own way, so callers need not know the sandbox.
ExpressionProblem = ExpressionError


def expression_names(source: str) -> frozenset[str]:
    """The free names `source` reads (helpers and builtins left out); raises ExpressionProblem."""
    return compile_expression(source).names


def unknown_names(source: str, fields: Collection[str]) -> list[str]:
    """Names `source` reads that are not in `fields`, sorted; raises ExpressionProblem."""
    return sorted(n for n in expression_names(source) if n not in fields)
