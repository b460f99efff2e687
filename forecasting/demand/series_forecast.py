"""One series from history to forecast: candidates, backtest, selection, final fit.

``forecast_series(task)`` is what the fan-out runs in worker processes; it touches no
database and no shared state, so the same task always gives the same result.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cardpulse.settings import DEFAULT_FORECAST
from forecasting import trading_calendar
from forecasting.demand import metrics, selection
from forecasting.demand.backtest import (
    MIN_TRAIN_DAYS,
    backtest_candidates,
    fold_cutoffs,
    seasonal_cutoff,
)
from forecasting.demand.classify import demand_class
from forecasting.demand.event_adjustment import EventAdjusted, scoped_windows
from forecasting.demand.models import (
    STATSFORECAST_MODELS,
    Ets,
    ProphetModel,
    RecentMean,
    SeasonalNaive,
    StatsModel,
    holiday_indicators,
)

FALLBACK_MODEL = "recent_mean"
# A series' first weeks are a ramp (a launch, or an export that starts mid-stream); with a
# year of history or more they are left out, so Prophet does not read the ramp as a dip in
# whatever festival those weeks held.
RAMP_DAYS = 28


@dataclass(frozen=True)
class ForecastSettings:
    """How the stage forecasts. ``prophet_min_daily_units``: Prophet is a candidate only for
    series selling at least this much per day recently (below it, it fits noise and costs the
    most); ``final_models``: extra models to fit on the full history besides the selected one
    (the bench's baselines); ``learn_events``: models without a calendar get announced
    brand/category/SKU events' lifts learnt from past ones (``event_adjustment.py``)."""

    horizon_days: int = DEFAULT_FORECAST.horizon_days
    n_folds: int = DEFAULT_FORECAST.n_folds
    seasonal_fold: bool = True
    prophet_min_daily_units: float = DEFAULT_FORECAST.prophet_min_daily_units
    recent_days: int = DEFAULT_FORECAST.recent_days
    final_models: tuple[str, ...] = ()
    learn_events: bool = True


@dataclass(frozen=True)
class SeriesTask:
    """One daily series: ``y`` from ``start`` on, one value a day, NaN where censored."""

    unique_id: str
    sku_id: str
    start: dt.date
    y: np.ndarray
    category: str | None = None
    brand: str | None = None
    events: pd.DataFrame | None = None  # dim_events rows (name, start_date, end_date, scope)
    settings: ForecastSettings = field(default_factory=ForecastSettings)
    # Scope kind -> the category's lift on past events (``events.category_priors``).
    event_priors: dict[str, float] | None = None


@dataclass
class SeriesResult:
    """What one series learnt: backtest forecasts, scores, choice, and the final forecast."""

    unique_id: str
    selected: str
    reason: str
    forecast: np.ndarray
    folds: pd.DataFrame
    scores: pd.DataFrame
    scale: float
    extra_forecasts: dict[str, np.ndarray] = field(default_factory=dict)
    demand_class: str = "smooth"
    # Every candidate's forecast from the whole history, so a choice made across series
    # (``selection.choose_rules``) needs no second fit.
    candidate_forecasts: dict[str, np.ndarray] = field(default_factory=dict)


@functools.lru_cache(maxsize=8)
def _base_holidays(start: dt.date, end: dt.date) -> pd.DataFrame:
    # Same calendar for every SKU of a run: computed once per process.
    return trading_calendar.prophet_holidays(start, end)


def holidays_for(task: SeriesTask, end: dt.date) -> pd.DataFrame:
    """Prophet holidays for the task's SKU over history and horizon, incl. its events.

    Where the user's events already cover a built-in festival campaign's days (a "双十一"
    event from 1 to 11 November), the built-in campaign window is dropped on those days:
    two effects on the same days cannot be told apart. Festival peak days stay.
    """
    base = _base_holidays(task.start, end)
    if task.events is None or task.events.empty:
        return base
    events = trading_calendar.event_days(task.events, task.sku_id, task.category, task.brand)
    events = events[
        (events["ds"] >= pd.Timestamp(task.start)) & (events["ds"] <= pd.Timestamp(end))
    ]
    if events.empty:
        return base
    events = events.drop_duplicates().assign(lower_window=0, upper_window=0)
    campaign = base["holiday"].str.endswith(("_campaign", "_presale"))
    covered = campaign & base["ds"].isin(set(events["ds"]))
    return pd.concat([base[~covered], events], ignore_index=True)


def _single_factory(name: str):
    if name in STATSFORECAST_MODELS:
        return lambda: StatsModel(name)
    return {"recent_mean": RecentMean, "seasonal_naive": SeasonalNaive, "ets": Ets}[name]


def candidate_factories(
    task: SeriesTask, history: pd.DataFrame, end: dt.date, demand_class: str = "smooth"
) -> dict:
    """The single models the series' class needs (its candidates and the combinations'
    members), as factories (a fresh model per fit)."""
    settings = task.settings
    recent = history["y"].iloc[-settings.recent_days :]
    level = float(np.nanmean(recent)) if recent.notna().any() else 0.0
    factories = {}
    windows = scoped_windows(task.events, task.sku_id, task.category, task.brand)
    windows = windows[windows["start"] <= pd.Timestamp(end)]
    lifts: dict = {}  # the series' models share the lifts learnt from one history
    for name in selection.members_of(selection.CLASS_CANDIDATES[demand_class]):
        if name != "prophet" and settings.learn_events and len(windows):
            factories[name] = functools.partial(
                EventAdjusted, _single_factory(name), windows, task.event_priors, lifts
            )
        elif name != "prophet":
            factories[name] = _single_factory(name)
        elif level >= settings.prophet_min_daily_units:
            indicators = holiday_indicators(holidays_for(task, end))  # one table for every fit
            factories["prophet"] = lambda table=indicators: ProphetModel(indicators=table)
    return factories


def _baseline_factory(name: str, task: SeriesTask, end: dt.date):
    """Models the bench compares against, fitted on the same history."""
    baselines = {
        "seasonal_naive": SeasonalNaive,
        "auto_ets": lambda: Ets(model="ZZZ"),
        "prophet_default": lambda: ProphetModel(default=True),
        "prophet": lambda: ProphetModel(holidays_for(task, end)),
        "ets": Ets,
        "recent_mean": RecentMean,
    }
    if name in baselines:
        return baselines[name]
    return lambda: StatsModel(name, fit_days=None)  # peers as their defaults: all history


def _history(task: SeriesTask) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ds": pd.date_range(task.start, periods=len(task.y), freq="D"),
            "y": np.asarray(task.y, dtype=float),
        }
    )


