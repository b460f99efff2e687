"""Rolling-origin backtest: refit each candidate at several past cutoffs and keep what it said.

With horizon ``h`` and ``k`` folds the cutoffs are ``n - k*h, n - (k-1)*h, ..., n - h``: each
fold forecasts the ``h`` days after its cutoff from everything before it, and the folds
together cover the last ``k*h`` days without overlap. With more than a year of history one
more fold replays last year's window of the horizon (``seasonal_cutoff``), so a model that
misses a festival the horizon holds is judged on that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

MIN_TRAIN_DAYS = 28


def fold_cutoffs(
    n_days: int, horizon: int, n_folds: int, min_train: int = MIN_TRAIN_DAYS
) -> list[int]:
    """Positions (number of training days) of up to ``n_folds`` cutoffs, oldest first.

    Fewer folds when the history is short: every fold keeps ``min_train`` days to learn from.
    An empty list means not even one fold fits.
    """
    possible = max(0, (n_days - min_train) // horizon)
    folds = min(n_folds, possible)
    return [n_days - (folds - i) * horizon for i in range(folds)]


YEAR_DAYS = 364  # 52 weeks: last year's same window, on the same weekdays


def seasonal_cutoff(
    n_days: int, horizon: int, recent: list[int], min_train: int = 182
) -> int | None:
    """The cutoff one year before the forecast: its fold covers the same calendar window as
    the horizon last year (Double 11 when the horizon holds Double 11), which the recent
    folds may not. None when the history is too short or the fold would overlap them."""
    cutoff = n_days - YEAR_DAYS
    if cutoff < min_train or (recent and cutoff + horizon > recent[0]):
        return None
    return cutoff


def backtest_candidates(
    history: pd.DataFrame,
    candidates: Mapping[str, Callable[[], object]],
    horizon: int,
    cutoffs: list[int],
) -> pd.DataFrame:
    """Every candidate's forecast at every cutoff, next to what happened.

    1. For each cutoff, fit a fresh model from each factory on ``history[:cutoff]``;
    2. predict ``horizon`` days; 3. one row per model x fold x day: ``model``, ``fold``,
       ``step`` (1 = first day ahead), ``ds``, ``y`` (NaN when censored), ``yhat``.
    """
    parts = []
    for fold, cutoff in enumerate(cutoffs):
        train = history.iloc[:cutoff]
        test = history.iloc[cutoff : cutoff + horizon]
        for name, factory in candidates.items():
            yhat = factory().fit(train).predict(len(test))
            parts.append(
                pd.DataFrame(
                    {
                        "model": name,
                        "fold": fold,
                        "step": np.arange(1, len(test) + 1),
                        "ds": test["ds"].to_numpy(),
                        "y": test["y"].to_numpy(dtype=float),
                        "yhat": yhat,
                    }
                )
            )
    if not parts:
        return pd.DataFrame(columns=["model", "fold", "step", "ds", "y", "yhat"])
    return pd.concat(parts, ignore_index=True)
