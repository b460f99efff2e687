"""Region shares for the top-down split: how far back they look is chosen by replaying it."""

import numpy as np
import pandas as pd

from forecasting.demand import hierarchy


def _sparse_regions(days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One SKU selling 1.2 units a day, split 60/30/10 over three provinces for good; three
    28-day backtest folds at the end, the parent's forecast its true mean."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2025-01-01", periods=days)
    history = pd.concat(
        [
            pd.DataFrame(
                {
                    "sku_id": "S",
                    "region_code": code,
                    "ds": ds,
                    "y": rng.poisson(1.2 * share, days).astype(float),
                }
            )
            for code, share in (("CN-GD", 0.6), ("CN-BJ", 0.3), ("CN-XZ", 0.1))
        ],
        ignore_index=True,
    )
    folds = []
    for fold in range(3):
        cutoff = ds[days - (3 - fold) * 28]
        fold_days = pd.date_range(cutoff, periods=28)
        folds.append(
            pd.DataFrame({"sku_id": "S", "cutoff": cutoff, "fold": fold, "step": np.arange(28),
                          "ds": fold_days, "yhat": 1.2})
        )  # fmt: skip
    return pd.concat(folds, ignore_index=True), history


def test_sparse_provinces_with_stable_shares_take_a_long_share_window():
    # A province selling 0.12 a day shows 0 to 8 units in 28 days: a 28-day share is noise.
    chosen = []
    for seed in range(12):
        folds, history = _sparse_regions(600, seed)
        window, rows = hierarchy.choose_window(
            folds, history, "sku_id", "region_code", hierarchy.REGION_SHARE_WINDOWS, None,
            measure="squared",
        )  # fmt: skip
        scores = {w: hierarchy.pooled_squared_error(r) for w, r in rows.items()}
        assert window == min(scores, key=scores.get)  # the choice is the replay's best
        chosen.append(window)
    assert sum(w >= 182 for w in chosen) >= 10, chosen


def test_a_share_window_longer_than_the_history_uses_what_there_is():
    folds, history = _sparse_regions(120, 0)
    shares = hierarchy.shares_at(history, "sku_id", "region_code", pd.Timestamp("2025-05-01"), 364)
    assert abs(shares["share"].sum() - 1) < 1e-12
    by_region = shares.set_index("region_code")["share"]
    assert by_region["CN-GD"] > by_region["CN-BJ"] > by_region["CN-XZ"] > 0
