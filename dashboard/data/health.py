"""Queries of the data-health page: builds, freshness, quarantine, inferred members, dbt
results, notification outbox, backtest accuracy."""

from __future__ import annotations

import pandas as pd

from dashboard.data.access import Scope, require_platform
from dashboard.data.snapshot import has_rows, has_tables, read_frame, table_columns, tables

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
    if not has_tables(conn, "analytics.build_info"):
        return pd.DataFrame()
    return read_frame(
        conn,
        "SELECT * FROM analytics.build_info ORDER BY coalesce(finished_at, started_at) DESC "
        "NULLS LAST LIMIT 20",
    )


def freshness(conn, scope: Scope) -> pd.DataFrame:
    require_platform(scope)
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
    require_platform(scope)
    if not has_tables(conn, "raw.quarantine"):
        return pd.DataFrame()
    # Reasons that differ only by the value they quote are one rule: counted together.
    return read_frame(
        conn,
        "SELECT entity, any_value(reason) AS example_reason, count(*)::BIGINT AS rows "
        "FROM raw.quarantine "
        "GROUP BY entity, regexp_replace(reason, $$'[^']*'$$, $$'...'$$, 'g') "
        "ORDER BY rows DESC, 1, 2",
    )


def inferred_members(conn, scope: Scope) -> pd.DataFrame:
    """Master ids known only from the rows that name them (``is_inferred`` in the dims)."""
    require_platform(scope)
    parts = [
        f"SELECT '{entity}' AS entity, {key} AS member_id FROM analytics.{table} WHERE is_inferred"
        for entity, table, key in (
            ("skus", "dim_skus", "sku_id"),
            ("merchants", "dim_merchants", "merchant_id"),
            ("suppliers", "dim_suppliers", "supplier_id"),
        )
        if has_tables(conn, f"analytics.{table}")
        and "is_inferred" in table_columns(conn, f"analytics.{table}")
    ]
    if not parts:
        return pd.DataFrame()
    return read_frame(conn, " UNION ALL ".join(parts) + " ORDER BY 1, 2")


def quarantine_rows(conn, scope: Scope, limit: int | None = 500) -> pd.DataFrame:
    require_platform(scope)
    if not has_tables(conn, "raw.quarantine"):
        return pd.DataFrame()
    sql = (
        "SELECT file_path, entity, line, column_name, reason, raw_text, quarantined_at "
        "FROM raw.quarantine ORDER BY quarantined_at DESC, file_path, line"
    )
    if limit is None:
        return read_frame(conn, sql)
    return read_frame(conn, sql + " LIMIT ?", [int(limit)])


def notify_summary(conn, scope: Scope) -> pd.DataFrame:
    """Outbox messages per alert kind, channel and status (``ops.notify_outbox``)."""
    require_platform(scope)
    if not has_tables(conn, "ops.notify_outbox"):
        return pd.DataFrame()
    return read_frame(
        conn,
        "SELECT * FROM (SELECT kind AS alert_kind, channel AS notify_channel, status, "
        "count(*)::BIGINT AS rows, max(coalesce(sent_at, created_at)) AS latest "
        "FROM ops.notify_outbox GROUP BY 1, 2, 3) "
        "ORDER BY CASE status WHEN 'failed' THEN 0 WHEN 'interrupted' THEN 1 "
        "WHEN 'pending' THEN 2 ELSE 3 END, 1, 2",
    )


def notify_messages(conn, scope: Scope, limit: int = 200) -> pd.DataFrame:
    """The newest outbox messages, those that need a person first (failed, interrupted)."""
    require_platform(scope)
    if not has_tables(conn, "ops.notify_outbox"):
        return pd.DataFrame()
    return read_frame(
        conn,
        "SELECT created_at, status, kind AS alert_kind, channel AS notify_channel, title, "
        "attempts, sent_at, next_attempt_at, last_answer "
        "FROM ops.notify_outbox WHERE status <> 'in_digest' "
        "ORDER BY status IN ('failed', 'interrupted') DESC, created_at DESC, message_key LIMIT ?",
        [int(limit)],
    )


def dbt_results(conn, scope: Scope) -> pd.DataFrame:
    require_platform(scope)
    if not has_tables(conn, "analytics.dbt_results"):
        return pd.DataFrame()
    return read_frame(
        conn,
        "SELECT resource_type, name, status, failures, message, execution_seconds "
        "FROM analytics.dbt_results "
        "ORDER BY CASE WHEN status IN ('pass', 'success') THEN 1 ELSE 0 END, resource_type, name",
    )


def backtest_accuracy(conn, scope: Scope) -> pd.DataFrame:
    require_platform(scope)
    if not has_rows(conn, "analytics.forecast_backtest"):
        return pd.DataFrame()
    return read_frame(
        conn,
        "SELECT model, count(*)::BIGINT AS series, "
        "sum(CASE WHEN is_selected THEN 1 ELSE 0 END)::BIGINT AS selected, "
        "median(wape)::DOUBLE AS median_wape, avg(mase)::DOUBLE AS mean_mase, "
        "avg(bias)::DOUBLE AS mean_bias, avg(interval_coverage)::DOUBLE AS interval_coverage "
        "FROM analytics.forecast_backtest GROUP BY model ORDER BY median_wape NULLS LAST, model",
    )


# The page's named queries, run through ``dashboard.data.queries.load``.
QUERIES = {
    "build_info": build_info,
    "built_tables": built_tables,
    "freshness": freshness,
    "quarantine_summary": quarantine_summary,
    "inferred_members": inferred_members,
    "quarantine_rows": quarantine_rows,
    "notify_summary": notify_summary,
    "notify_messages": notify_messages,
    "dbt_results": dbt_results,
    "backtest_accuracy": backtest_accuracy,
}
