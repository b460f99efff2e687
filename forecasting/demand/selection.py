"""Which model each series uses: the candidate (or blend) with the lowest backtest WAPE.

Blends are scored like any candidate, from their members' backtest forecasts, so a blend
wins only where averaging really helped on this series' past.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from forecasting.demand import metrics

# Averages of candidates tried as candidates of their own: name -> members.
BLENDS: Mapping[str, tuple[str, ...]] = {
    "blend_prophet_ets": ("prophet", "ets"),
    "blend_ets_intermittent": ("ets", "intermittent"),
}


def add_blends(folds: pd.DataFrame, blends: Mapping[str, tuple[str, ...]] = BLENDS) -> pd.DataFrame:
    """Append each blend whose members were all backtested: the members' mean forecast."""
    have = set(folds["model"])
    parts = [folds]
    for name, members in blends.items():
        if not set(members) <= have:
            continue
        rows = folds[folds["model"].isin(members)]
        mean = rows.groupby(["fold", "step"], sort=True).agg(
            ds=("ds", "first"), y=("y", "first"), yhat=("yhat", "mean")
        )
        parts.append(mean.reset_index().assign(model=name)[folds.columns])
    return pd.concat(parts, ignore_index=True)


def score_candidates(folds: pd.DataFrame, scale: float, order: list[str]) -> pd.DataFrame:
    """Per model, pooled over folds: ``wape``, ``mase``, ``bias``, ``mae``, ``days`` scored.

    Rows come in ``order`` (simplest first), which also breaks ties in selection.
    """
    rows = []
    for model in order:
        part = folds[folds["model"] == model]
        if part.empty:
            continue
        y, yhat = part["y"].to_numpy(), part["yhat"].to_numpy()
        observed = np.isfinite(y)
        mae = float(np.abs(y[observed] - yhat[observed]).mean()) if observed.any() else np.nan
        rows.append(
            {
                "model": model,
                "wape": metrics.wape(y, yhat),
                "mase": metrics.mase(y, yhat, scale),
                "bias": metrics.bias(y, yhat),
                "mae": mae,
                "days": int(observed.sum()),
            }
        )
    return pd.DataFrame(rows, columns=["model", "wape", "mase", "bias", "mae", "days"])


PREFERRED = "blend_prophet_ets"
PREFERENCE_MARGIN = 0.05


def select_model(scores: pd.DataFrame) -> str:
    """The model with the lowest mean absolute error (= lowest WAPE within one series), except
    that the Prophet + ETS blend stays unless another model beats it by more than 5%.

    A few folds of one series rank close candidates mostly by noise; averaging two different
    models is the more robust bet unless the backtest clearly says otherwise. Ties and
    all-NaN scores go to the earliest row (the simplest model).
    """
    mae = scores["mae"].to_numpy(dtype=float)
    if not np.isfinite(mae).any():
        return str(scores["model"].iloc[0])
    best = np.nanmin(mae)
    # Within 0.1% counts as a tie: prefer the simpler model over noise-level gains.
    winners = np.flatnonzero(np.isfinite(mae) & (mae <= best * 1.001 + 1e-12))
    chosen = str(scores["model"].iloc[int(winners[0])])
    preferred = scores.index[scores["model"] == PREFERRED]
    if len(preferred):
        preferred_mae = float(scores.loc[preferred[0], "mae"])
        if np.isfinite(preferred_mae) and best >= preferred_mae * (1 - PREFERENCE_MARGIN):
            return PREFERRED
    return chosen
