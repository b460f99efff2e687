"""Small synthetic demand with known structure, for tests and examples (not the simulator).

Weekly pattern, holiday and Double 11 lifts, regions and merchants with fixed shares, Poisson
noise, and stockout days on one card-key SKU. Deterministic per seed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from forecasting import trading_calendar
from forecasting.demand.inputs import DemandInputs, normalise_inputs

WEEKLY = np.array([0.8, 0.85, 0.9, 1.0, 1.2, 1.4, 1.3])  # Monday first
REGIONS = ("CN-GD", "CN-BJ", "CN-SH")
REGION_SHARES = (0.5, 0.3, 0.2)
MERCHANTS = ("M1", "M2")
MERCHANT_SHARES = (0.7, 0.3)


def expected_demand(levels: dict[str, float], start: dt.date, end: dt.date) -> pd.DataFrame:
    """Expected units per SKU x day: level x weekday factor x 1.5 on public holidays x 2 on
    Double 11. Columns: sku_id, ds, expected."""
    days = pd.date_range(start, end, freq="D")
    holidays = set(trading_calendar.public_holidays(start, end)["ds"])
    lift = np.where(days.isin(list(holidays)), 1.5, 1.0)
    lift = lift * np.where((days.month == 11) & (days.day == 11), 2.0, 1.0)
    base = WEEKLY[days.weekday] * lift
    return pd.DataFrame(
        {
            "sku_id": np.repeat(list(levels), len(days)),
            "ds": np.tile(days, len(levels)),
            "expected": np.concatenate([level * base for level in levels.values()]),
        }
    )


def synthetic_inputs(
    levels: dict[str, float],
    as_of: dt.date,
    days: int = 200,
    seed: int = 0,
    stockout_sku: str | None = None,
    stockout_days: int = 5,
) -> tuple[DemandInputs, pd.DataFrame]:
    """Marts-shaped inputs for ``days`` days before ``as_of``, and the expected demand.

    The ``stockout_sku`` is out of stock on ``stockout_days`` days in the middle of the
    history: no sales those days, listed in ``stockouts``.
    """
    rng = np.random.default_rng(seed)
    start = as_of - dt.timedelta(days=days)
    truth = expected_demand(levels, start, as_of - dt.timedelta(days=1))
    units = rng.poisson(truth["expected"].to_numpy()).astype(float)
    stockouts = pd.DataFrame(columns=["sku_id", "ds"])
    if stockout_sku is not None:
        out_days = pd.date_range(start + dt.timedelta(days=days // 2), periods=stockout_days)
        stockouts = pd.DataFrame({"sku_id": stockout_sku, "ds": out_days})
        units[
            (truth["sku_id"] == stockout_sku).to_numpy() & truth["ds"].isin(out_days).to_numpy()
        ] = 0
    region_parts, merchant_parts = [], []
    region_units = rng.multinomial(units.astype(int), REGION_SHARES)
    merchant_units = rng.multinomial(units.astype(int), MERCHANT_SHARES)
    for i, region in enumerate(REGIONS):
        region_parts.append(
            truth[["sku_id", "ds"]].assign(region_code=region, units=region_units[:, i])
        )
    for i, merchant in enumerate(MERCHANTS):
        merchant_parts.append(
            truth[["sku_id", "ds"]].assign(merchant_id=merchant, units=merchant_units[:, i])
        )
    sku_sales = pd.concat(region_parts, ignore_index=True)
    merchant_sales = pd.concat(merchant_parts, ignore_index=True)
    skus = pd.DataFrame(
        {
            "sku_id": list(levels),
            "category": "game_card",
            "brand": "brand",
            "delivery_type": "card_key",
            "active": True,
        }
    )
    events = pd.DataFrame(columns=["name", "start_date", "end_date", "scope"])
    inputs = DemandInputs(
        sku_sales[sku_sales["units"] > 0][["sku_id", "region_code", "ds", "units"]],
        skus,
        stockouts,
        events,
        merchant_sales[merchant_sales["units"] > 0][["merchant_id", "sku_id", "ds", "units"]],
    )
    return normalise_inputs(inputs), truth
