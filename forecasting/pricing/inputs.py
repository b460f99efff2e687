"""What each SKU x region needs for a recommendation: price, cost, demand ahead, stock.

Built from mart-shaped frames (``fct_daily_sku_sales``, ``dim_skus``, ``demand_forecast``,
``fct_inventory_daily``, ``restock_plan``); every input beyond the daily sales is optional
and has a plain fallback.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from cardpulse.settings import DEFAULT_FORECAST

RECENT_DAYS = 56
ACTIVE_WITHIN_DAYS = 90
# Interval for the fallback demand estimate (80 %, like the forecasts).
FALLBACK_Z = 1.2816


def current_prices(daily: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Current price and unit cost per SKU x region that sold within the last 90 days.

    The current price is the list price of the latest sale day when the data carries list
    prices (a promotion's discount is not the regular price), else the median price paid over
    the region's last 14 sale days. The unit cost is the latest known, per region, else the
    SKU's latest anywhere.
    """
    frame = daily.copy()
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    end = pd.Timestamp(as_of)
    frame = frame[(frame["order_date"] < end) & (frame["units"] > 0)]
    recent = frame[frame["order_date"] >= end - pd.Timedelta(days=ACTIVE_WITHIN_DAYS)]
    recent = recent.sort_values(["sku_id", "region_code", "order_date"])
    grouped = recent.groupby(["sku_id", "region_code"], sort=True)
    last = grouped.tail(1).set_index(["sku_id", "region_code"])
    paid = grouped.tail(14).groupby(["sku_id", "region_code"])["avg_unit_price"].median()
    list_price = (
        last["avg_list_price"].astype(float)
        if "avg_list_price" in last.columns
        else pd.Series(np.nan, index=last.index)
    )
    price = list_price.where(list_price > 0, paid.reindex(last.index).astype(float))
    cost = (
        grouped["avg_unit_cost"].last().astype(float)
        if "avg_unit_cost" in recent.columns
        else pd.Series(np.nan, index=last.index)
    )
    sku_cost = (
        frame.dropna(subset=["avg_unit_cost"])
        .groupby("sku_id")["avg_unit_cost"]
        .last()
        .astype(float)
        if "avg_unit_cost" in frame.columns
        else pd.Series(dtype=float)
    )
    result = pd.DataFrame({"current_price": price, "unit_cost": cost}).reset_index()
    missing = result["unit_cost"].isna()
    result.loc[missing, "unit_cost"] = result.loc[missing, "sku_id"].map(sku_cost)
    return result


