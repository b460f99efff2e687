"""What-if: expected units, revenue and gross profit over the horizon at a proposed price.

The dashboard calls :func:`what_if_for_row` with a row of ``analytics.price_recommendations``.
Intervals combine the demand forecast's interval (units at the current price) with the
elasticity's interval: the low end takes the low forecast and whichever end of the elasticity
interval gives fewer units at that price, the high end the opposite. Units (and their bounds)
never rise with the price, since elasticities are capped at 0. Keys about to expire that the
price leaves unsold within the expiry window are written off at cost, as in the
recommendation's objective (``recommend.expected_profit``), so the what-if at the recommended
price shows the profit the recommendation promised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cardpulse.settings import DEFAULT_FORECAST
from forecasting.pricing.recommend import EXPIRY_WINDOW_DAYS

HORIZON = float(DEFAULT_FORECAST.horizon_days)  # a row that does not say its horizon


@dataclass(frozen=True)
class WhatIf:
    """Expected outcome over the horizon at one price, with interval bounds."""

    price: float
    units: float
    units_low: float
    units_high: float
    revenue: float
    revenue_low: float
    revenue_high: float
    profit: float
    profit_low: float
    profit_high: float


def what_if(
    proposed_price: float,
    *,
    current_price: float,
    unit_cost: float,
    horizon_units: float,
    horizon_units_low: float,
    horizon_units_high: float,
    elasticity: float,
    elasticity_low: float,
    elasticity_high: float,
    expiring_units: float = 0.0,
    expiry_window_share: float = 0.0,
) -> WhatIf:
    """Expected units, revenue and profit at ``proposed_price``.

    1. Units at the current price come from the forecast (central, low, high).
    2. Scale by (proposed / current) ^ elasticity: the central elasticity for the central
       figure; for the bounds, whichever end of the elasticity interval is worse (or better).
    3. Revenue is price x units; profit is (price - unit cost) x units, less the cost of the
       ``expiring_units`` not sold within the window (``expiry_window_share`` of the horizon's
       units), with its bounds ordered correctly when the price is below cost.
    """
    if proposed_price <= 0 or current_price <= 0:
        raise ValueError("prices must be positive")
    ratio = proposed_price / current_price
    slopes = [min(e, 0.0) for e in (elasticity_low, elasticity_high)]
    factors = [ratio**e for e in slopes]
    units = max(horizon_units, 0.0) * ratio ** min(elasticity, 0.0)
    units_low = max(horizon_units_low, 0.0) * min(factors)
    units_high = max(horizon_units_high, 0.0) * max(factors)
    units_low, units_high = min(units_low, units), max(units_high, units)
    margin = proposed_price - unit_cost

    def profit(sold: float) -> float:
        written_off = max(0.0, expiring_units - sold * expiry_window_share)
        return margin * sold - unit_cost * written_off

    profits = (profit(units_low), profit(units_high))
    return WhatIf(
        price=proposed_price,
        units=units,
        units_low=units_low,
        units_high=units_high,
        revenue=proposed_price * units,
        revenue_low=proposed_price * units_low,
        revenue_high=proposed_price * units_high,
        profit=profit(units),
        profit_low=min(profits),
        profit_high=max(profits),
    )


def what_if_for_row(row: Mapping, proposed_price: float) -> WhatIf:
    """:func:`what_if` for one ``analytics.price_recommendations`` row (a dict or Series).

    A row without a measured elasticity (a price test row) is treated as elasticity 0 with
    the catalogue-wide interval it carries, so the figures still show the forecast.
    """
    elasticity = _number(row["elasticity"], 0.0)
    return what_if(
        proposed_price,
        current_price=float(row["current_price"]),
        unit_cost=float(row["unit_cost"]),
        horizon_units=float(row["horizon_units"]),
        horizon_units_low=float(row["horizon_units_low"]),
        horizon_units_high=float(row["horizon_units_high"]),
        elasticity=elasticity,
        elasticity_low=_number(row["elasticity_low"], elasticity),
        elasticity_high=_number(row["elasticity_high"], elasticity),
        expiring_units=max(_number(row.get("expiring_units"), 0.0), 0.0),
        expiry_window_share=min(
            EXPIRY_WINDOW_DAYS / _number(row.get("horizon_days"), HORIZON), 1.0
        ),
    )


def _number(value, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return default if number != number else number
