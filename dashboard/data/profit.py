"""Queries of the profit page (issue #18): the waterfall from GMV to net profit, the same period
last year, coupons, payment channels and agents, on the published snapshot.

The same rules as the other pages' queries (``dashboard.data``): the scope comes from the
signed-in user and is applied in the SQL (a merchant sees its tree; a merchant user bound to an
agent sees only that agent's orders), widget filters only narrow it, every value is a bound
parameter, a missing table gives an empty frame.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, NamedTuple

import pandas as pd

from dashboard.data.access import PLATFORM_ROLES, Scope, in_hierarchy
from dashboard.data.snapshot import has_tables, read_frame
from forecasting.coupons import coupon_windows, estimate_incrementality

# The waterfall's steps, in order: GMV, then what comes off it, then what is left.
STEPS = ("gmv", "discount_amount", "payment_fee", "agent_commission", "cost_amount")
YEAR_DAYS = 364  # the same weekdays a year before


class ProfitFilters(NamedTuple):
    """The profit page's widgets: a period and (empty = every) products, channels, agents and
    coupons."""

    start: date
    end: date
    skus: tuple[str, ...] = ()
    payment_channels: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    coupons: tuple[str, ...] = ()


def _has_column(conn, table: str, column: str) -> bool:
    found = conn.execute(
        """SELECT count(*) FROM information_schema.columns
           WHERE table_schema = 'analytics' AND table_name = ? AND column_name = ?""",
        [table, column],
    ).fetchone()
    return bool(found[0])


def profit_scope_sql(scope: Scope, alias: str = "p") -> tuple[str, list[Any]]:
    """The server-side restriction on a table with merchant_id and agent_id."""
    if scope.is_merchant:
        if not scope.merchant_id:
            raise PermissionError("merchant scope without a merchant_id")
        sql, params = in_hierarchy(f"{alias}.merchant_id"), [scope.merchant_id]
        if scope.agent_id:
            sql += f" AND {alias}.agent_id = ?"
            params.append(scope.agent_id)
        return sql, params
    if scope.role not in PLATFORM_ROLES:
        raise PermissionError(f"unknown role {scope.role!r}")
    return "TRUE", []


def _where(scope: Scope, filters: ProfitFilters, start: date, end: date) -> tuple[str, list]:
    sql, params = profit_scope_sql(scope)
    parts, values = [sql, "p.order_date BETWEEN ? AND ?"], [*params, start, end]
    for column, chosen in (
        ("sku_id", filters.skus),
        ("payment_channel", filters.payment_channels),
        ("agent_id", filters.agents),
        ("coupon_code", filters.coupons),
    ):
        if chosen:
            parts.append(f"p.{column} IN (SELECT unnest(?::VARCHAR[]))")
            values.append(list(chosen))
    return " AND ".join(parts), values


def profit_options(conn, scope: Scope) -> dict[str, Any]:
    """The page's choices within the scope: dates, SKUs, channels, agents, coupons."""
    empty = {"min_date": None, "max_date": None, "skus": [], "channels": [], "agents": []}
    if not has_tables(conn, "analytics.fct_order_profit"):
        return {**empty, "coupons": []}
    sql, params = profit_scope_sql(scope)
    first, last = conn.execute(
        f"SELECT min(order_date), max(order_date) FROM analytics.fct_order_profit p WHERE {sql}",
        params,
    ).fetchone()

    def distinct(column: str) -> list[str]:
        return [
            row[0]
            for row in conn.execute(
                f"""SELECT DISTINCT p.{column} FROM analytics.fct_order_profit p
                    WHERE {sql} AND p.{column} IS NOT NULL ORDER BY 1""",
                params,
            ).fetchall()
        ]

    return {
        "min_date": first,
        "max_date": last,
        "skus": distinct("sku_id"),
        "channels": distinct("payment_channel"),
        "agents": distinct("agent_id"),
        "coupons": distinct("coupon_code"),
    }


def waterfall(conn, scope: Scope, filters: ProfitFilters) -> dict[str, dict[str, float]]:
    """The steps summed for the period and for the same days a year before (364 days, the
    same weekdays). Orders without a known cost are counted apart (``uncosted_orders``) and
    left out of the steps, so the steps add up to net profit."""
    if not has_tables(conn, "analytics.fct_order_profit"):
        return {"current": {}, "last_year": {}}
    shift = timedelta(days=YEAR_DAYS)
    out = {}
    for name, (start, end) in {
        "current": (filters.start, filters.end),
        "last_year": (filters.start - shift, filters.end - shift),
    }.items():
        where, params = _where(scope, filters, start, end)
        sums = ", ".join(f"sum({s}) FILTER (WHERE is_cost_known)" for s in STEPS)
        row = conn.execute(
            f"""SELECT count(*) FILTER (WHERE is_cost_known),
                       count(*) FILTER (WHERE NOT is_cost_known),
                       {sums}, sum(net_profit) FILTER (WHERE is_cost_known)
                FROM analytics.fct_order_profit p WHERE {where}""",
            params,
        ).fetchone()
        names = ("orders", "uncosted_orders", *STEPS, "net_profit")
        out[name] = {k: float(v) if v is not None else 0.0 for k, v in zip(names, row, strict=True)}
    return out


