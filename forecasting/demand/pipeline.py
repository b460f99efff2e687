"""The whole demand-forecasting stage: marts in, the contract's tables out.

``forecast_demand(inputs, as_of, ...)`` is the one entry point. Per SKU over all regions it
classes the series and backtests its class's candidates (in worker processes), names each
SKU's model by the rule its class chose on held-back errors (``selection.choose_rules``),
calibrates intervals per class from the backtest errors, then splits the SKU forecasts to
regions and merchants top-down.

Output, one row per key and day (``interval_level`` = 80: ``yhat_lower``/``yhat_upper`` are the
80% interval; the 95% interval is in ``yhat_lower_95``/``yhat_upper_95`` on the same row):

- ``forecast``: sku_id, region_code (``ALL`` or a province), ds, yhat, yhat_lower, yhat_upper,
  interval_level, model, as_of, yhat_lower_95, yhat_upper_95, yhat_median (the median:
  the point forecast absolute error is smallest for; ``yhat`` is the mean, which sums);
- ``backtest``: sku_id, region_code, model, wape, mase, bias, interval_coverage (80%),
  is_selected, coverage_95, folds, days, reason, as_of;
- ``merchant_forecast``: merchant_id, sku_id (``ALL`` = the merchant's total, else one of its
  top SKUs), ds, yhat, yhat_lower, yhat_upper, interval_level, model, as_of, yhat_lower_95,
  yhat_upper_95.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from forecasting.demand import event_adjustment, hierarchy, intervals, median, selection
from forecasting.demand.classify import demand_class
from forecasting.demand.fanout import Progress, fan_out
from forecasting.demand.inputs import DemandInputs
from forecasting.demand.output_schema import (
    BACKTEST_SCHEMA,
    FORECAST_SCHEMA,
    MERCHANT_FORECAST_SCHEMA,
)
from forecasting.demand.series import censor, dense_daily, sku_series
from forecasting.demand.series_forecast import (
    ForecastSettings,
    SeriesResult,
    SeriesTask,
    forecast_series,
)

TOTAL = "ALL"
INTERVAL_LEVEL = 80
LEVELS = (80, 95)
TOP_SKUS_PER_MERCHANT = 5
# A class of fewer series calibrates its interval levels on its errors together with those of
# its nearest class (same side of one Syntetos-Boylan cut): a level tuned on 2-3 series'
# backtest days misses on the days ahead (2 intermittent SKUs: 80.4% in the backtest, 71.4%).
MIN_CLASS_SERIES = 5
NEAREST_CLASS = {"erratic": "smooth", "smooth": "erratic", "intermittent": "lumpy",
                 "lumpy": "intermittent"}  # fmt: skip
FORECAST_COLUMNS = list(FORECAST_SCHEMA)
BACKTEST_COLUMNS = list(BACKTEST_SCHEMA)
_VALUE_COLUMNS = ["sku_id", "ds", "yhat", "yhat_lower", "yhat_upper", "yhat_lower_95",
                  "yhat_upper_95", "yhat_median"]  # fmt: skip
MERCHANT_COLUMNS = list(MERCHANT_FORECAST_SCHEMA)


@dataclass
class DemandTables:
    """The stage's output tables, plus each SKU's series result for the bench and tests."""

    forecast: pd.DataFrame
    backtest: pd.DataFrame
    merchant_forecast: pd.DataFrame
    results: list[SeriesResult]
    # Quantile level used per nominal interval level, per table part and demand class
    # ("sku:lumpy", "region:smooth", ...; see intervals.py).
    calibration: dict[str, dict[int, float]] = field(default_factory=dict)
    # Per demand class and selection rule, the held-back backtest error (selection.py).
    rules: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Per sparse SKU class, whose dispersion its count median uses (median.py).
    median_rules: dict[str, str] = field(default_factory=dict)


def build_tasks(
    inputs: DemandInputs, as_of: dt.date, settings: ForecastSettings
) -> list[SeriesTask]:
    """One task per active SKU that ever sold, in sku_id order (which fixes the chunks)."""
    series = sku_series(inputs.sku_sales, inputs.stockouts, as_of - dt.timedelta(days=1))
    catalogue = inputs.skus.set_index("sku_id") if len(inputs.skus) else pd.DataFrame()
    tasks = []
    for sku_id, rows in series.groupby("sku_id", sort=True):
        info = catalogue.loc[sku_id] if sku_id in catalogue.index else None
        if info is not None and not bool(info["active"]):
            continue
        tasks.append(
            SeriesTask(
                unique_id=str(sku_id),
                sku_id=str(sku_id),
                start=rows["ds"].iloc[0].date(),
                y=rows["y"].to_numpy(dtype=float),
                category=None if info is None else info.get("category"),
                brand=None if info is None else info.get("brand"),
                events=inputs.events if len(inputs.events) else None,
                settings=settings,
            )
        )
    return tasks


def with_event_priors(tasks: list[SeriesTask], before: dt.date) -> list[SeriesTask]:
    """``tasks`` with each one's category priors for event lifts
    (``event_adjustment.category_priors``) measured on events that ended before ``before`` (the
    first backtest cutoff, so the backtest does not judge a lift with a prior that saw its
    folds)."""
    parts = []
    for task in tasks:
        windows = event_adjustment.scoped_windows(
            task.events, task.sku_id, task.category, task.brand
        )
        if windows.empty:
            continue
        history = pd.DataFrame(
            {"ds": pd.date_range(task.start, periods=len(task.y), freq="D"), "y": task.y}
        )
        history = history[history["ds"] < pd.Timestamp(before)]
        found = event_adjustment.measured(history, windows)
        if len(found):
            parts.append(found.assign(category=str(task.category)))
    if not parts:
        return tasks
    priors = event_adjustment.category_priors(pd.concat(parts, ignore_index=True))
    return [
        replace(
            task,
            event_priors={
                kind: lift for (cat, kind), lift in priors.items() if cat == str(task.category)
            },
        )
        for task in tasks
    ]


def _quiet_skus(inputs: DemandInputs, tasks: list[SeriesTask]) -> pd.DataFrame:
    """SKUs in the catalogue without a task: inactive ones, and active ones that never sold."""
    forecast_ids = {t.sku_id for t in tasks}
    quiet = inputs.skus[~inputs.skus["sku_id"].isin(forecast_ids)].copy()
    quiet["reason"] = np.where(quiet["active"], "no_history", "inactive")
    return quiet[["sku_id", "reason"]].sort_values("sku_id", ignore_index=True)


def _future_days(as_of: dt.date, horizon: int) -> pd.DatetimeIndex:
    return pd.date_range(as_of, periods=horizon, freq="D")


def _sku_frames(results: list[SeriesResult], as_of: dt.date, horizon: int):
    """Final forecasts, every candidate's backtest rows, and the selected model's rows."""
    days = _future_days(as_of, horizon)
    forecast = pd.DataFrame(
        {
            "sku_id": np.repeat(np.array([r.unique_id for r in results], dtype=object), horizon),
            "ds": np.tile(days, len(results)),
            "yhat": np.concatenate([r.forecast for r in results]) if results else np.zeros(0),
            "model": np.repeat(np.array([r.selected for r in results], dtype=object), horizon),
        }
    )
    folds = [r.folds.assign(sku_id=r.unique_id) for r in results if len(r.folds)]
    folds = (
        pd.concat(folds, ignore_index=True)
        if folds
        else pd.DataFrame(columns=["model", "fold", "step", "ds", "y", "yhat", "sku_id"])
    )
    chosen = pd.DataFrame(
        {"sku_id": [r.unique_id for r in results], "model": [r.selected for r in results]}
    )
    selected = folds.merge(chosen, on=["sku_id", "model"], how="inner")
    if len(selected):
        selected["cutoff"] = selected.groupby(["sku_id", "fold"])["ds"].transform("min")
    return forecast, folds, selected


def _with_intervals(
    frame: pd.DataFrame, errors: pd.DataFrame, keys: list[str], effective: dict | None = None
) -> pd.DataFrame:
    """``frame`` with 80% and 95% intervals from the backtest ``errors`` of the same keys,
    at the quantile levels whose pooled backtest coverage is nearest the nominal ones."""
    if effective is None:
        effective = intervals.effective_levels(errors, keys, LEVELS)
    quantiles = intervals.error_quantiles(errors, keys, LEVELS, effective=effective)
    frame = intervals.apply_intervals(frame, quantiles, keys, LEVELS)
    return frame.rename(columns={"yhat_lower_80": "yhat_lower", "yhat_upper_80": "yhat_upper"})


def _with_class_intervals(
    frame: pd.DataFrame,
    errors: pd.DataFrame,
    keys: list[str],
    classes: pd.DataFrame,
    calibration: dict,
    part: str,
) -> pd.DataFrame:
    """``_with_intervals`` calibrated per demand class: each class's quantile levels are raised
    or lowered until its own pooled leave-one-fold-out coverage meets the nominal level.
    ``classes``: keys + ``demand_class``; rows of a class without backtest errors (new SKUs,
    no class) are calibrated on every class's errors together, a class of fewer than
    ``MIN_CLASS_SERIES`` series on its own and its nearest class's. The levels used go into
    ``calibration[f"{part}:{class}"]``."""
    frame = frame.merge(classes, on=keys, how="left")
    frame["demand_class"] = frame["demand_class"].fillna("none")
    errors = errors.merge(classes, on=keys, how="left")
    errors["demand_class"] = errors["demand_class"].fillna("none")
    parts = []
    for cls, rows in frame.groupby("demand_class", sort=True):
        own = errors[errors["demand_class"] == cls]
        if own[keys].drop_duplicates().shape[0] < MIN_CLASS_SERIES:
            own = errors[errors["demand_class"].isin([cls, NEAREST_CLASS.get(cls, cls)])]
        own = own if own["fold"].nunique() >= 2 else errors
        effective = intervals.effective_levels(own, keys, LEVELS)
        calibration[f"{part}:{cls}"] = effective
        parts.append(_with_intervals(rows.drop(columns="demand_class"), own, keys, effective))
    return pd.concat(parts, ignore_index=True)


def _with_sparse_medians(
    forecast_all: pd.DataFrame, selected_folds: pd.DataFrame, classes: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, str]]:
    """SKU forecasts with the intermittent and lumpy SKUs' ``yhat_median`` the median of a
    count (``median.with_count_medians``), a class of fewer than ``MIN_CLASS_SERIES`` SKUs
    deciding with its nearest class as the interval levels do."""
    if selected_folds.empty:
        return forecast_all, {}
    errors = selected_folds.merge(classes, on="sku_id", how="left")
    backtested = classes[classes["sku_id"].isin(set(errors["sku_id"]))]
    sizes = backtested["demand_class"].value_counts()
    groups = {
        cls: [cls] if sizes.get(cls, 0) >= MIN_CLASS_SERIES else [cls, NEAREST_CLASS[cls]]
        for cls in median.SPARSE_CLASSES
    }
    frame = forecast_all.merge(classes, on="sku_id", how="left")
    frame, rules = median.with_count_medians(frame, errors, ["sku_id"], groups)
    return frame.drop(columns="demand_class"), rules


def _class_coverage(folds: pd.DataFrame, keys: list[str], classes: pd.DataFrame, calibration,
                    part: str) -> pd.DataFrame:  # fmt: skip
    """Leave-one-fold-out coverage per ``keys`` group, at its class's calibrated levels."""
    folds = folds.merge(classes, on=[k for k in keys if k in classes.columns], how="left")
    folds["demand_class"] = folds["demand_class"].fillna("none")
    parts = [
        intervals.leave_one_fold_out_coverage(
            rows, keys, LEVELS, effective=calibration.get(f"{part}:{cls}")
        )
        for cls, rows in folds.groupby("demand_class", sort=True)
    ]
    columns = keys + [f"coverage_{level}" for level in LEVELS]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _choose_across_series(results: list[SeriesResult]) -> pd.DataFrame:
    """Overrule each backtested series' own choice by its class's rule (``choose_rules``)."""
    backtested = [r for r in results if len(r.folds)]
    if not backtested:
        return pd.DataFrame()
    errors = pd.concat(
        [selection.fold_errors(r.folds).assign(unique_id=r.unique_id) for r in backtested],
        ignore_index=True,
    )
    choice, summary = selection.choose_rules(
        errors, {r.unique_id: r.demand_class for r in backtested}
    )
    for r in backtested:
        model, rule = choice.get(r.unique_id, (r.selected, "series"))
        if model in r.candidate_forecasts:
            r.selected, r.forecast = model, r.candidate_forecasts[model]
            r.reason = f"{rule}:{r.demand_class}"
    return summary


