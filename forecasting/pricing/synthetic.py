"""Small synthetic sales with known elasticities, for tests and quick experiments.

Demand per SKU x region x day: a level, a weekend lift, a holiday lift (mainland China public
holidays and the Double 11 run-up) and ``(price / usual price) ** elasticity``, with
negative-binomial noise, counted in orders; optionally a share of the orders are agents'
bulk orders of tens of keys (the price moves how many orders come, not their size). Prices
move through short random promotions and one list change per region; optionally a holiday
promotion that coincides with the holiday lift (the confounder a naive regression mistakes
for elasticity).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from forecasting.pricing.controls import _holiday_name


def synthetic_sales(
    elasticities: dict[str, float],
    regions: tuple[str, ...] = ("CN-GD", "CN-BJ", "CN-SH", "CN-ZJ"),
    days: int = 540,
    level: float = 6.0,
    start: dt.date = dt.date(2024, 6, 1),
    holiday_promotion: float = 0.3,
    random_promotions: int = 8,
    flat_price_skus: tuple[str, ...] = (),
    seed: int = 0,
    bulk_share: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[tuple[str, str], float], dt.date]:
    """(daily sales, skus, true elasticity per SKU x region, as_of).

    ``elasticities`` maps sku_id to its true elasticity (every region shares it, plus a
    small regional deviation); SKUs in ``flat_price_skus`` never change price. A share
    ``bulk_share`` of the orders are bulk orders of 20-80 keys, the rest of one key.
    """
    rng = np.random.default_rng(seed)
    calendar = pd.date_range(start, periods=days, freq="D")
    holiday = np.array([_holiday_name(d.date()) is not None for d in calendar])
    double_11 = (calendar.month == 11) & (calendar.day <= 11)
    lift = np.where(holiday, 2.5, 1.0) * np.where(double_11, 2.0, 1.0)
    lift = lift * np.where(calendar.weekday >= 5, 1.3, 1.0)
    rows, truth = [], {}
    for n, (sku_id, elasticity) in enumerate(sorted(elasticities.items())):
        usual = 20.0 + 5 * n
        for region in regions:
            true = elasticity + float(rng.normal(0, 0.05))
            truth[(sku_id, region)] = true
            relative = np.ones(days)
            if sku_id not in flat_price_skus:
                for _ in range(random_promotions):
                    first = int(rng.integers(0, days - 5))
                    relative[first : first + 5] *= 1 - rng.uniform(0.1, 0.25)
                relative[days // 2 :] *= 1 + rng.choice([-0.08, 0.06])
                relative[holiday | double_11] *= 1 - holiday_promotion
            mean = level * lift * relative**true
            orders = rng.negative_binomial(5, 5 / (5 + mean))
            bulk = rng.binomial(orders, bulk_share)
            units = orders - bulk + np.array([rng.integers(20, 81, k).sum() for k in bulk])
            price = np.round(usual * relative, 2)
            sold = units > 0
            rows.append(
                pd.DataFrame(
                    {
                        "sku_id": sku_id,
                        "region_code": region,
                        "order_date": calendar[sold].date,
                        "units": units[sold].astype(float),
                        "orders": orders[sold].astype(float),
                        "avg_unit_price": price[sold],
                        "avg_list_price": usual,
                        "avg_unit_cost": round(usual * 0.6, 2),
                    }
                )
            )
    daily = pd.concat(rows, ignore_index=True)
    skus = pd.DataFrame(
        {
            "sku_id": sorted(elasticities),
            "category": "game_card",
            "brand": "demo",
            "face_value": [30.0 + 5 * n for n in range(len(elasticities))],
            "delivery_type": "direct_topup",
            "active": True,
        }
    )
    as_of = (calendar[-1] + pd.Timedelta(days=1)).date()
    return daily, skus, truth, as_of
