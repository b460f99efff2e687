"""Every query the dashboard runs, against the published snapshot opened read-only.

Rules this module keeps so that pages cannot get them wrong:

- The merchant scope comes from the signed-in user (``Scope``), never from a widget, and is
  applied inside the SQL through ``dim_merchant_hierarchy``; widget filters can only narrow it.
- Every value is a bound parameter. The only text put into SQL is table and column names from
  the fixed lists below.
- Platform-wide tables (restock, funding, pricing, data health) refuse a merchant scope.
- A missing snapshot or a table that is not built yet gives an empty frame, never an error.

Query functions are plain ``fn(conn, scope, *args) -> DataFrame | dict``; ``load`` runs one
through ``st.cache_data`` keyed by the snapshot file's version, the scope and the arguments, so
a replaced snapshot (``os.replace`` after a build) is read afresh on the next rerun.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pandas as pd
import streamlit as st
from streamlit import runtime

from cardpulse.settings import DEFAULT_FORECAST
from dashboard.periods import comparison_range
from forecasting.pricing import what_if_for_row
from forecasting.pricing.guardrails import PriceSituation, PricingConfig, price_bounds

if not runtime.exists():
    # The CLI and tests import this module outside a server: plain in-memory caching is right
    # there, so Streamlit's warning about it is noise.
    logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)

ROLES = ("merchant", "ops", "pricing", "admin")
PLATFORM_ROLES = ("ops", "pricing", "admin")
APPROVER_ROLES = ("pricing", "admin")

QUERY_TTL_SECONDS = 600
TRAILING_DAYS = 28
# The pricing stage's default horizon: what the what-if divides a row's totals by when the
# row does not say (older snapshots).
HORIZON_DAYS = DEFAULT_FORECAST.horizon_days


def _in_hierarchy(column: str) -> str:
    """``column`` is one of the merchant's own rows or a sub-agent's; the id is bound (``?``)."""
    return (
        f"{column} IN (SELECT h.merchant_id FROM analytics.dim_merchant_hierarchy h "
        "WHERE h.ancestor_merchant_id = ?)"
    )


class Scope(NamedTuple):
    """Whose numbers a query may return: a merchant (and its sub-agents) or the whole platform."""

    role: str
    merchant_id: str | None = None
    # A merchant user bound to one of its agents (sub-site) sees only that agent's orders.
    agent_id: str | None = None

    @property
    def is_merchant(self) -> bool:
        return self.role == "merchant"


def scope_for(role: str, merchant_id: str | None, agent_id: str | None = None) -> Scope:
    """1. Check the role, 2. bind a merchant user to its merchant (and agent), 3. never widen
    a merchant."""
    if role not in ROLES:
        raise PermissionError(f"unknown role {role!r}")
    if role == "merchant":
        if not merchant_id:
            raise PermissionError("a merchant user must be bound to a merchant_id")
        return Scope(role, str(merchant_id), str(agent_id) if agent_id else None)
    if agent_id:
        raise PermissionError("only a merchant user can be bound to an agent")
    return Scope(role, None)


class Filters(NamedTuple):
    """What the merchant overview's widgets (or query parameters) ask for: only ever narrowing."""

    start: date
    end: date
    categories: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    merchant: str | None = None


class SnapshotRef(NamedTuple):
    """The snapshot file and its version (inode, mtime, size): a new build gives a new key."""

    path: str
    version: tuple[int, int, int] | None


def snapshot_ref(path: Path | str) -> SnapshotRef:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return SnapshotRef(str(path), None)
    return SnapshotRef(str(path), (stat.st_ino, stat.st_mtime_ns, stat.st_size))


class PlatformOnly(PermissionError):
    """A merchant scope asked for a platform-wide table."""


def _require_platform(scope: Scope) -> None:
    if scope.role not in PLATFORM_ROLES:
        raise PlatformOnly("this view is for the operations, pricing and admin roles only")


def _scope_sql(scope: Scope, alias: str = "") -> tuple[str, list[Any]]:
    """The server-side merchant restriction for one query (TRUE for platform roles)."""
    if scope.is_merchant:
        if not scope.merchant_id:
            raise PermissionError("merchant scope without a merchant_id")
        if scope.agent_id:
            # These tables carry no agent: an agent-bound user must not see its merchant's.
            raise PlatformOnly("an agent-bound user sees only its agent's orders")
        column = f"{alias}.merchant_id" if alias else "merchant_id"
        return _in_hierarchy(column), [scope.merchant_id]
    if scope.role not in PLATFORM_ROLES:
        raise PermissionError(f"unknown role {scope.role!r}")
    return "TRUE", []


