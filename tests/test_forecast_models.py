"""Demand models, censoring, backtest selection, intervals and the fan-out."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from forecasting.demand import intervals, metrics
from forecasting.demand.backtest import fold_cutoffs
from forecasting.demand.fanout import chunked, fan_out
from forecasting.demand.models import Ets, ProphetModel, SeasonalNaive, fill_censored
from forecasting.demand.series import censor, sku_series
from forecasting.demand.series_forecast import ForecastSettings, SeriesTask, forecast_series

START = dt.date(2025, 1, 6)  # a Monday


def _history(y) -> pd.DataFrame:
    return pd.DataFrame({"ds": pd.date_range(START, periods=len(y)), "y": np.asarray(y, float)})


def test_stockout_days_are_censored_not_zero():
    sales = pd.DataFrame({
        "sku_id": ["A"] * 4 + ["B"],
        "region_code": ["CN-GD"] * 5,
        "ds": pd.to_datetime(
            ["2025-03-01", "2025-03-02", "2025-03-05", "2025-03-06", "2025-03-02"]
        ),
        "units": [5.0, 6.0, 4.0, 5.0, 1.0],
    })  # fmt: skip
    stockouts = pd.DataFrame({"sku_id": ["A"], "ds": pd.to_datetime(["2025-03-03"])})
    series = sku_series(sales, stockouts, dt.date(2025, 3, 6)).set_index(["sku_id", "ds"])["y"]
    assert np.isnan(series[("A", pd.Timestamp("2025-03-03"))])  # out of stock: unknown
    assert series[("A", pd.Timestamp("2025-03-04"))] == 0.0  # in stock, nothing sold: zero
    assert series[("B", pd.Timestamp("2025-03-03"))] == 0.0  # B was not out of stock
    assert series.loc["B"].index.min() == pd.Timestamp("2025-03-02")  # starts at first sale


def test_censoring_keeps_the_level_that_zeros_would_drag_down():
    rng = np.random.default_rng(1)
    y = rng.poisson(20, 70).astype(float)
    y[50:60] = np.nan  # a ten-day stockout
    censored = SeasonalNaive().fit(_history(y)).predict(7).mean()
    zeroed = Ets().fit(_history(np.nan_to_num(y))).predict(7).mean()
    kept = Ets().fit(_history(y)).predict(7).mean()
    assert abs(censored - 20) < 6 and abs(kept - 20) < 4
    assert kept > zeroed
    assert not np.isnan(fill_censored(y)).any()
    # Censored days are not scored.
    assert metrics.wape([10, np.nan, 10], [10, 0, 10]) == 0.0


def test_fold_cutoffs_cover_the_last_folds_without_overlap():
    assert fold_cutoffs(200, 28, 3) == [116, 144, 172]
    assert fold_cutoffs(80, 28, 3) == [52]  # only one fold keeps 28 training days
    assert fold_cutoffs(50, 28, 3) == []


def _task(y, **settings) -> SeriesTask:
    return SeriesTask(
        "S",
        "S",
        START,
        np.asarray(y, float),
        settings=ForecastSettings(horizon_days=14, **settings),
    )


def test_selection_picks_seasonal_naive_for_an_exact_weekly_pattern():
    week = np.array([1, 2, 3, 10, 3, 2, 1], float)
    result = forecast_series(_task(np.tile(week, 20), prophet_min_daily_units=1e9))
    assert result.selected == "seasonal_naive"
    assert result.scores.set_index("model").loc["seasonal_naive", "wape"] == 0.0
    np.testing.assert_allclose(result.forecast, np.tile(week, 2))


def test_selection_picks_a_level_model_over_seasonal_naive_for_flat_noise():
    rng = np.random.default_rng(3)
    result = forecast_series(_task(rng.poisson(50, 200), prophet_min_daily_units=1e9))
    scores = result.scores.set_index("model")
    assert result.selected != "seasonal_naive"
    assert scores.loc[result.selected, "wape"] < scores.loc["seasonal_naive", "wape"]
    assert set(scores.index) >= {"recent_mean", "seasonal_naive", "ets", "auto_theta", "auto_ces"}


def test_short_and_empty_histories_fall_back_without_crashing():
    short = forecast_series(_task([3, 4, 5, 4, 3]))
    assert short.reason == "short_history" and short.selected == "recent_mean"
    np.testing.assert_allclose(short.forecast, np.full(14, 3.8))
    empty = forecast_series(_task([np.nan, np.nan]))
    assert empty.reason == "no_history" and (empty.forecast == 0).all()


def test_prophet_recovers_a_weekly_pattern():
    rng = np.random.default_rng(7)
    weekly = np.array([0.6, 0.7, 0.8, 1.0, 1.2, 1.6, 1.5])
    n = 140
    y = rng.poisson(40 * weekly[np.arange(n) % 7])
    forecast = ProphetModel().fit(_history(y)).predict(14)
    shape = forecast[:7] / forecast[:7].mean()
    expected = np.roll(weekly, -(n % 7)) / weekly.mean()
    np.testing.assert_allclose(shape, expected, atol=0.12)
    assert int(np.argmax(forecast[:7])) == (5 - n % 7) % 7  # Saturday peaks


def test_prophet_learns_a_holiday_lift_from_past_occurrences():
    from forecasting.trading_calendar import prophet_holidays

    days = pd.date_range("2023-01-01", "2025-09-30")
    hols = prophet_holidays(dt.date(2023, 1, 1), dt.date(2025, 10, 31))
    national = set(hols.loc[hols["holiday"] == "national_day", "ds"])
    rng = np.random.default_rng(11)
    y = rng.poisson(np.where(days.isin(list(national)), 60, 20)).astype(float)
    model = ProphetModel(hols).fit(pd.DataFrame({"ds": days, "y": y}))
    forecast = model.predict(31)
    assert forecast[:7].mean() > 2 * forecast[10:].mean()  # 1-7 Oct 2025 lifted


def test_calibrated_intervals_cover_what_they_promise():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"uid": np.repeat(["a", "b"], 600), "yhat": np.repeat([10.0, 100.0], 600)})
    frame["y"] = rng.poisson(frame["yhat"]).astype(float)
    frame["fold"] = np.tile(np.repeat([0, 1, 2], 200), 2)
    coverage = intervals.leave_one_fold_out_coverage(frame, ["uid"])
    assert coverage["coverage_80"].between(0.75, 0.87).all()
    assert coverage["coverage_95"].between(0.91, 0.99).all()
    quantiles = intervals.error_quantiles(frame, ["uid"])
    applied = intervals.apply_intervals(frame.head(1), quantiles, ["uid"])
    assert applied["yhat_lower_80"].iloc[0] < 10 < applied["yhat_upper_80"].iloc[0]
    assert applied["yhat_upper_95"].iloc[0] > applied["yhat_upper_80"].iloc[0]


def _square(x: int) -> int:
    return x * x


@pytest.mark.parametrize("workers", [1, 2])
def test_fan_out_keeps_order_and_reports_progress(workers):
    seen = []
    result = fan_out(
        _square,
        list(range(10)),
        workers=workers,
        chunk_size=3,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert result == [x * x for x in range(10)]
    assert seen == [(3, 10), (6, 10), (9, 10), (10, 10)]
    assert chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


def test_censor_leaves_other_skus_alone():
    series = pd.DataFrame(
        {"sku_id": ["A", "B"], "ds": pd.to_datetime(["2025-01-01"] * 2), "y": [1.0, 2.0]}
    )
    out = censor(series, pd.DataFrame({"sku_id": ["A"], "ds": pd.to_datetime(["2025-01-01"])}))
    assert np.isnan(out.loc[0, "y"]) and out.loc[1, "y"] == 2.0


def test_fast_point_forecast_equals_prophets_own_predict():
    from forecasting.trading_calendar import prophet_holidays

    days = pd.date_range("2024-06-01", "2025-09-30")
    rng = np.random.default_rng(2)
    y = rng.poisson(15 + 4 * np.sin(np.arange(len(days)) / 5)).astype(float)
    model = ProphetModel(prophet_holidays(dt.date(2024, 6, 1), dt.date(2025, 10, 31)))
    model.fit(pd.DataFrame({"ds": days, "y": y}))
    future = pd.DataFrame({"ds": pd.date_range("2025-10-01", periods=28)})
    slow = model._model.predict(model._with_effects(future))["yhat"].to_numpy()
    np.testing.assert_allclose(model.predict(28), np.clip(slow, 0, None), rtol=1e-10)


def test_median_forecast_is_low_on_a_sparse_series_and_near_the_mean_on_a_busy_one():
    rng = np.random.default_rng(8)
    means = np.repeat([0.3, 100.0], 600)  # a seller of 0.3 units a day, and one of 100
    frame = pd.DataFrame({"uid": np.repeat(["sparse", "busy"], 600), "yhat": means})
    frame["y"] = rng.poisson(means).astype(float)
    quantiles = intervals.error_quantiles(frame, ["uid"])
    ahead = pd.DataFrame({"uid": ["sparse", "busy", "sparse"], "yhat": [0.3, 100.0, 0.0]})
    applied = intervals.apply_intervals(ahead, quantiles, ["uid"]).set_index("yhat")
    # P(y = 0) = 74% at a mean of 0.3: the median is 0, and so is the median forecast.
    assert applied.loc[0.3, "yhat_median"] < 0.05
    assert abs(applied.loc[100.0, "yhat_median"] - 100.0) <= 1.0
    assert applied.loc[0.0, "yhat_median"] == 0.0  # nothing expected: nothing in the middle
    # On fresh days of the sparse series the median has the lower absolute error.
    fresh = rng.poisson(0.3, 5000).astype(float)
    assert np.abs(fresh - applied.loc[0.3, "yhat_median"]).sum() < np.abs(fresh - 0.3).sum()
