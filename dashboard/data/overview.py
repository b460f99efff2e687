"""Queries of the overview page: a merchant's (or the platform's) sales, KPIs, breakdowns,
forecast and events for the period and filters its widgets pick (``Filters``)."""

from __future__ import annotations

from datetime import date
from typing import Any, NamedTuple

import pandas as pd

from dashboard.data.access import Scope, in_hierarchy, scope_sql
from dashboard.data.snapshot import has_rows, has_tables, read_frame
from dashboard.periods import comparison_range


class Filters(NamedTuple):
    """What the merchant overview's widgets (or query parameters) ask for: only ever narrowing."""

    start: date
    end: date
    categories: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    merchant: str | None = None
    regions: tuple[str, ...] = ()  # province codes, ``UNKNOWN`` for orders without one


def _sales_where(scope: Scope, filters: Filters, start: date, end: date) -> tuple[str, list]:
    """The WHERE clause shared by every merchant-sales query (alias ``s`` sales, ``k`` skus)."""
    scope_clause, scope_params = scope_sql(scope, "s")
    categories = list(filters.categories)
    skus = list(filters.skus)
    regions = list(filters.regions)
    clause = (
        f"s.order_date BETWEEN ? AND ? AND {scope_clause}"
        " AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], k.category))"
        " AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], s.sku_id))"
        f" AND (?::VARCHAR IS NULL OR {in_hierarchy('s.merchant_id')})"
        " AND (len(?::VARCHAR[]) = 0"
        " OR list_contains(?::VARCHAR[], coalesce(s.region_code, 'UNKNOWN')))"
    )
    params = [start, end, *scope_params, categories, categories, skus, skus]
    params += [filters.merchant, filters.merchant, regions, regions]
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
    if not has_tables(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return empty
    scope_clause, params = scope_sql(scope, "s")
    # One pass over the sales: per SKU its first and last day, then names from the small dim.
    skus = read_frame(
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
    merchant_scope, merchant_params = scope_sql(scope, "m")
    merchants = read_frame(
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
    if not has_tables(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return {}
    previous_start, previous_end = comparison_range(filters.start, filters.end, compare)
    # Both periods in one scan, told apart by the day; days between them are left out.
    where, params = _sales_where(scope, filters, previous_start, filters.end)
    frame = read_frame(
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
    if not has_tables(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return pd.DataFrame()
    where, params = _sales_where(scope, filters, filters.start, filters.end)
    return read_frame(
        conn,
        f"SELECT s.order_date, sum(s.units)::BIGINT AS units, "
        f"sum(s.gross_revenue)::DOUBLE AS gmv, sum(s.net_revenue)::DOUBLE AS net_revenue, "
        f"sum(s.paid_orders)::BIGINT AS orders "
        f"FROM {_SALES_FROM} WHERE {where} GROUP BY s.order_date ORDER BY s.order_date",
        params,
    )


def top_skus(conn, scope: Scope, filters: Filters, limit: int = 10) -> pd.DataFrame:
    if not has_tables(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return pd.DataFrame()
    where, params = _sales_where(scope, filters, filters.start, filters.end)
    return read_frame(
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
    if not has_tables(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return pd.DataFrame()
    where, params = _sales_where(scope, filters, filters.start, filters.end)
    return read_frame(
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
    if not has_tables(conn, "analytics.fct_daily_merchant_sales", "analytics.dim_skus"):
        return pd.DataFrame()
    where, params = _sales_where(scope, filters, filters.start, filters.end)
    return read_frame(
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
    With provinces picked there is none (empty): the forecast covers all provinces.
    """
    if filters.regions:
        return pd.DataFrame()
    if not has_rows(conn, "analytics.demand_forecast"):
        return pd.DataFrame()
    if not has_tables(conn, "analytics.dim_skus"):
        return pd.DataFrame()
    categories, skus = list(filters.categories), list(filters.skus)
    sku_filter = (
        "(len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], k.category))"
        " AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], f.sku_id))"
    )
    frame = read_frame(
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
    if not has_rows(conn, "analytics.merchant_demand_forecast"):
        return pd.DataFrame()
    scope_clause, scope_params = scope_sql(scope, "f")
    return read_frame(
        conn,
        "SELECT f.ds::DATE AS ds, sum(f.yhat)::DOUBLE AS yhat, "
        "sum(f.yhat_lower)::DOUBLE AS yhat_lower, sum(f.yhat_upper)::DOUBLE AS yhat_upper "
        "FROM analytics.merchant_demand_forecast f WHERE f.sku_id = 'ALL' "
        "AND f.as_of = (SELECT max(as_of) FROM analytics.merchant_demand_forecast) "
        f"AND {scope_clause} AND (?::VARCHAR IS NULL OR {in_hierarchy('f.merchant_id')}) "
        "GROUP BY 1 ORDER BY 1",
        [*scope_params, filters.merchant, filters.merchant],
    )


def _merchant_share(conn, scope: Scope, filters: Filters) -> float:
    """The scoped merchant's share of the filtered SKUs' units over the trailing share window:
    its units over every merchant's, both from ``analytics.fct_merchant_sku_share`` (the dbt
    model owns the window and what counts as a unit; this only sums the picked rows)."""
    if not has_tables(conn, "analytics.fct_merchant_sku_share"):
        return 0.0
    scope_clause, scope_params = scope_sql(scope, "s")
    categories, skus = list(filters.categories), list(filters.skus)
    mine, everyone = conn.execute(
        f"SELECT coalesce(sum(s.units) FILTER (WHERE {scope_clause} AND (?::VARCHAR IS NULL "
        f"OR {in_hierarchy('s.merchant_id')})), 0)::DOUBLE, coalesce(sum(s.units), 0)::DOUBLE "
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
    if not has_tables(conn, "analytics.dim_events"):
        return pd.DataFrame()
    scopes = ["all"] + [f"category:{c}" for c in categories] + [f"sku:{s}" for s in skus]
    return read_frame(
        conn,
        "SELECT name, start_date::DATE AS start_date, end_date::DATE AS end_date, scope "
        "FROM analytics.dim_events WHERE start_date <= ? AND end_date >= ? "
        "AND list_contains(?::VARCHAR[], scope) ORDER BY start_date, name",
        [end, start, scopes],
    )


# The page's named queries, run through ``dashboard.data.queries.load``.
QUERIES = {
    "filter_options": filter_options,
    "kpis": kpis,
    "daily_sales": daily_sales,
    "top_skus": top_skus,
    "provinces": provinces,
    "channels": channels,
    "shown_sales": shown_sales,
    "forecast": forecast,
    "events": events,
}
