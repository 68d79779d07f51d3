"""Expression sandbox benchmarks: evaluations per second against plain compile()/eval().

Two formulas, each cached once and evaluated many times: `quantity * unit_price` on one
record, and a 50-line rollup `sum(l.quantity * l.unit_price for l in lines)`. The baseline is
the same source compiled with `compile()` and run with `eval()` in the same process (lines as
objects with attributes, so the source is identical), so the ratio is the sandbox's price.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from appblocks.engine.sandbox import compile_expression

SIMPLE = "quantity * unit_price"
ROLLUP = "sum(l.quantity * l.unit_price for l in lines)"
LINES = 50


def _rate(call: Callable[[], Any], seconds: float = 1.0) -> float:
    """Calls per second of `call`, best of three runs of about `seconds` / 3 each."""
    n = 1
    while True:  # find a batch that takes at least 10 ms
        start = time.perf_counter()
        for _ in range(n):
            call()
        if time.perf_counter() - start > 0.01:
            break
        n *= 2
    best = 0.0
    for _ in range(3):
        batches = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            for _ in range(n):
                call()
            batches += 1
        best = max(best, batches * n / (time.perf_counter() - start))
    return best


def _pair(label: str, source: str, sandbox_vars: dict[str, Any], plain_vars: dict[str, Any]):
    compiled = compile_expression(source)
    code = compile(source, "<baseline>", "eval")
    expected = eval(code, dict(plain_vars))  # noqa: S307 - our own constant source
    assert compiled.evaluate(sandbox_vars) == expected
    sandboxed = _rate(lambda: compiled.evaluate(sandbox_vars))
    baseline = _rate(lambda: eval(code, dict(plain_vars)))  # noqa: S307
    return [
        (f"{label}: sandbox", sandboxed, "evals/s"),
        (f"{label}: plain eval() baseline", baseline, "evals/s"),
        (f"{label}: baseline / sandbox", baseline / sandboxed, "x slower"),
    ]


def run() -> list[tuple[str, float, str]]:
    """Evaluations per second of the two formulas, sandboxed and plain, and their ratio."""
    record = {"quantity": Decimal("3"), "unit_price": Decimal("9.99")}
    lines = [
        {"quantity": Decimal(i % 7 + 1), "unit_price": Decimal("1.25") + i} for i in range(LINES)
    ]
    rows = _pair(SIMPLE, SIMPLE, record, record)
    rows += _pair(
        f"{LINES}-line rollup",
        ROLLUP,
        {"lines": lines},
        {"lines": [types.SimpleNamespace(**line) for line in lines]},
    )
    return rows


if __name__ == "__main__":
    for label, value, unit in run():
        print(f"  {label:<62} {value:>14,.2f} {unit}")