def horizon_demand(
    daily: pd.DataFrame,
    as_of: dt.date,
    horizon_days: int,
    forecast: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Expected units over the horizon at today's price, with a low and high, per SKU x region.

    1. From the demand forecast where it has SKU x region rows (sums of yhat and its bounds
       over the horizon: conservative, since daily bounds do not add up exactly).
    2. Else split the SKU's ``ALL`` forecast by each region's share of the last 8 weeks.
    3. Else the last 8 weeks' daily mean times the horizon, with an interval from the
       spread of weekly totals.
    """
    frame = daily.copy()
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    end = pd.Timestamp(as_of)
    recent = frame[
        (frame["order_date"] < end) & (frame["order_date"] >= end - pd.Timedelta(days=RECENT_DAYS))
    ]
    weeks = recent.assign(week=(end - recent["order_date"]).dt.days // 7)
    weekly = (
        weeks.groupby(["sku_id", "region_code", "week"])["units"]
        .sum()
        .unstack("week", fill_value=0.0)
        .reindex(columns=range(RECENT_DAYS // 7), fill_value=0.0)
    )
    mean_daily = weekly.mean(axis=1) / 7
    spread = weekly.std(axis=1, ddof=1).fillna(0.0) * np.sqrt(horizon_days / 7)
    fallback = pd.DataFrame(
        {
            "horizon_units": mean_daily * horizon_days,
            "horizon_units_low": (mean_daily * horizon_days - FALLBACK_Z * spread).clip(lower=0),
            "horizon_units_high": mean_daily * horizon_days + FALLBACK_Z * spread,
        }
    )
    if forecast is None or forecast.empty:
        return fallback.reset_index()
    ahead = forecast.copy()
    ahead["ds"] = pd.to_datetime(ahead["ds"])
    ahead = ahead[(ahead["ds"] >= end) & (ahead["ds"] < end + pd.Timedelta(days=horizon_days))]
    sums = ahead.groupby(["sku_id", "region_code"])[["yhat", "yhat_lower", "yhat_upper"]].sum()
    sums.columns = ["horizon_units", "horizon_units_low", "horizon_units_high"]
    sums = sums.clip(lower=0)
    regional = sums[sums.index.get_level_values("region_code") != "ALL"]
    national = sums[sums.index.get_level_values("region_code") == "ALL"].droplevel("region_code")
    share = mean_daily / mean_daily.groupby(level="sku_id").transform("sum").replace(0, np.nan)
    split = pd.DataFrame(index=fallback.index)
    sku_of = fallback.index.get_level_values("sku_id")
    for column in fallback.columns:
        split[column] = national[column].reindex(sku_of).to_numpy() * share.to_numpy()
    result = fallback.copy()
    for source in (split, regional.reindex(fallback.index)):
        usable = source.notna().all(axis=1)
        result.loc[usable] = source.loc[usable]
    return result.reset_index()


def stock_position(
    skus: pd.DataFrame,
    demand: pd.DataFrame,
    horizon_days: int,
    inventory: pd.DataFrame | None = None,
    restock: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Days of cover and expiring surplus per card-key SKU (other SKUs carry no stock).

    Days of cover comes from the restock plan when there is one, else the latest inventory
    day's keys on hand over the expected daily demand. A SKU has an expiring surplus when more
    keys expire within 7 days than it is expected to sell in 7 days; ``expiring_7d`` is how
    many keys expire within 7 days.
    """
    card_keys = skus.loc[skus["delivery_type"] == "card_key", "sku_id"]
    daily_demand = demand.groupby("sku_id")["horizon_units"].sum() / horizon_days
    result = pd.DataFrame(index=pd.Index(card_keys, name="sku_id"))
    result["days_of_cover"] = np.nan
    result["has_expiring_surplus"] = False
    result["expiring_7d"] = 0.0
    if inventory is not None and not inventory.empty:
        latest = (
            inventory.sort_values("inventory_date").groupby("sku_id").tail(1).set_index("sku_id")
        )
        latest = latest.reindex(result.index)
        per_day = daily_demand.reindex(result.index)
        on_hand = latest["on_hand"].astype(float)
        result["days_of_cover"] = np.where(per_day > 0, on_hand / per_day, np.inf)
        result.loc[on_hand.isna(), "days_of_cover"] = np.nan
        expiring = latest["expiring_7d"].astype(float).fillna(0.0)
        result["has_expiring_surplus"] = (expiring > per_day.fillna(0.0) * 7).to_numpy()
        result["expiring_7d"] = expiring.to_numpy()
    if restock is not None and not restock.empty and "days_of_cover" in restock.columns:
        planned = restock.groupby("sku_id")["days_of_cover"].min().astype(float)
        known = planned.reindex(result.index)
        result["days_of_cover"] = known.where(known.notna(), result["days_of_cover"])
    return result.reset_index()


def pricing_items(
    daily: pd.DataFrame,
    skus: pd.DataFrame,
    as_of: dt.date,
    horizon_days: int = DEFAULT_FORECAST.horizon_days,
    forecast: pd.DataFrame | None = None,
    inventory: pd.DataFrame | None = None,
    restock: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The frame ``recommend_prices`` takes: one row per active SKU x region that sold lately.

    National price: the SKU's current prices across regions, weighted by recent units.
    """
    prices = current_prices(daily, as_of)
    demand = horizon_demand(daily, as_of, horizon_days, forecast)
    items = prices.merge(demand, on=["sku_id", "region_code"], how="left")
    for column in ("horizon_units", "horizon_units_low", "horizon_units_high"):
        items[column] = items[column].fillna(0.0)
    info = skus.set_index("sku_id")
    # An inferred SKU (orders came before its master row) has no known state: not priced.
    active = info["active"].fillna(False).astype(bool) if "active" in info.columns else None
    if active is not None:
        items = items[items["sku_id"].map(active).fillna(False).astype(bool)]
    items["category"] = items["sku_id"].map(info["category"])
    items["face_value"] = items["sku_id"].map(info["face_value"]).astype(float)
    weight = items["horizon_units"].clip(lower=1e-6)
    weighted = (items["current_price"] * weight).groupby(items["sku_id"]).transform("sum")
    items["national_price"] = weighted / weight.groupby(items["sku_id"]).transform("sum")
    stock = stock_position(skus, demand, horizon_days, inventory, restock)
    items = items.merge(stock, on="sku_id", how="left")
    items["has_expiring_surplus"] = items["has_expiring_surplus"].astype("boolean").fillna(False)
    items["has_expiring_surplus"] = items["has_expiring_surplus"].astype(bool)
    # The SKU's expiring keys, shared out to its regions by their expected demand.
    demand_weight = items["horizon_units"].clip(lower=1e-6)
    share = demand_weight / demand_weight.groupby(items["sku_id"]).transform("sum")
    items["expiring_units"] = items["expiring_7d"].fillna(0.0).astype(float) * share
    return items.drop(columns="expiring_7d").reset_index(drop=True)
