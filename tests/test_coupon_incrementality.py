"""forecasting/coupons.py: incremental orders of a coupon against comparable days."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.coupons import CouponWindow, coupon_windows, estimate_incrementality

DAYS = pd.date_range("2026-01-01", periods=120)


def _platform(rng, uplifts: dict[str, tuple[int, float]]) -> tuple[pd.DataFrame, dict]:
    """Ten merchants over a platform with a weekly pattern and a holiday spike; some have a
    7-day coupon starting on the given day index with the given uplift. Returns the daily
    frame and the true incremental orders per coupon."""
    weekly = np.array([1.0, 0.9, 0.9, 1.0, 1.2, 1.5, 1.4])[DAYS.dayofweek]
    holiday = np.where((DAYS >= "2026-02-15") & (DAYS <= "2026-02-22"), 1.6, 1.0)
    rows, truth = [], {}
    for m in range(10):
        base = 20 + 8 * m
        expected = base * weekly * holiday
        orders = rng.poisson(expected)
        merchant = f"M{m}"
        if merchant in uplifts:
            start, uplift = uplifts[merchant]
            extra = rng.poisson(uplift * orders[start : start + 7])
            orders[start : start + 7] += extra
            truth[merchant] = int(extra.sum())
        rows += [(merchant, d, int(n)) for d, n in zip(DAYS, orders, strict=True)]
    return pd.DataFrame(rows, columns=["merchant_id", "order_date", "orders"]), truth


def test_estimate_recovers_the_uplift_through_weekdays_and_a_holiday():
    rng = np.random.default_rng(3)
    # M2's coupon runs over the holiday: the rest of the platform carries the spike.
    daily, truth = _platform(rng, {"M2": (45, 0.5), "M7": (80, 0.2)})
    windows = [
        CouponWindow("C2", "M2", DAYS[45], DAYS[51]),
        CouponWindow("C7", "M7", DAYS[80], DAYS[86]),
    ]
    result = estimate_incrementality(daily, windows).set_index("coupon_code")
    for code, merchant in (("C2", "M2"), ("C7", "M7")):
        row = result.loc[code]
        assert row.incremental_low <= truth[merchant] <= row.incremental_high, (row, truth)
        # The interval is informative: narrower than the true uplift of the larger coupon.
        assert row.incremental_high - row.incremental_low < truth["M2"]
    assert result.loc["C2", "coupon_days"] == 7
    assert result.loc["C2", "comparable_days"] == 56


def test_intervals_cover_the_truth_for_most_coupons():
    covered = 0
    runs = 60
    for seed in range(runs):
        rng = np.random.default_rng(100 + seed)
        start = int(rng.integers(30, 80))
        daily, truth = _platform(rng, {"M4": (start, float(rng.uniform(0.1, 0.6)))})
        [row] = estimate_incrementality(
            daily, [CouponWindow("C", "M4", DAYS[start], DAYS[start + 6])]
        ).itertuples()
        covered += row.incremental_low <= truth["M4"] <= row.incremental_high
    assert covered / runs >= 0.8


def test_without_enough_comparable_days_there_is_no_estimate():
    daily = pd.DataFrame(
        {"merchant_id": ["M1", "M2"] * 5, "order_date": np.repeat(DAYS[:5], 2), "orders": 10}
    )
    [row] = estimate_incrementality(daily, [CouponWindow("C", "M1", DAYS[1], DAYS[3])]).itertuples()
    assert np.isnan(row.incremental_orders) and row.observed_orders == 30


def test_coupon_windows_come_from_the_coupon_days():
    coupon_daily = pd.DataFrame(
        {
            "coupon_code": ["A", "A", "B"],
            "merchant_id": ["M1", "M1", "M2"],
            "order_date": pd.to_datetime(["2026-03-02", "2026-03-08", "2026-04-01"]),
        }
    )
    windows = coupon_windows(coupon_daily)
    assert windows[0] == CouponWindow(
        "A", "M1", pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-08")
    )
    assert len(windows) == 2


def test_a_higher_level_widens_the_interval():
    rng = np.random.default_rng(7)
    daily, _ = _platform(rng, {"M3": (50, 0.3)})
    window = [CouponWindow("C", "M3", DAYS[50], DAYS[56])]
    [narrow] = estimate_incrementality(daily, window, level=0.5).itertuples()
    [wide] = estimate_incrementality(daily, window, level=0.95).itertuples()
    assert narrow.incremental_orders == wide.incremental_orders
    assert wide.incremental_high - wide.incremental_low > 2 * (
        narrow.incremental_high - narrow.incremental_low
    )
