"""What demand forecasting reads from the warehouse marts, as plain DataFrames.

Everything before ``as_of`` (exclusive): the forecast must not see the day it starts on.
Optional marts that are missing or empty give empty frames with the right columns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class DemandInputs:
    """The marts forecasting needs, one frame each.

    - ``sku_sales``: sku_id, region_code, ds, units (demand units per SKU x region x day);
    - ``skus``: sku_id, category, brand, delivery_type, active;
    - ``stockouts``: sku_id, ds (card-key SKU out of stock that day: demand censored);
    - ``events``: name, start_date, end_date, scope;
    - ``merchant_sales``: merchant_id, sku_id, ds, units.
    """

    sku_sales: pd.DataFrame
    skus: pd.DataFrame
    stockouts: pd.DataFrame
    events: pd.DataFrame
    merchant_sales: pd.DataFrame


_EMPTY = {
    "sku_sales": ["sku_id", "region_code", "ds", "units"],
    "skus": ["sku_id", "category", "brand", "delivery_type", "active"],
    "stockouts": ["sku_id", "ds"],
    "events": ["name", "start_date", "end_date", "scope"],
    "merchant_sales": ["merchant_id", "sku_id", "ds", "units"],
}


def _has_table(conn, schema: str, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _frame(conn, sql: str, params: list, columns: list[str]) -> pd.DataFrame:
    frame = conn.execute(sql, params).df()
    return frame if len(frame) else pd.DataFrame(columns=columns)


def load_demand_inputs(conn, as_of: dt.date) -> DemandInputs:
    """Read the marts (schema ``analytics``) up to the day before ``as_of``.

    1. Daily demand units per SKU x region (``fct_daily_sku_sales``); 2. the SKU catalogue
    (``dim_skus``); 3. card-key stockout days (``fct_inventory_daily.is_stockout``);
    4. events (``dim_events``); 5. units per merchant x SKU x day (``fct_daily_merchant_sales``).
    """
    queries = {
        "sku_sales": (
            "fct_daily_sku_sales",
            """SELECT sku_id, region_code, order_date AS ds, sum(units)::DOUBLE AS units
               FROM analytics.fct_daily_sku_sales WHERE order_date < ?
               GROUP BY ALL ORDER BY sku_id, region_code, ds""",
            [as_of],
        ),
        "skus": (
            "dim_skus",
            """SELECT sku_id, category, brand, delivery_type, active
               FROM analytics.dim_skus ORDER BY sku_id""",
            [],
        ),
        "stockouts": (
            "fct_inventory_daily",
            """SELECT DISTINCT i.sku_id, i.inventory_date AS ds
               FROM analytics.fct_inventory_daily i
               JOIN analytics.dim_skus s USING (sku_id)
               WHERE i.is_stockout AND s.delivery_type = 'card_key' AND i.inventory_date < ?
               ORDER BY 1, 2""",
            [as_of],
        ),
        "events": (
            "dim_events",
            """SELECT name, start_date, end_date, scope FROM analytics.dim_events
               ORDER BY start_date, name""",
            [],
        ),
        "merchant_sales": (
            "fct_daily_merchant_sales",
            """SELECT merchant_id, sku_id, order_date AS ds, sum(units)::DOUBLE AS units
               FROM analytics.fct_daily_merchant_sales WHERE order_date < ?
               GROUP BY ALL HAVING sum(units) > 0 ORDER BY 1, 2, 3""",
            [as_of],
        ),
    }
    frames = {}
    for key, (table, sql, params) in queries.items():
        if _has_table(conn, "analytics", table):
            frames[key] = _frame(conn, sql, params, _EMPTY[key])
        else:
            frames[key] = pd.DataFrame(columns=_EMPTY[key])
    return normalise_inputs(DemandInputs(**frames))


def normalise_inputs(inputs: DemandInputs) -> DemandInputs:
    """Consistent dtypes whatever the source: ``ds`` as midnight Timestamps, ids as str."""
    sku_sales = inputs.sku_sales.copy()
    sku_sales["ds"] = pd.to_datetime(sku_sales["ds"])
    sku_sales["units"] = sku_sales["units"].astype(float)
    sku_sales[["sku_id", "region_code"]] = sku_sales[["sku_id", "region_code"]].astype(str)
    stockouts = inputs.stockouts.copy()
    stockouts["ds"] = pd.to_datetime(stockouts["ds"])
    stockouts["sku_id"] = stockouts["sku_id"].astype(str)
    merchant_sales = inputs.merchant_sales.copy()
    merchant_sales["ds"] = pd.to_datetime(merchant_sales["ds"])
    merchant_sales["units"] = merchant_sales["units"].astype(float)
    merchant_sales[["merchant_id", "sku_id"]] = merchant_sales[["merchant_id", "sku_id"]].astype(
        str
    )
    skus = inputs.skus.copy()
    skus["sku_id"] = skus["sku_id"].astype(str)
    skus["active"] = skus["active"].fillna(True).astype(bool)
    events = inputs.events.copy()
    return DemandInputs(sku_sales, skus, stockouts, events, merchant_sales)
