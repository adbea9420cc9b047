"""The reservation rules, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catalog.domain import Product, requested_quantities, shortfalls
from contracts.values import OrderLine

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _product(product_id: str, stock: int, currency: str = "EUR") -> Product:
    return Product(product_id, f"SKU-{product_id}", "Thing", 100, currency, stock, NOW, NOW)


def test_requested_quantities_add_up_lines_of_one_product_in_product_id_order() -> None:
    lines = [
        OrderLine(product_id="prd_b", quantity=1, unit_price_cents=1),
        OrderLine(product_id="prd_a", quantity=2, unit_price_cents=1),
        OrderLine(product_id="prd_b", quantity=3, unit_price_cents=1),
    ]
    assert list(requested_quantities(lines).items()) == [("prd_a", 2), ("prd_b", 4)]


def test_enough_stock_in_the_orders_currency_has_no_shortfall() -> None:
    products = {"prd_a": _product("prd_a", 2), "prd_b": _product("prd_b", 9)}
    assert shortfalls({"prd_a": 2, "prd_b": 1}, products, "EUR") == []


def test_each_failing_line_gets_one_shortfall_and_currency_comes_first() -> None:
    products = {
        "prd_a": _product("prd_a", 0, currency="USD"),  # both wrong currency and empty
        "prd_b": _product("prd_b", 1),
        "prd_c": _product("prd_c", 5),
    }
    found = shortfalls({"prd_a": 1, "prd_b": 2, "prd_c": 5, "prd_x": 3}, products, "EUR")
    assert [(s.product_id, s.reason, s.requested, s.available) for s in found] == [
        ("prd_a", "currency_mismatch", 1, 0),
        ("prd_b", "out_of_stock", 2, 1),
        ("prd_x", "unknown_product", 3, 0),
    ]
