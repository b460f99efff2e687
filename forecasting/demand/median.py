"""The median forecast of a sparse SKU: the median of a count with the forecast as its mean.

``intervals.py`` gives every series ``yhat_median = yhat + q50 * sqrt(yhat + 1)``, one shift
of the forecast by the median of its scaled backtest errors. On an intermittent or lumpy
series that shift carries the selected model's backtest bias as well as the skew of the
counts: where the model was low in the backtest folds the shift is upward, even when the
final forecast is already high (seed 1's IQIYI-Y: a median of 3.0 a day above a mean of
2.9, the true median near 1). For those classes the median is instead read off a negative
binomial count whose mean is ``yhat`` and whose dispersion is measured on the selected
model's backtest errors (method of moments, ``Var(y - yhat) = yhat + a * yhat**2``): the
bias stays with the mean model and only the shape of the counts moves the median.

The dispersion is the series' own or its class's pooled one, whichever has the lower
absolute error on held-back folds (``choose_dispersion``: each backtest fold is judged
with a dispersion measured on the other folds only), per class; a class of fewer than
``MIN_CLASS_SERIES`` series decides together with its nearest class, as the interval levels
do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

SPARSE_CLASSES = ("intermittent", "lumpy")
DISPERSION_RULES = ("series", "class")  # tie-break order
MIN_ERRORS = 20  # below this many observed backtest days a series takes its class's dispersion


def dispersion(y, yhat) -> float:
    """Negative binomial dispersion ``a`` (variance = mean + a * mean**2) of counts ``y``
    around forecasts ``yhat``, by the method of moments; 0 (Poisson) when the counts vary no
    more than a Poisson's, NaN when nothing was forecast."""
    y, yhat = np.asarray(y, dtype=float), np.clip(np.asarray(yhat, dtype=float), 0.0, None)
    observed = np.isfinite(y)
    y, yhat = y[observed], yhat[observed]
    denominator = float(np.sum(yhat**2))
    if denominator <= 0:
        return float("nan")
    return max(0.0, float(np.sum((y - yhat) ** 2) - np.sum(yhat)) / denominator)


def count_median(mean, a: float) -> np.ndarray:
    """Median of a negative binomial count with ``mean`` and dispersion ``a`` (Poisson at
    ``a`` = 0); 0 where the mean is 0."""
    mean = np.clip(np.asarray(mean, dtype=float), 0.0, None)
    positive = mean > 0
    safe = np.where(positive, mean, 1.0)
    if not np.isfinite(a) or a <= 1e-9:
        middle = stats.poisson.ppf(0.5, safe)
    else:
        size = 1.0 / a
        middle = stats.nbinom.ppf(0.5, size, size / (size + safe))
    return np.where(positive, middle, 0.0)


def _dispersions(errors: pd.DataFrame, keys: list[str]) -> tuple[pd.Series, float]:
    """Per series (rows of ``keys``) its own dispersion, NaN with too few observed days; and
    the pooled one of all the rows."""
    observed = errors[np.isfinite(errors["y"].to_numpy(dtype=float))]
    own = observed.groupby(keys, sort=True).apply(
        lambda rows: dispersion(rows["y"], rows["yhat"]) if len(rows) >= MIN_ERRORS else np.nan,
        include_groups=False,
    )
    return own, dispersion(observed["y"], observed["yhat"])


def _per_row(frame: pd.DataFrame, keys: list[str], own: pd.Series, pooled: float, rule: str):
    if rule == "class" or own.empty:
        return np.full(len(frame), pooled)
    index = pd.MultiIndex.from_frame(frame[keys]) if len(keys) > 1 else frame[keys[0]]
    values = own.reindex(index).to_numpy(dtype=float)
    return np.where(np.isfinite(values), values, pooled)


def _medians(frame: pd.DataFrame, a: np.ndarray) -> np.ndarray:
    """``count_median`` row by row, with each row's dispersion (few distinct values)."""
    mean = frame["yhat"].to_numpy(dtype=float)
    out = np.zeros(len(frame))
    for value in np.unique(a):
        rows = a == value if np.isfinite(value) else ~np.isfinite(a)
        out[rows] = count_median(mean[rows], value)
    return out


def held_back_errors(errors: pd.DataFrame, keys: Sequence[str]) -> dict[str, float]:
    """Per rule, the absolute error of the count median on every backtest fold, judged with
    dispersions measured on the other folds only (folds told apart by ``cutoff``)."""
    keys = list(keys)
    observed = errors[np.isfinite(errors["y"].to_numpy(dtype=float))]
    totals = dict.fromkeys(DISPERSION_RULES, 0.0)
    for cutoff in sorted(observed["cutoff"].unique()):
        scored = observed[observed["cutoff"] == cutoff]
        own, pooled = _dispersions(observed[observed["cutoff"] != cutoff], keys)
        if not np.isfinite(pooled):
            continue
        for rule in DISPERSION_RULES:
            middle = _medians(scored, _per_row(scored, keys, own, pooled, rule))
            totals[rule] += float(np.abs(scored["y"].to_numpy(float) - middle).sum())
    return totals


def choose_dispersion(errors: pd.DataFrame, keys: Sequence[str]) -> str:
    """The rule (``series`` or ``class``) with the lower held-back error; the first on a
    tie within 0.1%."""
    totals = held_back_errors(errors, keys)
    best = min(totals.values())
    return next(r for r in DISPERSION_RULES if totals[r] <= best * 1.001 + 1e-12)


def with_count_medians(
    frame: pd.DataFrame,
    errors: pd.DataFrame,
    keys: Sequence[str],
    groups: dict[str, list[str]],
) -> tuple[pd.DataFrame, dict[str, str]]:
    """``frame`` (keys, ``demand_class``, ``yhat``, ``yhat_median``, ``yhat_lower_95``,
    ``yhat_upper_95``) with ``yhat_median`` of its sparse-class rows replaced by the count
    median; the median stays inside the 95% interval. ``errors``: the selected models'
    backtest rows (keys, ``cutoff``, ``y``, ``yhat``, ``demand_class``); ``groups``: per sparse
    class, the classes whose errors it decides on (itself, or with its nearest class when
    small). Returns the frame and the dispersion rule used per class."""
    keys = list(keys)
    frame = frame.copy()
    rules: dict[str, str] = {}
    for cls in SPARSE_CLASSES:
        rows = (frame["demand_class"] == cls).to_numpy()
        pool = errors[errors["demand_class"].isin(groups.get(cls, [cls]))]
        if not rows.any() or pool.empty or pool["cutoff"].nunique() < 2:
            continue
        rule = choose_dispersion(pool, keys)
        own, pooled = _dispersions(pool, keys)
        if not np.isfinite(pooled):
            continue
        part = frame.loc[rows]
        middle = _medians(part, _per_row(part, keys, own, pooled, rule))
        middle = np.clip(middle, part["yhat_lower_95"].to_numpy(), part["yhat_upper_95"].to_numpy())
        frame.loc[rows, "yhat_median"] = middle
        rules[cls] = rule
    return frame, rules