def profit_daily(conn, scope: Scope, filters: ProfitFilters) -> pd.DataFrame:
    """Per day of the period: revenue and net profit, and the same weekday a year before."""
    if not has_tables(conn, "analytics.fct_order_profit"):
        return pd.DataFrame(columns=["order_date", "revenue", "net_profit", "period"])
    frames = []
    shift = timedelta(days=YEAR_DAYS)
    for period, offset in (("current", timedelta(0)), ("last_year", shift)):
        where, params = _where(scope, filters, filters.start - offset, filters.end - offset)
        frame = read_frame(
            conn,
            f"""SELECT p.order_date + INTERVAL {offset.days} DAY AS order_date,
                       sum(p.revenue)::DOUBLE AS revenue, sum(p.net_profit)::DOUBLE AS net_profit
                FROM analytics.fct_order_profit p WHERE {where}
                GROUP BY 1 ORDER BY 1""",
            params,
        )
        frames.append(frame.assign(period=period))
    return pd.concat(frames, ignore_index=True)


def coupon_results(conn, scope: Scope, filters: ProfitFilters) -> pd.DataFrame:
    """Per coupon used in the period: orders, discount, revenue and profit after the discount,
    and incremental orders against comparable days (``forecasting.coupons``) with their 90%
    interval. An agent-bound user gets no incrementality: it compares the whole merchant."""
    columns = [
        "coupon_code", "merchant_id", "orders", "discount_amount", "revenue", "net_profit",
        "incremental_orders", "incremental_low", "incremental_high",
    ]  # fmt: skip
    if not has_tables(conn, "analytics.fct_order_profit", "analytics.fct_coupon_daily"):
        return pd.DataFrame(columns=columns)
    where, params = _where(scope, filters, filters.start, filters.end)
    used = read_frame(
        conn,
        f"""SELECT p.coupon_code, p.merchant_id, count(*) AS orders,
                   sum(p.discount_amount)::DOUBLE AS discount_amount,
                   sum(p.revenue)::DOUBLE AS revenue, sum(p.net_profit)::DOUBLE AS net_profit
            FROM analytics.fct_order_profit p WHERE {where} AND p.coupon_code IS NOT NULL
            GROUP BY ALL ORDER BY orders DESC, 1""",
        params,
    )
    if used.empty:
        return pd.DataFrame(columns=columns)
    if scope.agent_id:
        return used.assign(incremental_orders=None, incremental_low=None, incremental_high=None)
    merchants = sorted(used["merchant_id"].unique())
    days = read_frame(
        conn,
        """SELECT merchant_id, order_date, merchant_orders AS orders FROM (
               SELECT merchant_id, order_date, count(*) AS merchant_orders
               FROM analytics.fct_order_profit GROUP BY ALL)""",
    )
    spans = read_frame(
        conn,
        """SELECT coupon_code, merchant_id, order_date FROM analytics.fct_coupon_daily
           WHERE coupon_code IN (SELECT unnest(?::VARCHAR[]))
             AND merchant_id IN (SELECT unnest(?::VARCHAR[]))""",
        [list(used["coupon_code"].unique()), merchants],
    )
    estimates = estimate_incrementality(days, coupon_windows(spans))
    keep = ["coupon_code", "merchant_id", "incremental_orders", "incremental_low",
            "incremental_high"]  # fmt: skip
    return used.merge(estimates[keep], on=["coupon_code", "merchant_id"], how="left")[columns]