def _sku_backtest(results, folds, quiet, coverage) -> pd.DataFrame:
    """Every candidate's scores per SKU (region ``ALL``), with leave-one-fold-out coverage."""
    rows = []
    for r in results:
        scores = r.scores.assign(
            sku_id=r.unique_id, reason=r.reason, is_selected=lambda s, r=r: s["model"] == r.selected
        )
        if scores.empty:  # no backtest possible: the fallback stands alone
            scores = pd.DataFrame(
                [
                    {
                        "sku_id": r.unique_id,
                        "model": r.selected,
                        "reason": r.reason,
                        "is_selected": True,
                        "days": 0,
                    }
                ]
            )
        rows.append(scores)
    for row in quiet.itertuples(index=False):
        rows.append(
            pd.DataFrame(
                [
                    {
                        "sku_id": row.sku_id,
                        "model": "zero",
                        "reason": row.reason,
                        "is_selected": True,
                        "days": 0,
                    }
                ]
            )
        )
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["sku_id"])
    table = table.merge(coverage, on=["sku_id", "model"], how="left")
    n_folds = folds.groupby("sku_id")["fold"].nunique().rename("folds")
    table = table.merge(n_folds, on="sku_id", how="left")
    table["region_code"] = TOTAL
    return table


def _region_history(inputs: DemandInputs, as_of: dt.date, lookback: int) -> pd.DataFrame:
    start = as_of - dt.timedelta(days=lookback)
    dense = dense_daily(
        inputs.sku_sales, ["sku_id", "region_code"], as_of - dt.timedelta(days=1), start=start
    )
    return censor(dense, inputs.stockouts)


