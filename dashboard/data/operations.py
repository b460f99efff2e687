"""Queries of the operations page: the restock plan, purchase orders, supplier funding and
performance, low-stock alerts (platform roles only)."""

from __future__ import annotations

import pandas as pd

from dashboard.data.access import Scope, require_platform
from dashboard.data.snapshot import (
    TRAILING_DAYS,
    has_rows,
    has_tables,
    read_frame,
    sku_columns,
    table_columns,
    tables,
)


def restock(conn, scope: Scope) -> pd.DataFrame:
    """The latest restock plan with each SKU's risk, as the restock stage rated it
    (``stock_risk``: ``out_now``, ``before_arrival`` or ``fine``; see
    ``forecasting.restock.plan.stock_risk``). A snapshot from before that column shows
    every line as ``fine`` until the next build."""
    require_platform(scope)
    if not has_rows(conn, "analytics.restock_plan"):
        return pd.DataFrame()
    sku_items, sku_join = sku_columns(conn, "analytics.restock_plan")
    rated = "stock_risk" in table_columns(conn, "analytics.restock_plan")
    risk = "coalesce(r.stock_risk, 'fine')" if rated else "'fine'"
    return read_frame(
        conn,
        f"SELECT r.*, {sku_items}{risk} AS risk "
        f"FROM analytics.restock_plan r {sku_join}"
        "WHERE r.as_of = (SELECT max(as_of) FROM analytics.restock_plan) "
        "ORDER BY CASE risk WHEN 'out_now' THEN 0 WHEN 'before_arrival' THEN 1 ELSE 2 END, "
        "r.days_of_cover NULLS LAST, r.sku_id",
    )


def purchase_orders(conn, scope: Scope) -> pd.DataFrame:
    """Lines to order now, one order per supplier.

    The restock stage's ``purchase_orders`` table when it is built (its latest as_of; empty
    means nothing to order), else the plan's lines with ``order_qty > 0`` priced at the plan's
    unit cost.
    """
    require_platform(scope)
    if has_tables(conn, "analytics.purchase_orders"):
        built = read_frame(
            conn,
            "SELECT * FROM analytics.purchase_orders "
            "WHERE as_of = (SELECT max(as_of) FROM analytics.purchase_orders) "
            "ORDER BY supplier_id, sku_id",
        )
        return built.rename(columns={"line_cost": "amount"})
    plan = restock(conn, scope)
    if plan.empty:
        return plan
    lines = plan[plan["order_qty"].fillna(0) > 0].copy()
    if lines.empty:
        return pd.DataFrame(columns=["supplier_id", "sku_id", "sku_name", "order_qty", "order_by"])
    if "unit_cost" in lines.columns:
        lines["unit_cost"] = lines["unit_cost"].astype(float)
    else:  # the unit cost is the restock stage's (its window, once); none in an old snapshot
        lines["unit_cost"] = float("nan")
    lines["amount"] = lines["order_qty"].astype(float) * lines["unit_cost"]
    columns = [
        "supplier_id",
        "sku_id",
        "sku_name",
        "order_qty",
        "order_by",
        "unit_cost",
        "amount",
        "reason",
        "reason_zh",
        "reason_en",
    ]
    return lines[[c for c in columns if c in lines.columns]].sort_values(["supplier_id", "sku_id"])


def funding(conn, scope: Scope) -> pd.DataFrame:
    require_platform(scope)
    if not has_rows(conn, "analytics.funding_plan"):
        return pd.DataFrame()
    names = "analytics.dim_suppliers" in tables(conn)
    return read_frame(
        conn,
        "SELECT f.*"
        + (", p.name AS supplier_name " if names else " ")
        + "FROM analytics.funding_plan f "
        + ("LEFT JOIN analytics.dim_suppliers p ON p.supplier_id = f.supplier_id " if names else "")
        + "WHERE f.as_of = (SELECT max(as_of) FROM analytics.funding_plan) "
        "ORDER BY f.days_of_cover NULLS LAST, f.supplier_id",
    )