def payment_channels(conn, scope: Scope, filters: ProfitFilters) -> pd.DataFrame:
    """Per payment channel: share of revenue, attempts, success rate and fees."""
    columns = ["payment_channel", "orders", "revenue", "share", "attempts", "success_rate",
               "payment_fee", "fee_rate"]  # fmt: skip
    if not has_tables(conn, "analytics.fct_order_profit"):
        return pd.DataFrame(columns=columns)
    where, params = _where(scope, filters, filters.start, filters.end)
    sold = read_frame(
        conn,
        f"""SELECT p.payment_channel, count(*) AS orders, sum(p.revenue)::DOUBLE AS revenue,
                   sum(p.payment_fee)::DOUBLE AS payment_fee
            FROM analytics.fct_order_profit p WHERE {where} GROUP BY 1""",
        params,
    )
    if has_tables(conn, "analytics.fct_payments"):
        pay_where, pay_params = profit_scope_sql(scope)
        pay_params = [*pay_params, filters.start, filters.end]
        narrowing = ""
        if filters.payment_channels:
            narrowing = " AND p.payment_channel IN (SELECT unnest(?::VARCHAR[]))"
            pay_params.append(list(filters.payment_channels))
        attempt = "attempt_id" if _has_column(conn, "fct_payments", "attempt_id") else "payment_id"
        attempts = read_frame(
            conn,
            # An attempt for a multi-item order is split over its items (one row each):
            # attempts are distinct attempt_id (payment_id in a snapshot from before it).
            f"""SELECT p.payment_channel, count(DISTINCT p.{attempt}) AS attempts,
                       count(DISTINCT p.{attempt}) FILTER (WHERE p.is_success)
                           / count(DISTINCT p.{attempt}) AS success_rate
                FROM analytics.fct_payments p
                WHERE {pay_where} AND p.payment_date BETWEEN ? AND ?{narrowing}
                GROUP BY 1""",
            pay_params,
        )
        sold = sold.merge(attempts, on="payment_channel", how="outer")
    else:
        sold = sold.assign(attempts=None, success_rate=None)
    total = sold["revenue"].sum()
    sold["share"] = sold["revenue"] / total if total else None
    sold["fee_rate"] = sold["payment_fee"] / sold["revenue"].where(sold["revenue"] > 0)
    return sold.sort_values("revenue", ascending=False, na_position="last")[columns]


def agent_ranking(conn, scope: Scope, filters: ProfitFilters) -> pd.DataFrame:
    """Agents ranked by revenue: orders, commission and the profit left to the merchant."""
    columns = ["agent_id", "merchant_id", "commission_pct", "orders", "revenue",
               "agent_commission", "net_profit"]  # fmt: skip
    if not has_tables(conn, "analytics.fct_order_profit"):
        return pd.DataFrame(columns=columns)
    where, params = _where(scope, filters, filters.start, filters.end)
    rule = "a.commission_pct" if has_tables(conn, "analytics.dim_agents") else "NULL::DOUBLE"
    agents = (
        "LEFT JOIN analytics.dim_agents a USING (agent_id)"
        if has_tables(conn, "analytics.dim_agents")
        else ""
    )
    return read_frame(
        conn,
        f"""SELECT p.agent_id, any_value(p.merchant_id) AS merchant_id,
                   any_value({rule}) AS commission_pct, count(*) AS orders,
                   sum(p.revenue)::DOUBLE AS revenue,
                   sum(p.agent_commission)::DOUBLE AS agent_commission,
                   sum(p.net_profit)::DOUBLE AS net_profit
            FROM analytics.fct_order_profit p {agents}
            WHERE {where} AND p.agent_id IS NOT NULL
            GROUP BY p.agent_id ORDER BY revenue DESC, 1""",
        params,
    )


def agent_trend(conn, scope: Scope, filters: ProfitFilters) -> pd.DataFrame:
    """Each agent's revenue and commission per week of the period."""
    if not has_tables(conn, "analytics.fct_order_profit"):
        return pd.DataFrame(columns=["agent_id", "week", "revenue", "agent_commission"])
    where, params = _where(scope, filters, filters.start, filters.end)
    return read_frame(
        conn,
        f"""SELECT p.agent_id, CAST(date_trunc('week', p.order_date) AS DATE) AS week,
                   sum(p.revenue)::DOUBLE AS revenue,
                   sum(p.agent_commission)::DOUBLE AS agent_commission
            FROM analytics.fct_order_profit p
            WHERE {where} AND p.agent_id IS NOT NULL GROUP BY ALL ORDER BY 1, 2""",
        params,
    )


def profit_orders(conn, scope: Scope, filters: ProfitFilters, limit: int = 100_000) -> pd.DataFrame:
    """The period's orders with every waterfall step, for export."""
    if not has_tables(conn, "analytics.fct_order_profit"):
        return pd.DataFrame()
    where, params = _where(scope, filters, filters.start, filters.end)
    return read_frame(
        conn,
        f"""SELECT p.order_id, p.order_date, p.merchant_id, p.agent_id, p.sku_id,
                   p.payment_channel, p.coupon_code, p.status, p.quantity,
                   p.gmv::DOUBLE AS gmv, p.discount_amount::DOUBLE AS discount_amount,
                   p.revenue::DOUBLE AS revenue, p.payment_fee::DOUBLE AS payment_fee,
                   p.agent_commission::DOUBLE AS agent_commission,
                   p.cost_amount::DOUBLE AS cost_amount, p.net_profit::DOUBLE AS net_profit
            FROM analytics.fct_order_profit p WHERE {where}
            ORDER BY p.order_date, p.order_id LIMIT {int(limit)}""",
        params,
    )


QUERIES = {
    "profit_options": profit_options,
    "waterfall": waterfall,
    "profit_daily": profit_daily,
    "coupon_results": coupon_results,
    "payment_channels": payment_channels,
    "agent_ranking": agent_ranking,
    "agent_trend": agent_trend,
    "profit_orders": profit_orders,
}
