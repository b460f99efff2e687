"""Daily demand series in long format (``unique_id``, ``ds``, ``y``), with stockouts censored.

A day without orders is zero demand, except when the SKU was out of stock: then nobody could
buy, and demand that day is unknown. Such days are NaN ("censored"), which models skip and
backtests do not score. A series starts on its first sale and runs to the day before as_of.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def dense_daily(
    sales: pd.DataFrame,
    keys: list[str],
    end: dt.date,
    start: dt.date | None = None,
) -> pd.DataFrame:
    """Units per ``keys`` x day on a full calendar, zeros where nothing sold.

    1. Each group runs from its first sale (or ``start`` if later) to ``end`` inclusive;
    2. missing days are 0. Columns: keys, ``ds``, ``y``.
    """
    columns = keys + ["ds", "y"]
    if sales.empty:
        return pd.DataFrame(columns=columns)
    sales = sales[sales["units"] > 0]
    if start is not None:
        sales = sales[sales["ds"] >= pd.Timestamp(start)]
    sales = sales[sales["ds"] <= pd.Timestamp(end)]
    if sales.empty:
        return pd.DataFrame(columns=columns)
    totals = sales.groupby(keys + ["ds"], sort=True, as_index=False)["units"].sum()
    firsts = totals.groupby(keys, sort=True)["ds"].min()
    end_ts = pd.Timestamp(end)
    lengths = ((end_ts - firsts).dt.days + 1).to_numpy()
    # One row per key x day, built with numpy repeats (no per-group Python loop).
    offsets = np.concatenate([np.arange(n) for n in lengths])
    grid = pd.DataFrame(
        {k: np.repeat(firsts.index.get_level_values(k).to_numpy(), lengths) for k in keys}
        if len(keys) > 1
        else {keys[0]: np.repeat(firsts.index.to_numpy(), lengths)}
    )
    grid["ds"] = np.repeat(firsts.to_numpy(), lengths) + pd.to_timedelta(offsets, unit="D")
    dense = grid.merge(totals, on=keys + ["ds"], how="left")
    dense["y"] = dense.pop("units").fillna(0.0).astype(float)
    return dense[columns]


def censor(series: pd.DataFrame, stockouts: pd.DataFrame) -> pd.DataFrame:
    """``series`` with ``y`` set to NaN on the SKU's stockout days (``stockouts``: sku_id, ds)."""
    if stockouts.empty or series.empty:
        return series
    marked = series.merge(
        stockouts[["sku_id", "ds"]].drop_duplicates().assign(_out=True),
        on=["sku_id", "ds"],
        how="left",
    )
    out = marked.pop("_out").notna().to_numpy()
    marked.loc[out, "y"] = np.nan
    return marked


def sku_series(sku_sales: pd.DataFrame, stockouts: pd.DataFrame, end: dt.date) -> pd.DataFrame:
    """Demand per SKU over all regions: ``sku_id``, ``ds``, ``y`` (NaN when censored)."""
    dense = dense_daily(sku_sales, ["sku_id"], end)
    return censor(dense, stockouts)
