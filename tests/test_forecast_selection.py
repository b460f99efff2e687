"""Demand classes, statsforecast's intermittent models, selection rules, class calibration."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from forecasting.demand import intervals, selection
from forecasting.demand.classify import adi_cv2, demand_class
from forecasting.demand.models import SeasonalNaive, StatsModel
from forecasting.demand.series_forecast import ForecastSettings, SeriesTask, forecast_series

START = dt.date(2025, 1, 6)


def _history(y) -> pd.DataFrame:
    return pd.DataFrame({"ds": pd.date_range(START, periods=len(y)), "y": np.asarray(y, float)})


def _every(k: int, sizes, days: int = 140) -> np.ndarray:
    """A sale every ``k``-th day, sizes cycling through ``sizes``, zero in between."""
    y = np.zeros(days)
    y[::k] = np.resize(np.asarray(sizes, float), len(y[::k]))
    return y


def test_syntetos_boylan_classes_of_hand_made_series():
    assert demand_class(np.resize([20, 22, 19, 21], 140)) == "smooth"
    assert demand_class(np.resize([1, 30, 2, 45, 3], 140)) == "erratic"
    assert demand_class(_every(3, [5, 6, 5, 4])) == "intermittent"
    assert demand_class(_every(3, [1, 40, 2, 25])) == "lumpy"
    assert demand_class(np.zeros(60)) == "intermittent"  # never sold: ADI infinite


def test_class_thresholds_are_adi_1_32_and_cv2_0_49():
    assert adi_cv2([3, 3, 3, 3, 0]) == (1.25, 0.0)  # 4 sales in 5 days: still frequent
    assert demand_class([3, 3, 3, 3, 0]) == "smooth"
    assert demand_class([3, 3, 3, 0]) == "intermittent"  # ADI 4/3 = 1.33
    # Sizes 1 and 5: CV² = (2/3)² = 0.44; sizes 1 and 6: (2.5/3.5)² = 0.51.
    assert demand_class([1, 5] * 20) == "smooth"
    assert demand_class([1, 6] * 20) == "erratic"
    # Censored days (NaN) are neither sales nor zeros.
    assert demand_class([3, np.nan, 3, np.nan, 3, 3]) == "smooth"


@pytest.mark.parametrize("name", ["croston_sba", "tsb", "adida", "imapa", "auto_theta", "auto_ces"])
def test_statsforecast_models_forecast_a_sparse_sellers_rate(name):
    rng = np.random.default_rng(4)
    y = (rng.random(300) < 0.25) * rng.poisson(4, 300)  # about 1 unit a day on average
    forecast = StatsModel(name).fit(_history(y)).predict(28)
    assert forecast.shape == (28,) and (forecast >= 0).all()
    assert 0.4 < forecast.mean() < 2.0
    assert (StatsModel(name).fit(_history(np.zeros(60))).predict(7) == 0).all()


def test_combination_beats_seasonal_naive_on_intermittent_series():
    rng = np.random.default_rng(12)
    combo_abs = naive_abs = combo_sq = naive_sq = actual_total = 0.0
    for _ in range(20):
        rate = rng.uniform(0.15, 0.4)
        y = (rng.random(280) < rate) * rng.poisson(3, 280).astype(float)
        history, future = _history(y[:252]), y[252:]
        forecasts = {m: StatsModel(m).fit(history).predict(28) for m in ("auto_theta", "auto_ces")}
        forecasts["ets"] = StatsModel("auto_ets").fit(history).predict(28)
        combo = selection.combine(selection.COMBO, forecasts)
        naive = SeasonalNaive().fit(history).predict(28)
        combo_abs, naive_abs = (
            combo_abs + np.abs(future - combo).sum(),
            naive_abs + np.abs(future - naive).sum(),
        )
        combo_sq, naive_sq = (
            combo_sq + ((future - combo) ** 2).sum(),
            naive_sq + ((future - naive) ** 2).sum(),
        )
        actual_total += future.sum()
    # Lower WAPE, and far lower squared error (last week's few sales repeated are noise).
    assert combo_abs / actual_total < 0.95 * naive_abs / actual_total
    assert combo_sq < 0.7 * naive_sq


def test_each_class_backtests_its_own_candidates():
    settings = ForecastSettings(horizon_days=14, prophet_min_daily_units=1e9)
    rng = np.random.default_rng(2)
    lumpy = forecast_series(
        SeriesTask("L", "L", START, _every(3, [1, 40, 2, 25], 200), settings=settings)
    )
    smooth = forecast_series(
        SeriesTask("S", "S", START, rng.poisson(30, 200).astype(float), settings=settings)
    )
    assert lumpy.demand_class == "lumpy" and smooth.demand_class == "smooth"
    assert {"croston_sba", "tsb", "adida", "imapa", selection.COMBO} <= set(lumpy.scores["model"])
    assert "seasonal_naive" not in set(lumpy.scores["model"])
    assert "croston_sba" not in set(smooth.scores["model"])
    assert set(smooth.candidate_forecasts) == set(smooth.scores["model"])
    np.testing.assert_allclose(smooth.forecast, smooth.candidate_forecasts[smooth.selected])


def _errors(per_series: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"unique_id": uid, "model": model, "fold": fold, "abs_error": error}
            for uid, models in per_series.items()
            for model, folds in models.items()
            for fold, error in enumerate(folds)
        ]
    )


def test_a_model_best_across_the_class_beats_noisy_per_series_winners():
    # TSB is the better model everywhere (10 a fold against 12), but fold noise makes
    # Croston look better on some folds of each series.
    rng = np.random.default_rng(0)
    per_series = {}
    for i in range(8):
        noise = rng.normal(0, 3, (2, 3))
        per_series[f"s{i}"] = {
            "ets": [12.0, 12.0, 12.0],
            "tsb": list(10 + noise[0]),
            "croston_sba": list(10.8 + noise[1]),
            selection.COMBO: [11.5, 11.5, 11.5],
        }
    choice, rules = selection.choose_rules(_errors(per_series), dict.fromkeys(per_series, "lumpy"))
    chosen = rules[rules["is_chosen"]].set_index("demand_class")["rule"]
    assert chosen["lumpy"] == "class"
    assert {model for model, _ in choice.values()} == {"tsb"}
    by_rule = rules.set_index("rule")["held_back_error"]
    assert by_rule["class"] < by_rule["series"] and by_rule["class"] < by_rule["combo"]


def test_series_keep_their_own_model_when_it_is_consistently_theirs():
    per_series = {}
    for i in range(6):
        best = "tsb" if i % 2 else "croston_sba"
        other = "croston_sba" if i % 2 else "tsb"
        per_series[f"s{i}"] = {
            "ets": [12.0, 12.5, 11.5],
            best: [5.0, 5.5, 4.5],
            other: [15.0, 15.5, 14.5],
            selection.COMBO: [10.0, 10.0, 10.0],
        }
    choice, rules = selection.choose_rules(_errors(per_series), dict.fromkeys(per_series, "lumpy"))
    assert rules[rules["is_chosen"]]["rule"].tolist() == ["series"]
    assert choice["s0"] == ("croston_sba", "series") and choice["s1"] == ("tsb", "series")


def test_calibration_lowers_the_level_where_lumpy_counts_over_cover():
    # Whole-unit counts around a good forecast: outward quantiles of discrete errors give
    # intervals wider than asked at the nominal level; the calibrated level is lowered.
    rng = np.random.default_rng(3)
    n = 4 * 3 * 150
    frame = pd.DataFrame(
        {
            "uid": np.repeat(["a", "b", "c", "d"], n // 4),
            "fold": np.tile(np.repeat([0, 1, 2], 150), 4),
            "yhat": 0.6,
        }
    )
    frame["y"] = (rng.random(n) < 0.3) * rng.poisson(2, n).astype(float)
    nominal = intervals.leave_one_fold_out_coverage(frame, ["uid"], effective={80: 80, 95: 95})
    effective = intervals.effective_levels(frame, ["uid"])
    calibrated = intervals.leave_one_fold_out_coverage(frame, ["uid"], effective=effective)
    assert effective[80] < 80
    assert abs(calibrated["coverage_80"].mean() - 0.80) <= 0.02  # the target band, 78-82%
    assert calibrated["coverage_80"].mean() < nominal["coverage_80"].mean()
    # Of all levels tried, none lands nearer 80% than the one chosen.
    miss = abs(calibrated["coverage_80"].mean() - 0.80)
    for used in range(50, 85):
        other = intervals.leave_one_fold_out_coverage(frame, ["uid"], effective={80: used})
        assert miss <= abs(other["coverage_80"].mean() - 0.80) + 1e-12


def _promotions(first: int, every: int, count: int, days: int = 5) -> pd.DataFrame:
    starts = [START + dt.timedelta(days=first + i * every) for i in range(count)]
    return pd.DataFrame(
        {
            "name": [f"限时特惠 Q币 {9 - i % 3}折" for i in range(count)],
            "start_date": starts,
            "end_date": [s + dt.timedelta(days=days - 1) for s in starts],
            "scope": "sku:S",
        }
    )


def test_event_lift_is_learnt_from_earlier_promotions_of_the_sku():
    from forecasting.demand.event_adjustment import EventAdjusted, scoped_windows
    from forecasting.demand.models import Ets

    rng = np.random.default_rng(8)
    events = _promotions(first=56, every=33, count=9)  # the 9th starts on day 320, ahead
    windows = scoped_windows(events, "S", "game_card", "X")
    days = pd.date_range(START, periods=310)
    on_event = np.zeros(len(days), dtype=bool)
    for start, end in zip(windows["start"], windows["end"], strict=True):
        on_event |= (days >= start) & (days <= end)
    y = rng.poisson(np.where(on_event, 18.0, 6.0)).astype(float)
    history = pd.DataFrame({"ds": days, "y": y})
    model = EventAdjusted(Ets, windows).fit(history)
    forecast = model.predict(28)  # days 310..337: the promotion is days 320..324
    promo, ordinary = forecast[10:15], np.r_[forecast[:10], forecast[15:]]
    assert 5.0 < ordinary.mean() < 7.0  # the level without the promotions in it
    assert 2.3 < promo.mean() / ordinary.mean() < 3.7  # the learnt lift, about 3
    # Without a calendar, the announced promotion is forecast like any other week.
    plain = Ets().fit(history).predict(28)
    assert plain[10:15].mean() < 0.6 * promo.mean()


def test_event_lift_shrinks_toward_the_category_prior():
    from forecasting.demand.event_adjustment import EventAdjusted, scoped_windows

    one_past = scoped_windows(_promotions(first=60, every=70, count=2), "S", "c", "b")
    days = pd.date_range(START, periods=120)
    y = np.where((days >= one_past["start"][0]) & (days <= one_past["end"][0]), 40.0, 10.0)
    history = pd.DataFrame({"ds": days, "y": y})
    # One occurrence with lift 4, prior 1.5 weighing two occurrences: (4 + 2 * 1.5) / 3.
    lifts = EventAdjusted(None, one_past, {"sku": 1.5}).lifts(history)
    assert lifts == {one_past["label"][0]: pytest.approx(7 / 3)}
    # Never seen before: the prior alone; no prior either: no lift.
    unseen = one_past.iloc[[1]]
    assert EventAdjusted(None, unseen, {"sku": 1.5}).lifts(history.head(50)) == {
        unseen["label"].iloc[0]: 1.5
    }
    assert EventAdjusted(None, unseen).lifts(history.head(50)) == {unseen["label"].iloc[0]: 1.0}


def test_category_priors_pool_the_category_and_ignore_the_backtest_window():
    from forecasting.demand.pipeline import with_event_priors

    days = pd.date_range(START, periods=200)
    events = pd.concat(
        [_promotions(first=40, every=50, count=4).assign(scope=f"sku:{sku}") for sku in "PQ"],
        ignore_index=True,
    )
    on_event = np.zeros(len(days), dtype=bool)
    for start, end in zip(events["start_date"][:4], events["end_date"][:4], strict=True):
        on_event |= (days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))
    lifted = np.where(on_event, 30.0, 10.0)
    lifted[days >= pd.Timestamp(START + dt.timedelta(days=120))] = 10.0  # no lift after it
    tasks = [
        SeriesTask(sku, sku, START, lifted, category=category, events=events)
        for sku, category in (("P", "game_card"), ("Q", "game_card"), ("R", "gift_card"))
    ]
    before = START + dt.timedelta(days=120)
    priors = {t.sku_id: t.event_priors for t in with_event_priors(tasks, before)}
    # Occurrences on days 40 and 90 lift 3x; with those on days 140 and 190, after the
    # cut-off, the pooled lift would be 2.
    assert priors["P"] == priors["Q"] == {"sku": pytest.approx(3.0)}
    assert priors["R"] == {}  # no event of its own, no prior from another category


def test_a_class_of_two_series_calibrates_with_its_nearest_class():
    from forecasting.demand.pipeline import _with_class_intervals

    rng = np.random.default_rng(4)
    uids = [f"l{i}" for i in range(6)] + ["i0", "i1"]
    errors = pd.DataFrame(
        {"uid": np.repeat(uids, 3 * 40), "fold": np.tile(np.repeat([0, 1, 2], 40), len(uids))}
    )
    errors["yhat"] = np.where(errors["uid"].str.startswith("l"), 0.8, 0.4)
    errors["y"] = (rng.random(len(errors)) < 0.35) * rng.poisson(2, len(errors)).astype(float)
    classes = pd.DataFrame({"uid": uids, "demand_class": ["lumpy"] * 6 + ["intermittent"] * 2})
    ahead = pd.DataFrame({"uid": uids, "yhat": 0.5})
    calibration: dict = {}
    _with_class_intervals(ahead, errors, ["uid"], classes, calibration, "t")
    lumpy = errors[errors["uid"].str.startswith("l")]
    assert calibration["t:lumpy"] == intervals.effective_levels(lumpy, ["uid"])
    # 2 series are too few to tune a level on: theirs is tuned on both classes' days.
    assert calibration["t:intermittent"] == intervals.effective_levels(errors, ["uid"])
    own = errors[errors["uid"].str.startswith("i")]
    assert calibration["t:intermittent"] != intervals.effective_levels(own, ["uid"])
