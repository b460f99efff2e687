"""Rolling-origin backtest: refit each candidate at several past cutoffs and keep what it said.

With horizon ``h`` and ``k`` folds the cutoffs are ``n - k*h, n - (k-1)*h, ..., n - h``: each
fold forecasts the ``h`` days after its cutoff from everything before it, and the folds
together cover the last ``k*h`` days without overlap.
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
