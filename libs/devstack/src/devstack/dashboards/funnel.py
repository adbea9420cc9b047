"""The order funnel: placed → confirmed / cancelled / rejected, time to final, what is stuck,
and the money and customers behind the orders."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builder

from devstack.dashboards.panels import (
    SCOPE,
    Query,
    base_dashboard,
    quantiles,
    stat_panel,
    timeseries_panel,
)

__all__ = ["order_funnel"]


def order_funnel() -> builder.Dashboard:
    scope = f"{{{SCOPE}}}"
    orders = f"flotilla_orders_total{scope}"
    return (
        base_dashboard(
            "flotilla-orders",
            "Flotilla / Order funnel",
            "Orders placed and how they end (confirmed, cancelled, rejected), how long that "
            "takes, what is stuck, and the money and customers behind them.",
        )
        .with_row(builder.Row("Funnel"))
        .with_panel(
            stat_panel(
                "Orders in the time range, by outcome",
                [Query(f"sum by (outcome) (increase({orders}[$__range]))", "{{outcome}}")],
                width=12,
                job="orders",
            )
        )
        .with_panel(
            stat_panel(
                "Confirmed / placed",
                [
                    Query(
                        f'sum(increase(flotilla_orders_total{{outcome="confirmed",{SCOPE}}}'
                        "[$__range])) "
                        f'/ sum(increase(flotilla_orders_total{{outcome="placed",{SCOPE}}}'
                        "[$__range]))",
                        "confirmed",
                    )
                ],
                unit="percentunit",
                width=6,
                job="orders",
            )
        )
        .with_panel(
            stat_panel(
                "Open past their deadline now",
                [Query(f"sum(flotilla_orders_overdue{scope})", "overdue")],
                width=6,
                job="orders",
                description="The sweeper cancels them; above 0 for long means stuck orders.",
            )
        )
        .with_panel(
            timeseries_panel(
                "Orders/s by outcome",
                [Query(f"sum by (outcome) (rate({orders}[$__rate_interval]))", "{{outcome}}")],
                unit="ops",
                width=12,
                job="orders",
            )
        )
        .with_panel(
            timeseries_panel(
                "Time from placed to final",
                quantiles("flotilla_order_time_to_final_seconds", "", SCOPE),
                unit="s",
                width=12,
                job="orders",
            )
        )
        .with_panel(
            timeseries_panel(
                "Stuck and odd orders",
                [
                    Query(
                        f"max(flotilla_orders_overdue_oldest_seconds{scope})", "most overdue (s)"
                    ),
                    Query(
                        "sum by (event_type) (rate(flotilla_orders_ignored_events_total"
                        f"{scope}[$__rate_interval]))",
                        "ignored {{event_type}}",
                    ),
                    Query(
                        f"sum(increase(flotilla_orders_late_payments_total{scope}[1h]))",
                        "late payments (1h)",
                    ),
                ],
                job="orders",
            )
        )
        .with_panel(
            timeseries_panel(
                "Breakers on the saga's calls (0 closed, 1 open, 2 half-open)",
                [
                    Query(
                        "max by (job, name) "
                        f'(flotilla_circuit_breaker_state{{job=~"orders|payments",{SCOPE}}})',
                        "{{job}} → {{name}}",
                    )
                ],
                job="payments",
            )
        )
        .with_row(builder.Row("Money and customers"))
        .with_panel(
            timeseries_panel(
                "Payments/s by outcome",
                [
                    Query(
                        f"sum by (outcome) (rate(flotilla_payments_total{scope}"
                        "[$__rate_interval]))",
                        "{{outcome}}",
                    )
                ],
                unit="ops",
                job="payments",
            )
        )
        .with_panel(
            timeseries_panel(
                "Revenue/s by currency (major units)",
                [
                    Query(
                        "sum by (currency) (rate(flotilla_payments_revenue_cents_total"
                        f"{scope}[$__rate_interval])) / 100",
                        "{{currency}}",
                    )
                ],
                job="payments",
            )
        )
        .with_panel(
            timeseries_panel(
                "Provider (psp) charges/s by outcome",
                [
                    Query(
                        f"sum by (outcome) (rate(flotilla_psp_charges_total{scope}"
                        "[$__rate_interval]))",
                        "{{outcome}}",
                    )
                ],
                unit="ops",
                job="psp",
            )
        )
        .with_panel(
            stat_panel(
                "Revenue in the time range",
                [
                    Query(
                        "sum by (currency) (increase(flotilla_payments_revenue_cents_total"
                        f"{scope}[$__range])) / 100",
                        "{{currency}}",
                    )
                ],
                width=12,
                job="payments",
            )
        )
        .with_panel(
            stat_panel(
                "Sign-ups in the time range",
                [
                    Query(
                        f"sum(increase(flotilla_identity_signups_total{scope}[$__range]))",
                        "sign-ups",
                    )
                ],
                width=12,
                job="identity",
            )
        )
    )