def supplier_performance(conn, scope: Scope) -> pd.DataFrame:
    """Order-weighted success rate and p95 latency per supplier over the trailing 28 days."""
    require_platform(scope)
    if not has_rows(conn, "analytics.fct_supplier_performance"):
        return pd.DataFrame()
    names = "analytics.dim_suppliers" in tables(conn)
    return read_frame(
        conn,
        "SELECT f.supplier_id, "
        + ("any_value(p.name) AS supplier_name, " if names else "f.supplier_id AS supplier_name, ")
        + "sum(f.orders)::BIGINT AS orders, "
        "(sum(f.success_rate * f.orders) / nullif(sum(f.orders), 0))::DOUBLE AS success_rate, "
        "(sum(f.refund_rate * f.orders) / nullif(sum(f.orders), 0))::DOUBLE AS refund_rate, "
        "(sum(f.latency_p95_seconds * f.orders) / nullif(sum(f.orders), 0))::DOUBLE "
        "AS latency_p95_seconds "
        "FROM analytics.fct_supplier_performance f "
        + ("LEFT JOIN analytics.dim_suppliers p ON p.supplier_id = f.supplier_id " if names else "")
        + "WHERE f.order_date > "
        "(SELECT max(order_date) FROM analytics.fct_supplier_performance) - ? "
        "GROUP BY f.supplier_id ORDER BY success_rate, f.supplier_id",
        [TRAILING_DAYS],
    )


def low_stock_alerts(conn, scope: Scope) -> pd.DataFrame:
    """Open low-stock alerts (the restock stage's ``low_stock_alerts`` when built, else the
    plan's SKUs at risk) plus card keys about to expire on the last stock day."""
    plan = restock(conn, scope)
    alerts = []
    if has_tables(conn, "analytics.low_stock_alerts"):
        fired = read_frame(
            conn,
            "SELECT * FROM analytics.low_stock_alerts WHERE is_open ORDER BY fired_on, sku_id",
        )
        names = dict(zip(plan.get("sku_id", []), plan.get("sku_name", []), strict=False))
        for row in fired.to_dict("records"):
            alerts.append(
                {
                    "sku_id": row["sku_id"],
                    "sku_name": names.get(row["sku_id"]),
                    "alert": "low_stock",
                    "on_hand": row.get("on_hand"),
                    "order_qty": row.get("order_qty"),
                    "order_by": row.get("order_by"),
                    "reason_zh": row.get("reason_zh"),
                    "reason_en": row.get("reason_en"),
                    "reason": row.get("reason"),
                }
            )
    if not plan.empty:
        # SKUs out now or running out before an order could arrive are alerts even when the
        # alert stage has not (yet) fired for them.
        alerted = {alert["sku_id"] for alert in alerts}
        at_risk = plan[(plan["risk"] != "fine") & ~plan["sku_id"].isin(alerted)]
        for row in at_risk.itertuples():
            alerts.append(
                {
                    "sku_id": row.sku_id,
                    "sku_name": row.sku_name,
                    "alert": row.risk,
                    "on_hand": row.on_hand,
                    "days_of_cover": row.days_of_cover,
                }
            )
    if has_rows(conn, "analytics.fct_inventory_daily"):
        expiring = read_frame(
            conn,
            "SELECT sku_id, sum(on_hand)::BIGINT AS on_hand, sum(expiring_7d)::BIGINT AS expiring "
            "FROM analytics.fct_inventory_daily "
            "WHERE inventory_date = "
            "(SELECT max(inventory_date) FROM analytics.fct_inventory_daily) "
            "AND expiring_7d > 0 GROUP BY sku_id ORDER BY expiring DESC, sku_id",
        )
        for row in expiring.itertuples():
            alerts.append(
                {
                    "sku_id": row.sku_id,
                    "sku_name": None,
                    "alert": "expiring",
                    "on_hand": row.on_hand,
                    "expiring_7d": row.expiring,
                }
            )
    return pd.DataFrame(alerts)


# The page's named queries, run through ``dashboard.data.queries.load``.
QUERIES = {
    "restock": restock,
    "purchase_orders": purchase_orders,
    "funding": funding,
    "supplier_performance": supplier_performance,
    "low_stock_alerts": low_stock_alerts,
}