def _final_forecasts(
    candidates: list[str], factories: dict, history: pd.DataFrame, h: int
) -> dict[str, np.ndarray]:
    """Every candidate's forecast from the whole history (each single model fitted once)."""
    singles = {m: factories[m]().fit(history).predict(h) for m in factories}
    return {
        name: selection.combine(name, singles)
        for name in candidates
        if set(selection.BLENDS.get(name, (name,))) <= set(singles)
    }


def forecast_series(task: SeriesTask) -> SeriesResult:
    """Forecast one series.

    1. No observed day: zeros (``reason='no_history'``);
    2. too short for one backtest fold: the recent mean (``'short_history'``);
    3. otherwise classify the series (``classify.demand_class``), backtest its class's
       candidates over up to ``n_folds`` rolling origins, add the combinations, score, and
       select by the series' own backtest (``'backtest'``; the stage may overrule this with
       a choice pooled over series, ``selection.choose_rules``);
    4. fit every candidate on the whole history.
    """
    settings = task.settings
    h = settings.horizon_days
    history = _history(task)
    end = task.start + dt.timedelta(days=len(history) + h)
    if len(history) >= 365 + RAMP_DAYS:
        history = history.iloc[RAMP_DAYS:].reset_index(drop=True)
    cls = demand_class(history["y"].to_numpy())
    empty_folds = pd.DataFrame(columns=["model", "fold", "step", "ds", "y", "yhat"])
    empty_scores = selection.score_candidates(empty_folds, np.nan, [])
    if not history["y"].notna().any() or len(history) == 0:
        return SeriesResult(
            task.unique_id,
            FALLBACK_MODEL,
            "no_history",
            np.zeros(h),
            empty_folds,
            empty_scores,
            np.nan,
            demand_class=cls,
        )

    cutoffs = fold_cutoffs(len(history), h, settings.n_folds, MIN_TRAIN_DAYS)
    last_year = seasonal_cutoff(len(history), h, cutoffs) if settings.seasonal_fold else None
    if last_year is not None:
        cutoffs = [last_year, *cutoffs]
    if not cutoffs:
        forecast = RecentMean().fit(history).predict(h)
        result = SeriesResult(
            task.unique_id,
            FALLBACK_MODEL,
            "short_history",
            forecast,
            empty_folds,
            empty_scores,
            np.nan,
            demand_class=cls,
        )
    else:
        factories = candidate_factories(task, history, end, cls)
        folds = selection.add_blends(backtest_candidates(history, factories, h, cutoffs))
        scale = metrics.seasonal_naive_scale(history["y"].iloc[: cutoffs[0]])
        have = set(folds["model"])
        order = [m for m in selection.CLASS_CANDIDATES[cls] if m in have]
        scores = selection.score_candidates(folds, scale, order)
        chosen = selection.select_model(scores)
        finals = _final_forecasts(order, factories, history, h)
        result = SeriesResult(
            task.unique_id, chosen, "backtest", finals[chosen], folds, scores, scale,
            demand_class=cls, candidate_forecasts=finals,
        )  # fmt: skip
    for name in settings.final_models:
        result.extra_forecasts[name] = _baseline_factory(name, task, end)().fit(history).predict(h)
    return result


def forecast_baselines(task: SeriesTask) -> dict[str, np.ndarray]:
    """Only the models named in ``settings.final_models``, fitted on the whole history: the
    bench's reference forecasts (``seasonal_naive``, ``auto_ets``, ``prophet_default``, ...)."""
    h = task.settings.horizon_days
    history = _history(task)
    end = task.start + dt.timedelta(days=len(history) + h)
    if not history["y"].notna().any():
        return {name: np.zeros(h) for name in task.settings.final_models}
    return {
        name: _baseline_factory(name, task, end)().fit(history).predict(h)
        for name in task.settings.final_models
    }
