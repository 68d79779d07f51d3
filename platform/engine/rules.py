"""Business rules: `{when, field, error}` expressions that must NOT be true when a record saves.

Entity rules (`entities.<name>.rules`) hold on every save from any channel: the record store
checks them after computing (so a rule may read formulas, rollups and lookups). Form rules
(`forms.<name>.rules`) add to them on that form; the forms layer calls `check_form_rules`.

A rule that fires is a `FieldError` with code `rule` on its `field`, carrying the message in
both locales (`message_en`, `message_zh`), so whoever answers picks the caller's language
(`i18n.translate("rule", params, locale)`).

A rule whose expression cannot be evaluated:
- does not fire when a field it reads is empty (None): `total > 100000` says nothing about a
  record without a total, and `required` is how a blueprint demands a value;
- does not fire when it reads `user` and the platform itself saves (no user: seed data,
  recomputation), since there is nobody the rule could be about;
- fires otherwise, with code `rule_failed` and the sandbox's message as `detail`: a broken
  rule must not let every record through silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from appblocks.engine.i18n import translate
from appblocks.engine.record_errors import FieldError, render
from appblocks.engine.sandbox import CompiledExpression, ExpressionError, compile_expression
from appblocks.engine.sandbox_values import UserContext
from appblocks.engine.spec import EntitySpec, label_text

__all__ = ["Rule", "check_form_rules", "check_rules", "compile_rules", "user_context"]

_READS_USER = re.compile(r"\buser\b")


@dataclass(frozen=True, eq=False)
class Rule:
    """One rule, compiled once: the expression (or why it does not compile) and its messages."""

    when: str
    field: str | None
    message_en: str
    message_zh: str
    expression: CompiledExpression | None
    problem: str | None = None  # the compile error of a rule the validator should have refused
    reads_user: bool = False

    def error(self, prefix: str, index: int | None, locale: str | None, **extra: Any) -> FieldError:
        """The error this rule raises at `prefix + field` (row `index` of a batch)."""
        code = "rule_failed" if extra else "rule"
        field = f"{prefix}{self.field}" if self.field else (prefix.rstrip(".") or "record")
        params = {
            "when": self.when,
            "message": self.message_en,
            "message_en": self.message_en,
            "message_zh": self.message_zh,
        }
        params.update(extra)
        message = translate(code, params, "zh-CN") if locale == "zh-CN" else render(code, params)
        return FieldError(field, message, index, code, params)


def compile_rules(docs: Any) -> tuple[Rule, ...]:
    """Rule documents (a list of `{when, field, error}`) compiled once; bad items are skipped."""
    out: list[Rule] = []
    for doc in docs or ():
        if not isinstance(doc, Mapping) or not isinstance(doc.get("when"), str):
            continue
        when = doc["when"]
        error = doc.get("error")
        default = {"en": f"breaks the rule: {when}", "zh-CN": f"不符合规则:{when}"}
        message = error if error else default
        expression, problem = None, None
        try:
            expression = compile_expression(when)
        except ExpressionError as exc:
            problem = exc.message
        field = doc.get("field")
        out.append(
            Rule(
                when=when,
                field=str(field) if field else None,
                message_en=label_text(message, "en"),
                message_zh=label_text(message, "zh-CN"),
                expression=expression,
                problem=problem,
                reads_user=bool(_READS_USER.search(when)),
            )
        )
    return tuple(out)


def _rules_of(source: EntitySpec | Sequence[Any]) -> Sequence[Rule]:
    if isinstance(source, EntitySpec):
        return compile_rules(source.doc.get("rules"))
    if all(isinstance(r, Rule) for r in source):
        return source
    return compile_rules(source)


def check_rules(
    source: EntitySpec | Sequence[Rule] | Sequence[Mapping[str, Any]],
    values: Mapping[str, Any],
    *,
    user: UserContext | None = None,
    locale: str | None = None,
    prefix: str = "",
    index: int | None = None,
) -> list[FieldError]:
    """The errors of every rule that fires on `values` (a record's values after computing)."""
    errors: list[FieldError] = []
    for rule in _rules_of(source):
        if rule.expression is None:
            errors.append(rule.error(prefix, index, locale, detail=rule.problem or "?"))
            continue
        reads = rule.expression.names
        try:
            fired = rule.expression.evaluate({n: values.get(n) for n in reads}, user=user)
        except ExpressionError as exc:
            if any(values.get(n) is None for n in reads):
                continue  # an empty field: the rule has nothing to say (see the module doc)
            if user is None and rule.reads_user:
                continue
            errors.append(rule.error(prefix, index, locale, detail=exc.message))
            continue
        if fired:
            errors.append(rule.error(prefix, index, locale))
    return errors


def check_form_rules(
    form: Mapping[str, Any],
    values: Mapping[str, Any],
    *,
    user: UserContext | None = None,
    locale: str | None = None,
) -> list[FieldError]:
    """The errors of a form document's own rules (entity rules are the store's to check)."""
    return check_rules(compile_rules(form.get("rules")), values, user=user, locale=locale)


def user_context(
    name: str, roles: Iterable[str] = (), attributes: Mapping[str, Any] | None = None
) -> UserContext:
    """The `user` that rules and formulas read, from what the caller knows about who it is."""
    return UserContext(name, frozenset(roles), dict(attributes or {}))