def _frame(conn, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """Run a query; DATE columns stay dates (pandas would make them midnight timestamps)."""
    result = conn.execute(sql, params or [])
    dates = [name for name, kind, *_ in result.description if str(kind) == "DATE"]
    frame = result.fetch_df()
    for name in dates:
        if name in frame.columns and pd.api.types.is_datetime64_any_dtype(frame[name]):
            frame[name] = frame[name].dt.date.astype(object).where(frame[name].notna(), None)
    return frame


def tables(conn) -> frozenset[str]:
    """Qualified names (``analytics.fct_orders``) of every table and view in the snapshot."""
    rows = conn.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables"
    ).fetchall()
    return frozenset(row[0] for row in rows)


def _columns(conn, name: str) -> frozenset[str]:
    schema, table = name.split(".")
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return frozenset(row[0] for row in rows)


def _sku_columns(conn, table: str) -> tuple[str, str]:
    """Select items (each followed by ", ") and the JOIN that add the SKU's name and category
    to ``r``, unless the table carries them already (no duplicate column names)."""
    if "analytics.dim_skus" not in tables(conn):
        return "r.sku_id AS sku_name, ", ""
    own = _columns(conn, table)
    picked = "" if "sku_name" in own else "k.name AS sku_name, "
    picked += "" if "category" in own else "k.category, "
    return picked, "LEFT JOIN analytics.dim_skus k ON k.sku_id = r.sku_id "


def _has(conn, *names: str) -> bool:
    present = tables(conn)
    return all(name in present for name in names)


def _has_rows(conn, name: str) -> bool:
    return _has(conn, name) and conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] > 0


# --------------------------------------------------------------------------- overview


def _sales_where(scope: Scope, filters: Filters, start: date, end: date) -> tuple[str, list]:
    """The WHERE clause shared by every merchant-sales query (alias ``s`` sales, ``k`` skus)."""
    scope_clause, scope_params = _scope_sql(scope, "s")
    categories = list(filters.categories)
    skus = list(filters.skus)
    clause = (
        f"s.order_date BETWEEN ? AND ? AND {scope_clause}"
        " AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], k.category))"
        " AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], s.sku_id))"
        f" AND (?::VARCHAR IS NULL OR {_in_hierarchy('s.merchant_id')})"
    )
    params = [start, end, *scope_params, categories, categories, skus, skus]
    params += [filters.merchant, filters.merchant]
    return clause, params


_SALES_FROM = (
    "analytics.fct_daily_merchant_sales s LEFT JOIN analytics.dim_skus k ON k.sku_id = s.sku_id"
)


