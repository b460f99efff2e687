"""Coupon incrementality: how many of a coupon's orders would not have happened without it.

Orders with a coupon overstate what it brought: some buyers would have bought anyway
(cannibalisation). The estimate compares the merchant's orders on the coupon's days with what
comparable days predict:

1. comparable days: the ``window_days`` before and after the coupon, without any coupon of the
   merchant;
2. on those days the merchant's demand orders are a stable share of the rest of the platform's
   (the rest carries the weekday, holidays, promotions and trend the merchant shares);
3. baseline = that share x the rest's orders on the coupon days; incremental orders =
   observed - baseline;
4. interval: residual spread on comparable days, for the coupon's days and for the share's own
   uncertainty, with Student's t (``level`` two-sided).

Plain pandas/numpy over a long frame (merchant_id, order_date, orders); no Dagster or Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

WINDOW_DAYS = 28
LEVEL = 0.9
MIN_COMPARABLE_DAYS = 10


@dataclass(frozen=True)
class CouponWindow:
    coupon_code: str
    merchant_id: str
    start_date: pd.Timestamp
    end_date: pd.Timestamp


def coupon_windows(coupon_daily: pd.DataFrame) -> list[CouponWindow]:
    """Each coupon's first and last day with orders, per merchant (fct_coupon_daily rows)."""
    spans = coupon_daily.groupby(["coupon_code", "merchant_id"])["order_date"].agg(["min", "max"])
    return [
        CouponWindow(code, merchant, pd.Timestamp(first), pd.Timestamp(last))
        for (code, merchant), (first, last) in spans.iterrows()
    ]


def estimate_incrementality(
    merchant_daily: pd.DataFrame,
    windows: list[CouponWindow],
    window_days: int = WINDOW_DAYS,
    level: float = LEVEL,
) -> pd.DataFrame:
    """One row per coupon: observed, baseline, incremental_orders with its interval.

    ``merchant_daily``: merchant_id, order_date, orders (demand orders per merchant and day,
    every merchant). A coupon with fewer than ``MIN_COMPARABLE_DAYS`` comparable days gets
    NaN (not enough history to say).
    """
    daily = merchant_daily.assign(order_date=pd.to_datetime(merchant_daily["order_date"]))
    wide = daily.pivot_table(
        index="order_date", columns="merchant_id", values="orders", aggfunc="sum", fill_value=0
    )
    wide = wide.reindex(pd.date_range(wide.index.min(), wide.index.max()), fill_value=0)
    platform = wide.sum(axis=1)
    busy: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]] = {}
    for w in windows:
        busy.setdefault(w.merchant_id, []).append((w.start_date, w.end_date))
    rows = []
    for w in windows:
        rows.append(_estimate_one(w, wide, platform, busy[w.merchant_id], window_days, level))
    return pd.DataFrame(rows)


def _estimate_one(w: CouponWindow, wide, platform, busy, window_days: int, level: float) -> dict:
    days = wide.index
    own = wide[w.merchant_id] if w.merchant_id in wide else pd.Series(0, index=days)
    rest = platform - own
    in_coupon = (days >= w.start_date) & (days <= w.end_date)
    near = (days >= w.start_date - pd.Timedelta(days=window_days)) & (
        days <= w.end_date + pd.Timedelta(days=window_days)
    )
    comparable = near.copy()
    for start, end in busy:
        comparable &= ~((days >= start) & (days <= end))
    result = {
        "coupon_code": w.coupon_code,
        "merchant_id": w.merchant_id,
        "start_date": w.start_date.date(),
        "end_date": w.end_date.date(),
        "coupon_days": int(in_coupon.sum()),
        "comparable_days": int(comparable.sum()),
        "observed_orders": int(own[in_coupon].sum()),
    }
    n_c = int(comparable.sum())
    if n_c < MIN_COMPARABLE_DAYS or rest[comparable].sum() <= 0:
        return {
            **result,
            "baseline_orders": np.nan,
            "incremental_orders": np.nan,
            "incremental_low": np.nan,
            "incremental_high": np.nan,
        }
    share = own[comparable].sum() / rest[comparable].sum()
    residual = own[comparable] - share * rest[comparable]
    spread = residual.var(ddof=1)
    rest_coupon = rest[in_coupon].sum()
    n_w = int(in_coupon.sum())
    variance = n_w * spread + rest_coupon**2 * n_c * spread / rest[comparable].sum() ** 2
    half = stats.t.ppf(0.5 + level / 2, n_c - 1) * np.sqrt(variance)
    baseline = share * rest_coupon
    incremental = result["observed_orders"] - baseline
    return {
        **result,
        "baseline_orders": baseline,
        "incremental_orders": incremental,
        "incremental_low": incremental - half,
        "incremental_high": incremental + half,
    }
