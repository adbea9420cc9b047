"""The order saga's state machine and pricing, as rules (no I/O)."""

from __future__ import annotations

import itertools

import pytest

from orders.domain import (
    EDGES,
    MAX_TOTAL_CENTS,
    MixedCurrencies,
    OrderStatus,
    ProductPrice,
    RequestedLine,
    Step,
    TotalTooLarge,
    TransitionRefused,
    Trigger,
    UnknownProducts,
    cancel_reason_for_payment,
    next_status,
    price_order,
    steps,
)

pytestmark = pytest.mark.unit

S, T = OrderStatus, Trigger

ALLOWED = {
    (S.PENDING, T.STOCK_RESERVED): S.AWAITING_PAYMENT,
    (S.PENDING, T.STOCK_REJECTED): S.REJECTED,
    (S.AWAITING_PAYMENT, T.PAYMENT_SUCCEEDED): S.CONFIRMED,
    (S.AWAITING_PAYMENT, T.PAYMENT_FAILED): S.CANCELLED,
    (S.PENDING, T.DEADLINE_PASSED): S.CANCELLED,
    (S.AWAITING_PAYMENT, T.DEADLINE_PASSED): S.CANCELLED,
}
FORBIDDEN = sorted(set(itertools.product(S, T)) - set(ALLOWED))


def test_the_edges_are_exactly_those_of_the_saga() -> None:
    assert dict(EDGES) == ALLOWED


@pytest.mark.parametrize(("edge", "target"), ALLOWED.items())
def test_every_allowed_edge_is_taken(
    edge: tuple[OrderStatus, Trigger], target: OrderStatus
) -> None:
    assert next_status(*edge) is target


@pytest.mark.parametrize("edge", FORBIDDEN)
def test_every_other_edge_is_refused(edge: tuple[OrderStatus, Trigger]) -> None:
    with pytest.raises(TransitionRefused) as refused:
        next_status(*edge)
    assert (refused.value.status, refused.value.trigger) == edge


@pytest.mark.parametrize("final", [S.CONFIRMED, S.CANCELLED, S.REJECTED])
@pytest.mark.parametrize("trigger", list(T))
def test_nothing_moves_a_final_order(final: OrderStatus, trigger: Trigger) -> None:
    assert final.is_final
    with pytest.raises(TransitionRefused):
        steps(final, trigger)


def test_open_statuses_are_not_final() -> None:
    assert not S.PENDING.is_final
    assert not S.AWAITING_PAYMENT.is_final


@pytest.mark.parametrize(("edge", "target"), ALLOWED.items())
def test_an_allowed_edge_is_one_step(
    edge: tuple[OrderStatus, Trigger], target: OrderStatus
) -> None:
    assert steps(*edge) == (Step(target, edge[1]),)


@pytest.mark.parametrize(
    ("trigger", "final"),
    [(T.PAYMENT_SUCCEEDED, S.CONFIRMED), (T.PAYMENT_FAILED, S.CANCELLED)],
)
def test_a_payment_outcome_before_the_reservation_implies_the_reservation(
    trigger: Trigger, final: OrderStatus
) -> None:
    assert steps(S.PENDING, trigger) == (
        Step(S.AWAITING_PAYMENT, T.STOCK_RESERVED, implied=True),
        Step(final, trigger),
    )


@pytest.mark.parametrize(
    ("status", "trigger"),
    [
        (S.AWAITING_PAYMENT, T.STOCK_RESERVED),  # a duplicate reservation
        (S.AWAITING_PAYMENT, T.STOCK_REJECTED),  # a rejection after a reservation
        (S.REJECTED, T.PAYMENT_SUCCEEDED),  # a payment for a rejected order
        (S.CANCELLED, T.PAYMENT_SUCCEEDED),  # the late payment
        (S.CONFIRMED, T.STOCK_RESERVED),  # the reservation after its implied step
    ],
)
def test_late_duplicate_and_out_of_order_events_are_refused(
    status: OrderStatus, trigger: Trigger
) -> None:
    with pytest.raises(TransitionRefused):
        steps(status, trigger)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("declined", "payment_declined"),
        ("insufficient_funds", "insufficient_funds"),
        ("provider_unavailable", "payment_failed"),
    ],
)
def test_a_failed_payment_names_the_cancellation_reason(failure: str, reason: str) -> None:
    assert cancel_reason_for_payment(failure) == reason  # type: ignore[arg-type]


def _price(product_id: str, cents: int, currency: str = "EUR") -> ProductPrice:
    return ProductPrice(product_id, cents, currency)


def test_an_order_is_priced_line_by_line() -> None:
    priced = price_order(
        [RequestedLine("prd_a", 2), RequestedLine("prd_b", 3)],
        {"prd_a": _price("prd_a", 1_250), "prd_b": _price("prd_b", 99)},
    )
    assert [(line.product_id, line.unit_price_cents) for line in priced.lines] == [
        ("prd_a", 1_250),
        ("prd_b", 99),
    ]
    assert priced.total_cents == 2 * 1_250 + 3 * 99
    assert priced.currency == "EUR"


def test_every_unknown_product_is_named() -> None:
    with pytest.raises(UnknownProducts) as unknown:
        price_order(
            [RequestedLine("prd_a", 1), RequestedLine("prd_b", 1), RequestedLine("prd_c", 1)],
            {"prd_a": None, "prd_b": _price("prd_b", 1)},
        )
    assert unknown.value.product_ids == ("prd_a", "prd_c")


def test_lines_in_different_currencies_are_refused() -> None:
    with pytest.raises(MixedCurrencies) as mixed:
        price_order(
            [RequestedLine("prd_a", 1), RequestedLine("prd_b", 1)],
            {"prd_a": _price("prd_a", 1, "EUR"), "prd_b": _price("prd_b", 1, "USD")},
        )
    assert mixed.value.currencies == ("EUR", "USD")


def test_a_total_beyond_what_is_stored_is_refused() -> None:
    with pytest.raises(TotalTooLarge):
        price_order([RequestedLine("prd_a", 1000)], {"prd_a": _price("prd_a", MAX_TOTAL_CENTS)})
