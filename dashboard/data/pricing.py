"""Queries of the pricing page and its what-if: recommendations, a SKU's recent daily units,
expected figures at a trial price and the guardrails' limits for a row (platform roles only)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from cardpulse.settings import DEFAULT_FORECAST
from dashboard.data.access import Scope, require_platform
from dashboard.data.snapshot import TRAILING_DAYS, has_rows, read_frame, sku_columns, table_columns
from forecasting.pricing import what_if_for_row
from forecasting.pricing.guardrails import PriceSituation, PricingConfig, price_bounds

# The pricing stage's default horizon: what the what-if divides a row's totals by when the
# row does not say (older snapshots).
HORIZON_DAYS = DEFAULT_FORECAST.horizon_days


def recommendations(conn, scope: Scope) -> pd.DataFrame:
    require_platform(scope)
    if not has_rows(conn, "analytics.price_recommendations"):
        return pd.DataFrame()
    sku_items, sku_join = sku_columns(conn, "analytics.price_recommendations")
    # Biggest gain in yuan first when the stage wrote it: a percentage of a near-zero profit
    # (a ¥0.03 margin) would put trivial rows on top.
    own = table_columns(conn, "analytics.price_recommendations")
    order = (
        "r.expected_profit_change"
        if "expected_profit_change" in own
        else ("r.expected_profit_change_pct")
    )
    return read_frame(
        conn,
        f"SELECT {sku_items}r.* FROM analytics.price_recommendations r {sku_join}"
        "WHERE r.as_of = (SELECT max(as_of) FROM analytics.price_recommendations) "
        f"ORDER BY {order} DESC NULLS LAST, r.sku_id, r.region_code",
    )


def baseline_units(conn, scope: Scope, sku_id: str, region_code: str) -> float:
    """Average daily units of one SKU (one region, or every region for ``ALL``), last 28 days."""
    require_platform(scope)
    if not has_rows(conn, "analytics.fct_daily_sku_sales"):
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


# The page's named queries, run through ``dashboard.data.queries.load``.
QUERIES = {
    "recommendations": recommendations,
    "baseline_units": baseline_units,
}