def filter_options(conn, scope: Scope) -> dict[str, Any]:
    """1. Date bounds, 2. categories and SKUs sold, 3. merchants the scope may pick from."""
    empty = {
        "min_date": None,
        "max_date": None,
        "skus": pd.DataFrame(),
        "merchants": pd.DataFrame(),
    }
    if not _has(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return empty
    scope_clause, params = _scope_sql(scope, "s")
    # One pass over the sales: per SKU its first and last day, then names from the small dim.
    skus = _frame(
        conn,
        "WITH sold AS (SELECT s.sku_id, min(s.order_date) AS first_day, "
        "max(s.order_date) AS last_day FROM analytics.fct_daily_merchant_sales s "
        f"WHERE {scope_clause} GROUP BY s.sku_id) "
        "SELECT sold.sku_id, coalesce(k.name, sold.sku_id) AS name, "
        "coalesce(k.category, 'unknown') AS category, first_day, last_day "
        "FROM sold LEFT JOIN analytics.dim_skus k ON k.sku_id = sold.sku_id "
        "ORDER BY category, sold.sku_id",
        params,
    )
    if skus.empty:
        return empty
    bounds = (min(skus["first_day"]), max(skus["last_day"]))
    skus = skus.drop(columns=["first_day", "last_day"])
    merchant_scope, merchant_params = _scope_sql(scope, "m")
    merchants = _frame(
        conn,
        f"SELECT m.merchant_id, coalesce(m.name, m.merchant_id) AS name "
        f"FROM analytics.dim_merchants m WHERE {merchant_scope} ORDER BY m.merchant_id",
        merchant_params,
    )
    return {"min_date": bounds[0], "max_date": bounds[1], "skus": skus, "merchants": merchants}


_KPI_SELECT = """
    coalesce(sum(s.gross_revenue), 0)::DOUBLE AS gmv,
    coalesce(sum(s.net_revenue), 0)::DOUBLE AS net_revenue,
    coalesce(sum(s.gross_margin), 0)::DOUBLE AS gross_margin,
    coalesce(sum(s.paid_orders), 0)::BIGINT AS orders,
    sum(s.refunded_orders)::DOUBLE / nullif(sum(s.paid_orders), 0) AS refund_rate,
    sum(s.failed_orders)::DOUBLE / nullif(sum(s.paid_orders), 0) AS failure_rate,
    sum(s.delivery_seconds_sum)::DOUBLE / nullif(sum(s.delivery_count), 0) AS avg_delivery_seconds
"""


def kpis(
    conn, scope: Scope, filters: Filters, compare: str = "previous"
) -> dict[str, dict[str, float | None]]:
    """Headline numbers for the period and for the one it is compared with: the equally long
    period just before it (``previous``) or the same days a year earlier (``year``)."""
    if not _has(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return {}
    previous_start, previous_end = comparison_range(filters.start, filters.end, compare)
    # Both periods in one scan, told apart by the day; days between them are left out.
    where, params = _sales_where(scope, filters, previous_start, filters.end)
    frame = _frame(
        conn,
        f"SELECT CASE WHEN s.order_date >= ? THEN 'current' ELSE 'previous' END AS period, "
        f"{_KPI_SELECT} FROM {_SALES_FROM} WHERE {where} "
        f"AND (s.order_date >= ? OR s.order_date <= ?) GROUP BY 1",
        [filters.start, *params, filters.start, previous_end],
    ).set_index("period")
    result = {}
    for label in ("current", "previous"):
        row = frame.loc[label] if label in frame.index else pd.Series(dtype=float)
        result[label] = {key: _kpi_value(key, row.get(key)) for key in _KPI_NAMES}
    return result


_KPI_NAMES = (
    "gmv",
    "net_revenue",
    "gross_margin",
    "orders",
    "refund_rate",
    "failure_rate",
    "avg_delivery_seconds",
)


def _kpi_value(key: str, value: Any) -> float | None:
    """Sums of an empty period are 0; ratios of an empty period are unknown (None)."""
    if value is None or pd.isna(value):
        return 0.0 if key in ("gmv", "net_revenue", "gross_margin", "orders") else None
    return float(value)


def daily_sales(conn, scope: Scope, filters: Filters) -> pd.DataFrame:
    if not _has(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return pd.DataFrame()
    where, params = _sales_where(scope, filters, filters.start, filters.end)
    return _frame(
        conn,
        f"SELECT s.order_date, sum(s.units)::BIGINT AS units, "
        f"sum(s.gross_revenue)::DOUBLE AS gmv, sum(s.net_revenue)::DOUBLE AS net_revenue, "
        f"sum(s.paid_orders)::BIGINT AS orders "
        f"FROM {_SALES_FROM} WHERE {where} GROUP BY s.order_date ORDER BY s.order_date",
        params,
    )


def top_skus(conn, scope: Scope, filters: Filters, limit: int = 10) -> pd.DataFrame:
    if not _has(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return pd.DataFrame()
    where, params = _sales_where(scope, filters, filters.start, filters.end)
    return _frame(
        conn,
        f"SELECT s.sku_id, any_value(coalesce(k.name, s.sku_id)) AS name, "
        f"any_value(k.category) AS category, sum(s.units)::BIGINT AS units, "
        f"sum(s.gross_revenue)::DOUBLE AS gmv, sum(s.gross_margin)::DOUBLE AS gross_margin "
        f"FROM {_SALES_FROM} WHERE {where} GROUP BY s.sku_id ORDER BY gmv DESC, s.sku_id "
        f"LIMIT ?",
        [*params, int(limit)],
    )


def _breakdown(conn, scope: Scope, filters: Filters, column: str) -> pd.DataFrame:
    if column not in ("region_code", "channel"):
        raise ValueError(column)
    if not _has(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return pd.DataFrame()
    where, params = _sales_where(scope, filters, filters.start, filters.end)
    return _frame(
        conn,
        f"SELECT coalesce(s.{column}, 'UNKNOWN') AS {column}, sum(s.units)::BIGINT AS units, "
        f"sum(s.gross_revenue)::DOUBLE AS gmv, sum(s.paid_orders)::BIGINT AS orders "
        f"FROM {_SALES_FROM} WHERE {where} GROUP BY 1 ORDER BY gmv DESC, 1",
        params,
    )


def provinces(conn, scope: Scope, filters: Filters) -> pd.DataFrame:
    return _breakdown(conn, scope, filters, "region_code")


def channels(conn, scope: Scope, filters: Filters) -> pd.DataFrame:
    return _breakdown(conn, scope, filters, "channel")


def shown_sales(conn, scope: Scope, filters: Filters) -> pd.DataFrame:
    """What the overview shows, per day and SKU, for the CSV download."""
    if not _has(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return pd.DataFrame()
    where, params = _sales_where(scope, filters, filters.start, filters.end)
    return _frame(
        conn,
        f"SELECT s.order_date, s.sku_id, any_value(k.name) AS sku_name, "
        f"any_value(k.category) AS category, sum(s.paid_orders)::BIGINT AS orders, "
        f"sum(s.units)::BIGINT AS units, sum(s.gross_revenue)::DOUBLE AS gmv, "
        f"sum(s.net_revenue)::DOUBLE AS net_revenue, sum(s.gross_margin)::DOUBLE AS gross_margin, "
        f"sum(s.refunded_orders)::BIGINT AS refunded_orders, "
        f"sum(s.failed_orders)::BIGINT AS failed_orders "
        f"FROM {_SALES_FROM} WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    )


def forecast(conn, scope: Scope, filters: Filters) -> pd.DataFrame:
    """The latest all-region forecast of the filtered SKUs, summed per day.

    For a merchant (or one picked by an operations user) it is the merchant's own forecast
    (``merchant_demand_forecast``, ``sku_id = 'ALL'`` summed over its tree) when no SKU filter
    is set and that table is built; otherwise the platform forecast scaled by the merchant's
    share of those SKUs' units over the last 28 days, so no other merchant's volume shows.
    """
    if not _has_rows(conn, "analytics.demand_forecast") or not _has(conn, "analytics.dim_skus"):
        return pd.DataFrame()
    categories, skus = list(filters.categories), list(filters.skus)
    sku_filter = (
        "(len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], k.category))"
        " AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], f.sku_id))"
    )
    frame = _frame(
        conn,
        "SELECT f.ds::DATE AS ds, sum(f.yhat)::DOUBLE AS yhat, "
        "sum(f.yhat_lower)::DOUBLE AS yhat_lower, sum(f.yhat_upper)::DOUBLE AS yhat_upper "
        "FROM analytics.demand_forecast f LEFT JOIN analytics.dim_skus k ON k.sku_id = f.sku_id "
        "WHERE f.region_code = 'ALL' "
        "AND f.as_of = (SELECT max(as_of) FROM analytics.demand_forecast) "
        f"AND {sku_filter} GROUP BY 1 ORDER BY 1",
        [categories, categories, skus, skus],
    )
    if frame.empty or (not scope.is_merchant and filters.merchant is None):
        return frame
    if not filters.categories and not filters.skus:
        own = _merchant_forecast(conn, scope, filters)
        if not own.empty:
            return own.assign(source="merchant")
    share = _merchant_share(conn, scope, filters)
    for column in ("yhat", "yhat_lower", "yhat_upper"):
        frame[column] = frame[column] * share
    return frame.assign(source="share")


def _merchant_forecast(conn, scope: Scope, filters: Filters) -> pd.DataFrame:
    """The merchant tree's own total forecast, summed per day (empty when not built)."""
    if not _has_rows(conn, "analytics.merchant_demand_forecast"):
        return pd.DataFrame()
    scope_clause, scope_params = _scope_sql(scope, "f")
    return _frame(
        conn,
        "SELECT f.ds::DATE AS ds, sum(f.yhat)::DOUBLE AS yhat, "
        "sum(f.yhat_lower)::DOUBLE AS yhat_lower, sum(f.yhat_upper)::DOUBLE AS yhat_upper "
        "FROM analytics.merchant_demand_forecast f WHERE f.sku_id = 'ALL' "
        "AND f.as_of = (SELECT max(as_of) FROM analytics.merchant_demand_forecast) "
        f"AND {scope_clause} AND (?::VARCHAR IS NULL OR {_in_hierarchy('f.merchant_id')}) "
        "GROUP BY 1 ORDER BY 1",
        [*scope_params, filters.merchant, filters.merchant],
    )


def _merchant_share(conn, scope: Scope, filters: Filters) -> float:
    """The scoped merchant's share of the filtered SKUs' units over the trailing share window:
    its units over every merchant's, both from ``analytics.fct_merchant_sku_share`` (the dbt
    model owns the window and what counts as a unit; this only sums the picked rows)."""
    if not _has(conn, "analytics.fct_merchant_sku_share"):
        return 0.0
    scope_clause, scope_params = _scope_sql(scope, "s")
    categories, skus = list(filters.categories), list(filters.skus)
    mine, everyone = conn.execute(
        f"SELECT coalesce(sum(s.units) FILTER (WHERE {scope_clause} AND (?::VARCHAR IS NULL "
        f"OR {_in_hierarchy('s.merchant_id')})), 0)::DOUBLE, coalesce(sum(s.units), 0)::DOUBLE "
        "FROM analytics.fct_merchant_sku_share s "
        "WHERE (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], s.category)) "
        "AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], s.sku_id))",
        [*scope_params, filters.merchant, filters.merchant, categories, categories, skus, skus],
    ).fetchone()
    return min(1.0, mine / everyone) if everyone else 0.0


def events(
    conn,
    scope: Scope,
    start: date,
    end: date,
    categories: tuple[str, ...] = (),
    skus: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Promotions and launches overlapping the period that concern what is shown: platform-wide
    events, and those of the chosen categories or SKUs (platform facts, no merchant numbers)."""
    if not _has(conn, "analytics.dim_events"):
        return pd.DataFrame()
    scopes = ["all"] + [f"category:{c}" for c in categories] + [f"sku:{s}" for s in skus]
    return _frame(
        conn,
        "SELECT name, start_date::DATE AS start_date, end_date::DATE AS end_date, scope "
        "FROM analytics.dim_events WHERE start_date <= ? AND end_date >= ? "
        "AND list_contains(?::VARCHAR[], scope) ORDER BY start_date, name",
        [end, start, scopes],
    )


# --------------------------------------------------------------------------- operations


def restock(conn, scope: Scope) -> pd.DataFrame:
    """The latest restock plan with each SKU's risk, as the restock stage rated it
    (``stock_risk``: ``out_now``, ``before_arrival`` or ``fine``; see
    ``forecasting.restock.plan.stock_risk``). A snapshot from before that column shows
    every line as ``fine`` until the next build."""
    _require_platform(scope)
    if not _has_rows(conn, "analytics.restock_plan"):
        return pd.DataFrame()
    sku_items, sku_join = _sku_columns(conn, "analytics.restock_plan")
    rated = "stock_risk" in _columns(conn, "analytics.restock_plan")
    risk = "coalesce(r.stock_risk, 'fine')" if rated else "'fine'"
    return _frame(
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
    _require_platform(scope)
    if _has(conn, "analytics.purchase_orders"):
        built = _frame(
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
    _require_platform(scope)
    if not _has_rows(conn, "analytics.funding_plan"):
        return pd.DataFrame()
    names = "analytics.dim_suppliers" in tables(conn)
    return _frame(
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
    _require_platform(scope)
    if not _has_rows(conn, "analytics.fct_supplier_performance"):
        return pd.DataFrame()
    names = "analytics.dim_suppliers" in tables(conn)
    return _frame(
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
    if _has(conn, "analytics.low_stock_alerts"):
        fired = _frame(
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
    if _has_rows(conn, "analytics.fct_inventory_daily"):
        expiring = _frame(
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


# --------------------------------------------------------------------------- pricing


def recommendations(conn, scope: Scope) -> pd.DataFrame:
    _require_platform(scope)
    if not _has_rows(conn, "analytics.price_recommendations"):
        return pd.DataFrame()
    sku_items, sku_join = _sku_columns(conn, "analytics.price_recommendations")
    # Biggest gain in yuan first when the stage wrote it: a percentage of a near-zero profit
    # (a ¥0.03 margin) would put trivial rows on top.
    own = _columns(conn, "analytics.price_recommendations")
    order = (
        "r.expected_profit_change"
        if "expected_profit_change" in own
        else ("r.expected_profit_change_pct")
    )
    return _frame(
        conn,
        f"SELECT {sku_items}r.* FROM analytics.price_recommendations r {sku_join}"
        "WHERE r.as_of = (SELECT max(as_of) FROM analytics.price_recommendations) "
        f"ORDER BY {order} DESC NULLS LAST, r.sku_id, r.region_code",
    )


def baseline_units(conn, scope: Scope, sku_id: str, region_code: str) -> float:
    """Average daily units of one SKU (one region, or every region for ``ALL``), last 28 days."""
    _require_platform(scope)
    if not _has_rows(conn, "analytics.fct_daily_sku_sales"):
        return 0.0
    row = conn.execute(
        "SELECT coalesce(sum(units), 0)::DOUBLE FROM analytics.fct_daily_sku_sales "
        "WHERE sku_id = ? AND (? = 'ALL' OR region_code = ?) "
        "AND order_date > (SELECT max(order_date) FROM analytics.fct_daily_sku_sales) - ?",
        [sku_id, region_code, region_code, TRAILING_DAYS],
    ).fetchone()
    return row[0] / TRAILING_DAYS


WHAT_IF_FIGURES = ("units", "revenue", "profit")


def what_if(row: Mapping, trial_price: float, baseline_daily_units: float | None = None) -> dict:
    """Expected daily units, revenue and profit at ``trial_price``, each with its interval
    (``units_low`` / ``units_high`` ...): ``forecasting.pricing.what_if_for_row`` on one
    ``price_recommendations`` row, divided by its horizon. A snapshot whose rows lack the
    horizon's units (only the contract's columns) falls back to ``baseline_daily_units`` (the
    last 28 days' average), with the elasticity's interval only."""
    fields = dict(row)
    days = fields.get("horizon_days")
    days = HORIZON_DAYS if days is None or pd.isna(days) or days <= 0 else float(days)
    fields["horizon_days"] = days
    if pd.isna(fields.get("horizon_units", np.nan)):
        units = float(baseline_daily_units or 0.0) * days
        fields.update(horizon_units=units, horizon_units_low=units, horizon_units_high=units)
    result = what_if_for_row(fields, trial_price)
    return {
        f"{name}{end}": getattr(result, f"{name}{end}") / days
        for name in WHAT_IF_FIGURES
        for end in ("", "_low", "_high")
    }


class PriceLimits(NamedTuple):
    """The prices the guardrails allow one SKU x region, and which rules set each end."""

    low: float
    high: float
    low_rules: tuple[str, ...]
    high_rules: tuple[str, ...]
    conflicts: tuple[str, ...]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def price_limits(row: Mapping, config: PricingConfig) -> PriceLimits:
    """The guardrail interval the pricing stage searched for this row's price (the same
    ``price_bounds`` on the same facts), rounded inwards to whole cents."""
    situation = PriceSituation(
        current_price=float(row["current_price"]),
        unit_cost=_number(row.get("unit_cost")) or 0.0,
        category=row.get("category") if isinstance(row.get("category"), str) else None,
        face_value=_number(row.get("face_value")),
        national_price=_number(row.get("national_price")),
        days_of_cover=_number(row.get("days_of_cover")),
        has_expiring_surplus=_number(row.get("has_expiring_surplus")) == 1.0,
    )
    bounds = price_bounds(situation, config.guardrails_for(situation.category))
    low = math.ceil(round(bounds.low * 100, 6)) / 100
    high = math.floor(round(bounds.high * 100, 6)) / 100 if math.isfinite(bounds.high) else None
    if high is None:  # nothing caps it (no step limit configured): the stage's own reach
        high = round(max(low, situation.current_price) * 3, 2)
    return PriceLimits(
        low,
        max(high, low),
        tuple(bounds.names_at("low")),
        tuple(bounds.names_at("high")) if math.isfinite(bounds.high) else (),
        tuple(bounds.conflicts),
    )


# --------------------------------------------------------------------------- data health

# Table -> the column that says how fresh it is (None: row count only).
FRESHNESS_COLUMNS: dict[str, str | None] = {
    "analytics.fct_orders": "order_date",
    "analytics.fct_daily_sku_sales": "order_date",
    "analytics.fct_daily_merchant_sales": "order_date",
    "analytics.fct_inventory_daily": "inventory_date",
    "analytics.fct_supplier_balance_daily": "balance_date",
    "analytics.fct_supplier_performance": "order_date",
    "analytics.dim_skus": None,
    "analytics.dim_merchants": None,
    "analytics.dim_suppliers": None,
    "analytics.demand_forecast": "as_of",
    "analytics.forecast_backtest": None,
    "analytics.restock_plan": "as_of",
    "analytics.funding_plan": "as_of",
    "analytics.price_recommendations": "as_of",
    "raw.file_ledger": "loaded_at",
    "raw.quarantine": "quarantined_at",
}


def built_tables(conn, scope: Scope) -> frozenset[str]:
    """Which tables the snapshot holds (names only, so every role may ask): an empty table
    that was built reads differently from one that was never built."""
    return tables(conn)


def build_info(conn, scope: Scope) -> pd.DataFrame:
    """Recorded builds, newest first (readable by every role: it holds no merchant numbers)."""
    if not _has(conn, "analytics.build_info"):
        return pd.DataFrame()
    return _frame(
        conn,
        "SELECT * FROM analytics.build_info ORDER BY coalesce(finished_at, started_at) DESC "
        "NULLS LAST LIMIT 20",
    )


def freshness(conn, scope: Scope) -> pd.DataFrame:
    _require_platform(scope)
    present = tables(conn)
    rows = []
    for table, column in FRESHNESS_COLUMNS.items():
        if table not in present:
            rows.append({"table": table, "rows": None, "latest": None, "built": False})
            continue
        # To the minute: a load time's microseconds say nothing to a reader.
        latest = f"left(max({column})::VARCHAR, 16)" if column else "NULL"
        count, newest = conn.execute(f"SELECT count(*), {latest} FROM {table}").fetchone()
        rows.append({"table": table, "rows": count, "latest": newest, "built": True})
    return pd.DataFrame(rows)


def quarantine_summary(conn, scope: Scope) -> pd.DataFrame:
    _require_platform(scope)
    if not _has(conn, "raw.quarantine"):
        return pd.DataFrame()
    # Reasons that differ only by the value they quote are one rule: counted together.
    return _frame(
        conn,
        "SELECT entity, any_value(reason) AS example_reason, count(*)::BIGINT AS rows "
        "FROM raw.quarantine "
        "GROUP BY entity, regexp_replace(reason, $$'[^']*'$$, $$'...'$$, 'g') "
        "ORDER BY rows DESC, 1, 2",
    )


def inferred_members(conn, scope: Scope) -> pd.DataFrame:
    """Master ids known only from the rows that name them (``is_inferred`` in the dims)."""
    _require_platform(scope)
    parts = [
        f"SELECT '{entity}' AS entity, {key} AS member_id FROM analytics.{table} WHERE is_inferred"
        for entity, table, key in (
            ("skus", "dim_skus", "sku_id"),
            ("merchants", "dim_merchants", "merchant_id"),
            ("suppliers", "dim_suppliers", "supplier_id"),
        )
        if _has(conn, f"analytics.{table}")
        and "is_inferred" in _columns(conn, f"analytics.{table}")
    ]
    if not parts:
        return pd.DataFrame()
    return _frame(conn, " UNION ALL ".join(parts) + " ORDER BY 1, 2")


def quarantine_rows(conn, scope: Scope, limit: int | None = 500) -> pd.DataFrame:
    _require_platform(scope)
    if not _has(conn, "raw.quarantine"):
        return pd.DataFrame()
    sql = (
        "SELECT file_path, entity, line, column_name, reason, raw_text, quarantined_at "
        "FROM raw.quarantine ORDER BY quarantined_at DESC, file_path, line"
    )
    if limit is None:
        return _frame(conn, sql)
    return _frame(conn, sql + " LIMIT ?", [int(limit)])


def notify_summary(conn, scope: Scope) -> pd.DataFrame:
    """Outbox messages per alert kind, channel and status (``ops.notify_outbox``)."""
    _require_platform(scope)
    if not _has(conn, "ops.notify_outbox"):
        return pd.DataFrame()
    return _frame(
        conn,
        "SELECT * FROM (SELECT kind AS alert_kind, channel AS notify_channel, status, "
        "count(*)::BIGINT AS rows, max(coalesce(sent_at, created_at)) AS latest "
        "FROM ops.notify_outbox GROUP BY 1, 2, 3) "
        "ORDER BY CASE status WHEN 'failed' THEN 0 WHEN 'interrupted' THEN 1 "
        "WHEN 'pending' THEN 2 ELSE 3 END, 1, 2",
    )


def notify_messages(conn, scope: Scope, limit: int = 200) -> pd.DataFrame:
    """The newest outbox messages, those that need a person first (failed, interrupted)."""
    _require_platform(scope)
    if not _has(conn, "ops.notify_outbox"):
        return pd.DataFrame()
    return _frame(
        conn,
        "SELECT created_at, status, kind AS alert_kind, channel AS notify_channel, title, "
        "attempts, sent_at, next_attempt_at, last_answer "
        "FROM ops.notify_outbox WHERE status <> 'in_digest' "
        "ORDER BY status IN ('failed', 'interrupted') DESC, created_at DESC, message_key LIMIT ?",
        [int(limit)],
    )


def dbt_results(conn, scope: Scope) -> pd.DataFrame:
    _require_platform(scope)
    if not _has(conn, "analytics.dbt_results"):
        return pd.DataFrame()
    return _frame(
        conn,
        "SELECT resource_type, name, status, failures, message, execution_seconds "
        "FROM analytics.dbt_results "
        "ORDER BY CASE WHEN status IN ('pass', 'success') THEN 1 ELSE 0 END, resource_type, name",
    )


def backtest_accuracy(conn, scope: Scope) -> pd.DataFrame:
    _require_platform(scope)
    if not _has_rows(conn, "analytics.forecast_backtest"):
        return pd.DataFrame()
    return _frame(
        conn,
        "SELECT model, count(*)::BIGINT AS series, "
        "sum(CASE WHEN is_selected THEN 1 ELSE 0 END)::BIGINT AS selected, "
        "median(wape)::DOUBLE AS median_wape, avg(mase)::DOUBLE AS mean_mase, "
        "avg(bias)::DOUBLE AS mean_bias, avg(interval_coverage)::DOUBLE AS interval_coverage "
        "FROM analytics.forecast_backtest GROUP BY model ORDER BY median_wape NULLS LAST, model",
    )


def first_merchant(conn) -> str | None:
    """A top-level merchant with the most sub-agents (for demo accounts), else any merchant."""
    if not _has(conn, "analytics.dim_merchants"):
        return None
    if _has(conn, "analytics.dim_merchant_hierarchy"):
        row = conn.execute(
            "SELECT m.merchant_id FROM analytics.dim_merchants m "
            "LEFT JOIN analytics.dim_merchant_hierarchy h "
            "ON h.ancestor_merchant_id = m.merchant_id "
            "WHERE m.parent_merchant_id IS NULL GROUP BY m.merchant_id "
            "ORDER BY count(h.merchant_id) DESC, m.merchant_id LIMIT 1"
        ).fetchone()
        if row:
            return row[0]
    row = conn.execute("SELECT min(merchant_id) FROM analytics.dim_merchants").fetchone()
    return row[0] if row else None


def merchant_exists(conn, merchant_id: str) -> bool | None:
    """True/False when the snapshot knows its merchants, None when it cannot tell."""
    if not _has(conn, "analytics.dim_merchants"):
        return None
    row = conn.execute(
        "SELECT count(*) FROM analytics.dim_merchants WHERE merchant_id = ?", [merchant_id]
    ).fetchone()
    return row[0] > 0


XLSX_MONEY = '"¥"#,##0.00'
XLSX_INTEGER = "#,##0"
XLSX_DECIMAL = "#,##0.00"


def to_xlsx(frames: dict[str, pd.DataFrame], money: tuple[str, ...] = ()) -> bytes:
    """One workbook with a sheet per frame (sheet names cut to Excel's 31 characters).

    Numbers stay numbers (Excel can add them up) with formats: the ``money`` columns as
    ``¥1,234.50``, whole numbers with thousands separators, other decimals to two places.
    Each column is as wide as its longest cell (a Chinese character counts twice), header
    row frozen.
    """
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for sheet, frame in frames.items():
            name = str(sheet)[:31] or "sheet"
            frame.to_excel(writer, sheet_name=name, index=False)
            _format_sheet(writer.sheets[name], frame, money)
    return buffer.getvalue()


def _format_sheet(sheet, frame: pd.DataFrame, money: tuple[str, ...]) -> None:
    from openpyxl.utils import get_column_letter

    sheet.freeze_panes = "A2"
    for position, column in enumerate(frame.columns, start=1):
        series = frame[column]
        if str(column) in money:
            number_format = XLSX_MONEY
        elif pd.api.types.is_bool_dtype(series):
            number_format = None
        elif pd.api.types.is_integer_dtype(series):
            number_format = XLSX_INTEGER
        elif pd.api.types.is_numeric_dtype(series):
            number_format = XLSX_DECIMAL
        else:
            number_format = None
        letter = get_column_letter(position)
        widest = _display_width(str(column))
        for (cell,) in sheet.iter_rows(min_row=2, min_col=position, max_col=position):
            if number_format and isinstance(cell.value, int | float | Decimal):
                cell.number_format = number_format
            shown = (
                f"¥{float(cell.value):,.2f}"
                if number_format == XLSX_MONEY and isinstance(cell.value, int | float | Decimal)
                else "" if cell.value is None else str(cell.value)
            )  # fmt: skip
            widest = max(widest, _display_width(shown))
        sheet.column_dimensions[letter].width = min(60, widest + 2)


def _display_width(text: str) -> int:
    return sum(2 if ord(character) > 0x2E7F else 1 for character in text)


def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV with a UTF-8 BOM so Excel on a Chinese Windows shows the names correctly."""
    return frame.to_csv(index=False).encode("utf-8-sig")


# --------------------------------------------------------------------------- running queries


def connect(path: Path | str):
    """A read-only view of the snapshot file (never the warehouse a build is writing).

    The file is ATTACHed to a private in-memory database rather than opened with
    ``duckdb.connect(path)``: DuckDB shares one instance per path within a process, which would
    keep serving the old file after a build replaces it with ``os.replace``.
    """
    connection = duckdb.connect(":memory:")
    try:
        connection.execute("ATTACH ? AS snapshot (READ_ONLY)", [str(path)])
        connection.execute("USE snapshot")
    except BaseException:
        connection.close()
        raise
    return connection


_handles_lock = threading.Lock()
_handles: dict[str, tuple[tuple[int, int, int], Any]] = {}


def _cursor(snapshot: SnapshotRef):
    """A cursor on the handle for this snapshot version, opening a new one when the file changed.

    A superseded handle is only dropped, not closed: a query still running on it in another
    session finishes on the old file, and the handle goes once its last cursor is closed.
    """
    with _handles_lock:
        held = _handles.get(snapshot.path)
        if held is None or held[0] != snapshot.version:
            held = (snapshot.version, connect(snapshot.path))
            _handles[snapshot.path] = held
        cursor = held[1].cursor()
    cursor.execute("USE snapshot")
    return cursor


@st.cache_data(ttl=QUERY_TTL_SECONDS, max_entries=1024, show_spinner=False)
def _cached(query: str, snapshot: SnapshotRef, scope: Scope, args: tuple) -> Any:
    cursor = _cursor(snapshot)
    try:
        return QUERIES[query](cursor, scope, *args)
    finally:
        cursor.close()


def load(query: str, snapshot: SnapshotRef, scope: Scope, *args: Any) -> Any:
    """Run a named query on the snapshot, cached by snapshot version, scope and arguments."""
    if snapshot.version is None:
        raise FileNotFoundError(snapshot.path)
    if not isinstance(scope, Scope):
        raise PermissionError("queries need a Scope")
    return _cached(query, snapshot, scope, tuple(args))


QUERIES: dict[str, Callable[..., Any]] = {
    "notify_summary": notify_summary,
    "notify_messages": notify_messages,
    "filter_options": filter_options,
    "kpis": kpis,
    "daily_sales": daily_sales,
    "top_skus": top_skus,
    "provinces": provinces,
    "channels": channels,
    "shown_sales": shown_sales,
    "forecast": forecast,
    "events": events,
    "restock": restock,
    "purchase_orders": purchase_orders,
    "funding": funding,
    "supplier_performance": supplier_performance,
    "low_stock_alerts": low_stock_alerts,
    "recommendations": recommendations,
    "baseline_units": baseline_units,
    "build_info": build_info,
    "built_tables": built_tables,
    "freshness": freshness,
    "quarantine_summary": quarantine_summary,
    "inferred_members": inferred_members,
    "quarantine_rows": quarantine_rows,
    "dbt_results": dbt_results,
    "backtest_accuracy": backtest_accuracy,
}

# The profit page's queries (issue #18) live in their own module.
from dashboard import profit_data  # noqa: E402

QUERIES.update(profit_data.QUERIES)

# The risk and reconciliation page's queries (issue #19).
from dashboard import risk_data  # noqa: E402

QUERIES.update(risk_data.QUERIES)
