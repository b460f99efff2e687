"""Prediction intervals from backtest errors (split-conformal style), the same for every model.

A model's own interval assumes its own error model (Gaussian for ETS, Prophet's trend
simulation); over-dispersed daily counts break both. Instead each series keeps the errors
its selected model made in the backtest, scaled by the forecast's size so a festival day's
interval widens with its forecast: ``e = (y - yhat) / (yhat + 1) ** power``. The interval at
level L is ``yhat + q * (yhat + 1) ** power`` for the (1-L)/2 and (1+L)/2 quantiles q of e,
floored at zero. Series with too few errors use the errors of all series pooled.

Coverage is measured honestly: each backtest fold is scored with intervals calibrated on the
other folds only (leave one fold out). Quantiles of a few dozen errors understate the tails,
so the quantile level actually used for a nominal level L is moved (``effective``: raised, or
lowered where outward quantiles of lumpy counts over-cover) to the smallest whose pooled
leave-one-fold-out coverage over the series is nearest L. The stage does this per demand class.

The same errors give a median forecast, ``yhat_median = yhat + q50 * (yhat + 1) ** power``:
the point forecast that absolute error (WAPE) is smallest for. On a sparse series most days
sell nothing, so its median is at or near zero while its mean (``yhat``) is not; sums over
days (restock, pricing) need the mean. The stage replaces it for intermittent and lumpy SKUs
with the median of a count around ``yhat`` (``median.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

DEFAULT_LEVELS = (80, 95)
DEFAULT_POWER = 0.5
MIN_ERRORS = 20
MEDIAN_COLUMN = "q_median"


def _scale(yhat, power: float) -> np.ndarray:
    return (np.clip(np.asarray(yhat, dtype=float), 0.0, None) + 1.0) ** power


def _quantile_columns(level: int) -> tuple[str, str]:
    return f"q_lower_{level}", f"q_upper_{level}"


def _probabilities(level: int, effective: dict[int, float] | None) -> tuple[float, float]:
    used = (effective or {}).get(level, level)
    return (1 - used / 100) / 2, (1 + used / 100) / 2


def error_quantiles(
    errors: pd.DataFrame,
    keys: Sequence[str],
    levels: Sequence[int] = DEFAULT_LEVELS,
    power: float = DEFAULT_POWER,
    min_errors: int = MIN_ERRORS,
    effective: dict[int, float] | None = None,
) -> pd.DataFrame:
    """Per group of ``keys``, the lower and upper quantiles of the scaled errors.

    1. Scaled error of every observed backtest day (``y``, ``yhat`` columns);
    2. per group, the quantiles for each level; 3. groups with fewer than ``min_errors``
       errors take the pooled quantiles. Columns: keys, ``errors``, ``q_lower_<L>``,
       ``q_upper_<L>``, ``q_median`` (the errors' median, for ``yhat_median``).
    """
    keys = list(keys)
    errors = errors if len(errors) else pd.DataFrame(columns=keys + ["y", "yhat"], dtype=float)
    observed = errors[np.isfinite(errors["y"].to_numpy(dtype=float))]
    scaled = observed[keys].copy()
    scaled["e"] = (observed["y"].to_numpy(float) - observed["yhat"].to_numpy(float)) / _scale(
        observed["yhat"], power
    )
    grouped = scaled.groupby(keys, sort=True)["e"]
    table = grouped.size().rename("errors").to_frame()
    pooled, columns = {}, {}
    for level in levels:
        lo, hi = _probabilities(level, effective)
        lower_col, upper_col = _quantile_columns(level)
        # Outward quantiles (no interpolation inwards): counts are lumpy, and an interval
        # edge between two observed errors would cut off days it should hold.
        columns[lower_col] = grouped.quantile(lo, interpolation="lower")
        columns[upper_col] = grouped.quantile(hi, interpolation="higher")
        e = scaled["e"].to_numpy()
        # With no backtest at all (every series new), Poisson-like: sd = sqrt(yhat + 1).
        pooled[lower_col] = (
            float(np.quantile(e, lo, method="lower")) if len(e) else NormalDist().inv_cdf(lo)
        )
        pooled[upper_col] = (
            float(np.quantile(e, hi, method="higher")) if len(e) else NormalDist().inv_cdf(hi)
        )
    columns[MEDIAN_COLUMN] = grouped.median()
    e = scaled["e"].to_numpy()
    pooled[MEDIAN_COLUMN] = float(np.median(e)) if len(e) else 0.0
    table = pd.concat([table, pd.DataFrame(columns, index=table.index)], axis=1)
    thin = table["errors"] < min_errors
    for column, value in pooled.items():
        table.loc[thin, column] = value
    table.attrs["pooled"] = pooled
    return table.reset_index()


def apply_intervals(
    forecast: pd.DataFrame,
    quantiles: pd.DataFrame,
    keys: Sequence[str],
    levels: Sequence[int] = DEFAULT_LEVELS,
    power: float = DEFAULT_POWER,
) -> pd.DataFrame:
    """``forecast`` (keys, ``yhat``) with ``yhat_lower_<L>`` and ``yhat_upper_<L>`` per level,
    and ``yhat_median`` (zero where ``yhat`` is: nothing expected, nothing in the middle).

    Series without calibration errors (new SKUs) take the pooled quantiles.
    """
    keys = list(keys)
    pooled = quantiles.attrs.get("pooled", {})
    columns = [c for level in levels for c in _quantile_columns(level)]
    columns += [MEDIAN_COLUMN] if MEDIAN_COLUMN in quantiles.columns else []
    merged = forecast.merge(quantiles[keys + columns], on=keys, how="left")
    scale = _scale(merged["yhat"], power)
    yhat = merged["yhat"].to_numpy(dtype=float)
    edges = {}  # built apart and joined once: many levels are judged at a time
    if MEDIAN_COLUMN in merged.columns:
        q_median = merged[MEDIAN_COLUMN].fillna(pooled.get(MEDIAN_COLUMN, 0.0)).to_numpy(float)
        edges["yhat_median"] = np.where(yhat > 0, np.clip(yhat + q_median * scale, 0.0, None), 0.0)
    for level in levels:
        lower_col, upper_col = _quantile_columns(level)
        q_lower = merged[lower_col].fillna(pooled.get(lower_col, 0.0)).to_numpy(float)
        q_upper = merged[upper_col].fillna(pooled.get(upper_col, 0.0)).to_numpy(float)
        # Demand is counted in whole units: a lower edge of 0.3 would leave out every
        # zero-sale day of a slow seller while meaning "at least 1"; round it down.
        lower = np.floor(np.clip(yhat + np.minimum(q_lower, 0.0) * scale, 0.0, None) + 1e-9)
        upper = np.maximum(yhat + np.maximum(q_upper, 0.0) * scale, lower)
        edges[f"yhat_lower_{level}"] = lower
        edges[f"yhat_upper_{level}"] = upper
    edges = pd.DataFrame(edges, index=merged.index)
    return pd.concat([merged.drop(columns=columns), edges], axis=1)


def _judged_folds(folds, keys, levels, power, min_errors, effective) -> pd.DataFrame:
    """Every observed backtest day with its interval from the other folds' errors and
    ``inside_<L>`` flags."""
    parts = []
    for fold in sorted(folds["fold"].unique()):
        calibration = folds[folds["fold"] != fold]
        scored = folds[folds["fold"] == fold]
        if calibration.empty:
            continue
        quantiles = error_quantiles(calibration, keys, levels, power, min_errors, effective)
        # Groups never seen in the other folds have nothing honest to be judged by.
        scored = scored.merge(quantiles[keys], on=keys, how="inner")
        parts.append(apply_intervals(scored, quantiles, keys, levels, power))
    if not parts:
        return pd.DataFrame(columns=keys + [f"inside_{level}" for level in levels])
    judged = pd.concat(parts, ignore_index=True)
    judged = judged[np.isfinite(judged["y"].to_numpy(dtype=float))]
    inside = {
        f"inside_{level}": (
            (judged["y"] >= judged[f"yhat_lower_{level}"])
            & (judged["y"] <= judged[f"yhat_upper_{level}"])
        ).astype(float)
        for level in levels
    }
    return pd.concat([judged, pd.DataFrame(inside, index=judged.index)], axis=1)


def leave_one_fold_out_coverage(
    folds: pd.DataFrame,
    keys: Sequence[str],
    levels: Sequence[int] = DEFAULT_LEVELS,
    power: float = DEFAULT_POWER,
    min_errors: int = MIN_ERRORS,
    effective: dict[int, float] | None = None,
) -> pd.DataFrame:
    """Per group of ``keys``, the share of observed backtest days inside the interval at each
    level, every fold judged by intervals calibrated on the other folds.

    Columns: keys, ``coverage_<L>``. Groups with a single fold have no row.
    """
    keys = list(keys)
    judged = _judged_folds(folds, keys, levels, power, min_errors, effective)
    columns = [f"coverage_{level}" for level in levels]
    if judged.empty:
        return pd.DataFrame(columns=keys + columns)
    judged = judged.rename(columns={f"inside_{lv}": f"coverage_{lv}" for lv in levels})
    return judged.groupby(keys, sort=True)[columns].mean().reset_index()


def effective_levels(
    folds: pd.DataFrame,
    keys: Sequence[str],
    levels: Sequence[int] = DEFAULT_LEVELS,
    power: float = DEFAULT_POWER,
    min_errors: int = MIN_ERRORS,
    max_raise: int = 4,
    max_lower: int = 30,
) -> dict[int, float]:
    """Per nominal level, the quantile level (nominal - ``max_lower`` .. nominal +
    ``max_raise`` in whole points, at most 99) whose pooled leave-one-fold-out coverage is
    nearest the nominal level (on a tie, the one covering more). Lowering matters as much as
    raising: outward quantiles of lumpy counts cover more than asked. Nearest rather than
    "the smallest reaching it": whole-unit counts make coverage jump between neighbouring
    levels (a small class went from below 95% straight to 97.9%), and the target is a band
    around the nominal level. All candidates are judged in one pass."""
    keys = list(keys)
    tried = {
        level: list(range(max(level - max_lower, 1), min(level + max_raise, 99) + 1))
        for level in levels
    }
    candidates = sorted({used for options in tried.values() for used in options})
    judged = _judged_folds(folds, keys, candidates, power, min_errors, None)
    chosen: dict[int, float] = {}
    for level, options in tried.items():
        if judged.empty:
            chosen[level] = float(level)
            continue
        covered = {used: judged[f"inside_{used}"].mean() for used in options}
        best = min(options, key=lambda used: (abs(covered[used] - level / 100), -covered[used]))
        chosen[level] = float(best)
    return chosen