def _child_scores(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """WAPE, bias, days per child from top-down backtest rows (MASE needs no history here:
    it is scaled by the child's own in-backtest weekly naive error)."""
    observed = rows[np.isfinite(rows["y"].to_numpy(dtype=float))].copy()
    observed["abs_error"] = (observed["y"] - observed["yhat"]).abs()
    observed["error"] = observed["yhat"] - observed["y"]
    grouped = observed.groupby(keys, sort=True)
    table = grouped.agg(
        y=("y", "sum"),
        abs_error=("abs_error", "sum"),
        error=("error", "sum"),
        days=("y", "size"),
        mae=("abs_error", "mean"),
    ).reset_index()
    positive = table["y"] > 0
    table["wape"] = np.where(positive, table["abs_error"] / table["y"].where(positive), np.nan)
    table["bias"] = np.where(positive, table["error"] / table["y"].where(positive), np.nan)
    ordered = observed.sort_values(keys + ["ds"])
    ordered["naive_error"] = (ordered["y"] - ordered.groupby(keys)["y"].shift(7)).abs()
    scale = ordered.groupby(keys, sort=True)["naive_error"].mean().rename("scale").reset_index()
    table = table.merge(scale, on=keys, how="left")
    table["mase"] = table["mae"] / table["scale"].where(table["scale"] > 0)
    return table[keys + ["wape", "mase", "bias", "days"]]


def _region_classes(history: pd.DataFrame) -> pd.DataFrame:
    """The demand class of each SKU x region series in ``history``."""
    classes = history.groupby(["sku_id", "region_code"], sort=True)["y"].agg(demand_class)
    return classes.rename("demand_class").reset_index()


def _lookback(selected_folds, as_of: dt.date, settings, windows) -> int:
    """Days of history the share replay needs: the longest window before the earliest
    backtest cutoff (the last-year fold's, when there is one)."""
    earliest = settings.n_folds * settings.horizon_days
    if len(selected_folds):
        earliest = max(earliest, (pd.Timestamp(as_of) - selected_folds["cutoff"].min()).days)
    return max(windows) + earliest


def _regions(inputs, forecast_all, selected_folds, as_of, settings, calibration):
    """Region forecasts and backtest rows, shares window picked by backtest; intervals
    calibrated per class of the region series."""
    windows = hierarchy.REGION_SHARE_WINDOWS
    history = _region_history(inputs, as_of, _lookback(selected_folds, as_of, settings, windows))
    empty = (pd.DataFrame(columns=FORECAST_COLUMNS), pd.DataFrame(columns=BACKTEST_COLUMNS))
    if history.empty:
        return empty
    window, by_window = hierarchy.choose_window(
        selected_folds, history, "sku_id", "region_code", windows, measure="squared"
    )
    keys = ["sku_id", "region_code"]
    classes = _region_classes(history)
    regional = hierarchy.split(
        forecast_all[["sku_id", "ds", "yhat"]],
        hierarchy.shares_at(history, "sku_id", "region_code", pd.Timestamp(as_of), window),
        "sku_id",
    )
    if not by_window[window].empty:  # calibrates ``calibration`` per region class
        regional = _with_class_intervals(
            regional, by_window[window], keys, classes, calibration, "region"
        )
    backtests = []
    for w, rows in by_window.items():
        model = f"top_down_{w}d"
        if rows.empty:
            continue
        scores = _child_scores(rows, ["sku_id", "region_code"])
        coverage = _class_coverage(rows, keys, classes, calibration, "region")
        scores = scores.merge(coverage, on=["sku_id", "region_code"], how="left")
        scores["folds"] = scores["sku_id"].map(rows.groupby("sku_id")["fold"].nunique())
        backtests.append(scores.assign(model=model, is_selected=w == window, reason="top_down"))
    if by_window[window].empty:  # no backtest to calibrate on: split the SKU's intervals too
        shares = hierarchy.shares_at(history, "sku_id", "region_code", pd.Timestamp(as_of), window)
        regional = hierarchy.split(forecast_all[_VALUE_COLUMNS], shares, "sku_id")
    regional["model"] = f"top_down_{window}d"
    backtest = pd.concat(backtests, ignore_index=True) if backtests else empty[1]
    return regional, backtest


def _merchants(inputs, forecast_all, selected_folds, as_of, settings) -> pd.DataFrame:
    """Merchant totals and each merchant's top SKUs, split top-down from the SKU forecasts."""
    if inputs.merchant_sales.empty or forecast_all.empty:
        return pd.DataFrame(columns=MERCHANT_COLUMNS)
    lookback = max(hierarchy.SHARE_WINDOWS) + settings.n_folds * settings.horizon_days
    sales = inputs.merchant_sales
    history = censor(
        dense_daily(
            sales,
            ["sku_id", "merchant_id"],
            as_of - dt.timedelta(days=1),
            start=as_of - dt.timedelta(days=lookback),
        ),
        inputs.stockouts,
    )
    if history.empty:
        return pd.DataFrame(columns=MERCHANT_COLUMNS)
    window, by_window = hierarchy.choose_window(
        selected_folds, history, "sku_id", "merchant_id", aggregate_to="merchant_id"
    )
    rows = by_window[window]
    shares = hierarchy.shares_at(history, "sku_id", "merchant_id", pd.Timestamp(as_of), window)
    model = f"top_down_{window}d"
    if rows.empty:  # no backtest to calibrate on: merchant totals from split SKU intervals
        pairs = hierarchy.split(forecast_all[_VALUE_COLUMNS], shares, "sku_id")
        frame = pairs.groupby(["merchant_id", "ds"], as_index=False, sort=True).sum(
            numeric_only=True
        )
        frame = frame.assign(sku_id=TOTAL, model=model, interval_level=INTERVAL_LEVEL, as_of=as_of)
        return frame[MERCHANT_COLUMNS]
    pairs = hierarchy.split(forecast_all[["sku_id", "ds", "yhat"]], shares, "sku_id")

    totals = pairs.groupby(["merchant_id", "ds"], as_index=False, sort=True)["yhat"].sum()
    total_errors = rows.groupby(
        ["merchant_id", "fold", "step", "ds"], as_index=False, sort=True
    ).agg(y=("y", lambda s: s.sum(min_count=1)), yhat=("yhat", "sum"))
    totals = _with_intervals(totals, total_errors, ["merchant_id"]).assign(sku_id=TOTAL)

    recent = history[history["ds"] >= pd.Timestamp(as_of) - pd.Timedelta(days=window)]
    ranked = (
        recent.groupby(["merchant_id", "sku_id"], as_index=False)["y"]
        .sum()
        .sort_values(["merchant_id", "y", "sku_id"], ascending=[True, False, True])
    )
    top = ranked[ranked["y"] > 0].groupby("merchant_id").head(TOP_SKUS_PER_MERCHANT)
    top_pairs = pairs.merge(top[["merchant_id", "sku_id"]], on=["merchant_id", "sku_id"])
    top_errors = rows.merge(top[["merchant_id", "sku_id"]], on=["merchant_id", "sku_id"])
    top_pairs = _with_intervals(top_pairs, top_errors, ["merchant_id", "sku_id"])

    frame = pd.concat([totals, top_pairs], ignore_index=True)
    frame["model"] = model
    frame["interval_level"] = INTERVAL_LEVEL
    frame["as_of"] = as_of
    return frame[MERCHANT_COLUMNS].sort_values(["merchant_id", "sku_id", "ds"], ignore_index=True)


def _without_sales(quiet: pd.DataFrame, as_of: dt.date, horizon: int) -> DemandTables:
    """Nothing sold yet: zeros for every catalogue SKU, and a backtest row saying why."""
    forecast = pd.DataFrame(
        {
            "sku_id": np.repeat(quiet["sku_id"].to_numpy(dtype=object), horizon),
            "region_code": TOTAL,
            "ds": np.tile(_future_days(as_of, horizon), len(quiet)),
            "model": "zero",
            "interval_level": INTERVAL_LEVEL,
            "as_of": as_of,
        }
    )
    for column in ("yhat", "yhat_lower", "yhat_upper", "yhat_lower_95", "yhat_upper_95",
                   "yhat_median"):  # fmt: skip
        forecast[column] = 0.0
    backtest = quiet.assign(region_code=TOTAL, model="zero", is_selected=True, days=0, as_of=as_of)
    return DemandTables(
        forecast.reindex(columns=FORECAST_COLUMNS),
        backtest.reindex(columns=BACKTEST_COLUMNS),
        pd.DataFrame(columns=MERCHANT_COLUMNS),
        [],
    )


def forecast_demand(
    inputs: DemandInputs,
    as_of: dt.date,
    settings: ForecastSettings | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    chunk_size: int = 8,
    spark=None,
) -> DemandTables:
    """Forecast demand from ``as_of`` for ``settings.horizon_days`` days.

    1. A task per active SKU that sold (censored daily series over all regions), with its
       category's event priors;
    2. fan out: each SKU is classed, backtests its class's candidates and fits them all
       (``forecasting.demand.series_forecast``);
    3. each SKU's model by its class's rule (``selection.choose_rules``);
    4. intervals at 80% and 95% from the selected model's backtest errors, per class;
    5. SKUs without sales or inactive get zeros; 6. regions and merchants top-down.

    Step 2 runs on local processes, or as a Spark job when ``spark`` (a SparkSession) is given
    (``engine.forecast_executor``); the output is the same.
    """
    settings = settings or ForecastSettings()
    horizon = settings.horizon_days
    tasks = build_tasks(inputs, as_of, settings)
    if settings.learn_events and len(inputs.events):
        first_cutoff = as_of - dt.timedelta(days=settings.n_folds * horizon)
        tasks = with_event_priors(tasks, first_cutoff)
    results = fan_out(
        forecast_series,
        tasks,
        workers=workers,
        chunk_size=chunk_size,
        progress=progress,
        spark=spark,
    )
    quiet = _quiet_skus(inputs, tasks)
    if not results:
        return _without_sales(quiet, as_of, horizon)
    rules = _choose_across_series(results)

    forecast_all, folds, selected_folds = _sku_frames(results, as_of, horizon)
    if len(quiet):
        zeros = pd.DataFrame(
            {
                "sku_id": np.repeat(quiet["sku_id"].to_numpy(), horizon),
                "ds": np.tile(_future_days(as_of, horizon), len(quiet)),
                "yhat": 0.0,
                "model": "zero",
            }
        )
        forecast_all = pd.concat([forecast_all, zeros], ignore_index=True)
    calibration: dict[str, dict[int, float]] = {}
    classes = pd.DataFrame(
        {
            "sku_id": [r.unique_id for r in results],
            "demand_class": [r.demand_class for r in results],
        }
    )
    forecast_all = _with_class_intervals(
        forecast_all, selected_folds, ["sku_id"], classes, calibration, "sku"
    )
    forecast_all, median_rules = _with_sparse_medians(forecast_all, selected_folds, classes)
    forecast_all["region_code"] = TOTAL

    coverage = _class_coverage(folds, ["sku_id", "model"], classes, calibration, "sku")
    sku_backtest = _sku_backtest(results, folds, quiet, coverage)
    regional, region_backtest = _regions(
        inputs,
        forecast_all[forecast_all["model"] != "zero"],
        selected_folds,
        as_of,
        settings,
        calibration,
    )
    forecast = pd.concat([forecast_all, regional], ignore_index=True)
    forecast["interval_level"] = INTERVAL_LEVEL
    forecast["as_of"] = as_of
    forecast = forecast[FORECAST_COLUMNS].sort_values(
        ["sku_id", "region_code", "ds"], ignore_index=True
    )
    coverage_names = {"coverage_80": "interval_coverage"}
    backtest = pd.concat(
        [part.rename(columns=coverage_names) for part in (sku_backtest, region_backtest)],
        ignore_index=True,
    )
    backtest["as_of"] = as_of
    backtest["is_selected"] = backtest["is_selected"].astype(bool)
    backtest = backtest.reindex(columns=BACKTEST_COLUMNS).sort_values(
        ["sku_id", "region_code", "model"], ignore_index=True
    )
    merchant = _merchants(
        inputs, forecast_all[forecast_all["model"] != "zero"], selected_folds, as_of, settings
    )
    return DemandTables(forecast, backtest, merchant, results, calibration, rules, median_rules)


def with_settings(settings: ForecastSettings, **changes) -> ForecastSettings:
    """A copy of ``settings`` with some fields changed (frozen dataclass helper)."""
    return replace(settings, **changes)
