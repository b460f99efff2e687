"""The count median of sparse SKUs (forecasting/demand/median.py)."""

import numpy as np
import pandas as pd

from forecasting.demand import median


def _negative_binomial(rng, mean: float, a: float, n: int) -> np.ndarray:
    if a == 0:
        return rng.poisson(mean, n).astype(float)
    size = 1.0 / a
    return rng.negative_binomial(size, size / (size + mean), n).astype(float)


def test_dispersion_is_measured_from_counts_around_their_forecast():
    rng = np.random.default_rng(3)
    mean = np.tile([1.0, 3.0, 6.0], 4000)
    for a in (0.0, 0.5, 2.0):
        y = np.concatenate([_negative_binomial(rng, m, a, 1) for m in mean])
        assert abs(median.dispersion(y, mean) - a) < 0.1 + 0.1 * a
    assert np.isnan(median.dispersion([1.0, 2.0], [0.0, 0.0]))


def test_count_median_is_below_the_mean_when_sales_come_in_lumps():
    # Poisson: the median of a mean of 0.3 is 0 (P(0) = 74%), of 100 is 100.
    np.testing.assert_array_equal(median.count_median([0.0, 0.3, 100.0], 0.0), [0, 0, 100])
    # Lumpy (a = 3): a mean of 2 a day is mostly zero days and a few big ones.
    assert median.count_median([2.0], 3.0)[0] == 0
    rng = np.random.default_rng(4)
    fresh = _negative_binomial(rng, 2.0, 3.0, 20000)
    assert np.abs(fresh - 0).sum() < np.abs(fresh - 2.0).sum()


def _errors(rng, dispersions: dict[str, float], mean: float = 5.0) -> pd.DataFrame:
    parts = []
    for uid, a in dispersions.items():
        for fold, cutoff in enumerate(pd.date_range("2025-01-01", periods=4, freq="28D")):
            parts.append(pd.DataFrame({
                "sku_id": uid, "cutoff": cutoff, "fold": fold, "yhat": mean,
                "y": _negative_binomial(rng, mean, a, 28), "demand_class": "lumpy",
            }))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def test_held_back_choice_keeps_each_series_own_dispersion_when_they_differ():
    rng = np.random.default_rng(5)
    # Half the class sells steadily (Poisson), half in lumps: one pooled dispersion fits
    # neither, and the held-back folds say so.
    errors = _errors(rng, {f"P{i}": 0.0 for i in range(4)} | {f"L{i}": 3.0 for i in range(4)})
    totals = median.held_back_errors(errors, ["sku_id"])
    assert totals["series"] < totals["class"]
    assert median.choose_dispersion(errors, ["sku_id"]) == "series"


def test_sparse_rows_get_the_count_median_inside_their_interval_others_keep_theirs():
    rng = np.random.default_rng(6)
    errors = _errors(rng, {"L1": 3.0, "L2": 3.0, "S1": 0.0})
    errors.loc[errors["sku_id"] == "S1", "demand_class"] = "smooth"
    frame = pd.DataFrame({
        "sku_id": ["L1", "L2", "S1", "NEW"], "demand_class": ["lumpy", "lumpy", "smooth", None],
        "yhat": [2.0, 5.0, 5.0, 1.0], "yhat_median": [2.5, 5.5, 4.9, 0.8],
        "yhat_lower_95": [0.0, 4.0, 1.0, 0.0], "yhat_upper_95": [9.0, 20.0, 10.0, 4.0],
    })  # fmt: skip
    out, rules = median.with_count_medians(frame, errors, ["sku_id"], {"lumpy": ["lumpy"]})
    assert set(rules) == {"lumpy"} and rules["lumpy"] in median.DISPERSION_RULES
    out = out.set_index("sku_id")
    lumpy = errors[errors["demand_class"] == "lumpy"]
    own = lumpy[lumpy["sku_id"] == "L1"] if rules["lumpy"] == "series" else lumpy
    a = median.dispersion(own["y"], own["yhat"])
    assert a > 1.0  # measured on the backtest days: lumpy
    # A lumpy mean of 2 a day: mostly zero days, the median below the mean.
    assert out.loc["L1", "yhat_median"] == median.count_median([2.0], a)[0] < 2.0
    assert median.count_median([5.0], a)[0] < 4
    assert out.loc["L2", "yhat_median"] == 4  # clipped up to the 95% interval's lower edge
    assert out.loc["S1", "yhat_median"] == 4.9 and out.loc["NEW", "yhat_median"] == 0.8


def test_stage_gives_sparse_skus_a_whole_unit_median_that_beats_the_mean_on_absolute_error():
    import datetime as dt

    from forecasting.demand.pipeline import forecast_demand
    from forecasting.demand.synthetic import expected_demand, synthetic_inputs

    as_of = dt.date(2025, 10, 1)
    levels = {"C": 0.4, "D": 0.7}  # slow sellers: most days sell nothing
    inputs, _ = synthetic_inputs(levels, as_of, days=150, seed=2)
    tables = forecast_demand(inputs, as_of, workers=1)
    assert {r.demand_class for r in tables.results} <= set(median.SPARSE_CLASSES)
    assert set(tables.median_rules) and set(tables.median_rules.values()) <= {"series", "class"}
    rows = tables.forecast[tables.forecast["region_code"] == "ALL"].sort_values(["sku_id", "ds"])
    middle = rows["yhat_median"].to_numpy()
    np.testing.assert_array_equal(middle, np.round(middle))  # a count's median: whole units
    assert (middle >= rows["yhat_lower_95"]).all() and (middle <= rows["yhat_upper_95"]).all()
    truth = expected_demand(levels, as_of, as_of + dt.timedelta(days=27))
    draws = np.random.default_rng(9).poisson(truth["expected"].to_numpy(), (200, len(truth)))
    assert np.abs(draws - middle).mean() < np.abs(draws - rows["yhat"].to_numpy()).mean()
