"""The fast number formatting every page uses writes exactly what Babel writes."""

from __future__ import annotations

import decimal

import pytest

from appblocks.views import numbers

VALUES = [
    0, 1, -1, 7, 1234, -1234567, 10**12,
    decimal.Decimal("0.005"), decimal.Decimal("0.015"), decimal.Decimal("-0.5"),
    decimal.Decimal("1234.5678"), decimal.Decimal("-1234.5"), decimal.Decimal("99999999.995"),
    decimal.Decimal("12.5000"), decimal.Decimal("0.0004"), decimal.Decimal("1E+3"),
    3.14159, 2.5, -0.125, 1e-7,
]  # fmt: skip


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("value", VALUES)
def test_records_numbers_match_babel(locale: str, value: object) -> None:
    for digits in (None, 0, 2, 4):
        assert numbers.number(value, locale, digits) == numbers.babel_number(value, locale, digits)
    for currency in ("CNY", "USD", "EUR", "JPY", None):
        assert numbers.money(value, locale, currency) == numbers.babel_money(
            value, locale, currency
        ), (value, currency)
