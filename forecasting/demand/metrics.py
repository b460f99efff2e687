"""Forecast accuracy measures. Days with unknown demand (NaN actuals: censored) are skipped.

- WAPE = sum |actual - forecast| / sum actual (NaN when nothing sold);
- MASE = mean |actual - forecast| / mean |y_t - y_{t-7}| of the training history (the
  in-sample weekly seasonal naive error; NaN when that is zero);
- bias = sum (forecast - actual) / sum actual (positive = over-forecast);
- coverage = share of days with lower <= actual <= upper.
"""

from __future__ import annotations

import numpy as np

SEASON_DAYS = 7


def _observed(actual, *others):
    actual = np.asarray(actual, dtype=float)
    keep = np.isfinite(actual)
    return (actual[keep],) + tuple(np.asarray(o, dtype=float)[keep] for o in others)


def wape(actual, forecast) -> float:
    actual, forecast = _observed(actual, forecast)
    total = actual.sum()
    return float(np.abs(actual - forecast).sum() / total) if total > 0 else float("nan")


def bias(actual, forecast) -> float:
    actual, forecast = _observed(actual, forecast)
    total = actual.sum()
    return float((forecast - actual).sum() / total) if total > 0 else float("nan")


def seasonal_naive_scale(history) -> float:
    """Mean |y_t - y_{t-7}| over the history's observed pairs: MASE's denominator."""
    y = np.asarray(history, dtype=float)
    if len(y) <= SEASON_DAYS:
        return float("nan")
    diffs = np.abs(y[SEASON_DAYS:] - y[:-SEASON_DAYS])
    diffs = diffs[np.isfinite(diffs)]
    scale = diffs.mean() if len(diffs) else float("nan")
    return float(scale) if scale > 0 else float("nan")


def mase(actual, forecast, scale: float) -> float:
    actual, forecast = _observed(actual, forecast)
    if not len(actual) or not np.isfinite(scale) or scale <= 0:
        return float("nan")
    return float(np.abs(actual - forecast).mean() / scale)


def coverage(actual, lower, upper) -> float:
    actual, lower, upper = _observed(actual, lower, upper)
    if not len(actual):
        return float("nan")
    return float(((actual >= lower) & (actual <= upper)).mean())
