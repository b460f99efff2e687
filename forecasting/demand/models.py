"""Candidate demand models, one small class each, all with the same two calls.

``fit(history) -> self`` takes one series as a frame with ``ds`` (daily, no gaps) and ``y``
(float; NaN on censored days: the SKU was out of stock, so demand is unknown, not zero).
``predict(h) -> np.ndarray`` gives ``h`` daily point forecasts from the day after the last
``ds``, never negative. Intervals are not the models' business: they come from backtest
residuals (``forecasting.demand.intervals``), the same way for every model.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

SEASON_DAYS = 7


def quiet_logs() -> None:
    """Silence Prophet's and cmdstanpy's per-fit INFO lines (cmdstanpy resets its own logger)."""
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False
        logger.setLevel(logging.WARNING)


def fill_censored(y: np.ndarray) -> np.ndarray:
    """A gap-free copy for models that cannot skip days: each censored (NaN) day takes the mean
    of the same weekday in the 4 weeks around it, else the series mean, else 0."""
    y = np.asarray(y, dtype=float).copy()
    missing = np.flatnonzero(np.isnan(y))
    if len(missing) == 0:
        return y
    overall = np.nanmean(y) if np.isfinite(y).any() else 0.0
    observed = y.copy()
    for i in missing:
        same_weekday = [
            observed[j]
            for j in (i - 14, i - 7, i + 7, i + 14)
            if 0 <= j < len(observed) and np.isfinite(observed[j])
        ]
        y[i] = np.mean(same_weekday) if same_weekday else overall
    return y


class SeasonalNaive:
    """Next week repeats the last observed week (weekday by weekday)."""

    name = "seasonal_naive"

    def fit(self, history: pd.DataFrame) -> SeasonalNaive:
        self._y = fill_censored(history["y"].to_numpy())
        return self

    def predict(self, h: int) -> np.ndarray:
        if len(self._y) == 0:
            return np.zeros(h)
        season = self._y[-SEASON_DAYS:]
        reps = int(np.ceil(h / len(season)))
        return np.clip(np.tile(season, reps)[:h], 0.0, None)


class RecentMean:
    """The mean of the last observed days: the fallback for new and short-history SKUs."""

    name = "recent_mean"

    def __init__(self, window: int = 14):
        self.window = window

    def fit(self, history: pd.DataFrame) -> RecentMean:
        y = history["y"].to_numpy(dtype=float)
        y = y[np.isfinite(y)][-self.window :]
        self._level = float(y.mean()) if len(y) else 0.0
        return self

    def predict(self, h: int) -> np.ndarray:
        return np.full(h, max(self._level, 0.0))


class Ets:
    """Exponential smoothing with weekly seasonality (statsforecast ``AutoETS``).

    ``model="ZNZ"`` (no trend; error and season picked by AICc) is the default: over a few weeks
    a trend term mostly extrapolates noise, and it is 7x cheaper than the full ``ZZZ`` search.
    """

    name = "ets"

    def __init__(self, model: str = "ZNZ"):
        self.model = model

    def fit(self, history: pd.DataFrame) -> Ets:
        from statsforecast.models import AutoETS

        y = fill_censored(history["y"].to_numpy())
        self._flat = None
        if len(y) < 2 * SEASON_DAYS + 2 or np.allclose(y, y[0]):
            self._flat = float(y.mean()) if len(y) else 0.0
            return self
        # Multiplicative forms need positive data; a zero-sale day makes AutoETS skip them.
        self._model = AutoETS(season_length=SEASON_DAYS, model=self.model).fit(y)
        return self

    def predict(self, h: int) -> np.ndarray:
        if self._flat is not None:
            return np.full(h, max(self._flat, 0.0))
        return np.clip(np.asarray(self._model.predict(h)["mean"], dtype=float), 0.0, None)


FIT_DAYS = 364
# statsforecast's own models by candidate name: (class name, keyword arguments).
STATSFORECAST_MODELS = {
    "croston_sba": ("CrostonSBA", {}),
    "tsb": ("TSB", {"alpha_d": 0.1, "alpha_p": 0.1}),
    "adida": ("ADIDA", {}),
    "imapa": ("IMAPA", {}),
    "auto_theta": ("AutoTheta", {"season_length": SEASON_DAYS}),
    "auto_ces": ("AutoCES", {"season_length": SEASON_DAYS}),
    "auto_ets": ("AutoETS", {"season_length": SEASON_DAYS, "model": "ZZZ"}),
}


class StatsModel:
    """One of statsforecast's models (``STATSFORECAST_MODELS``) under our two calls.

    Intermittent-demand methods: ``croston_sba`` (Croston with the Syntetos-Boylan bias
    correction), ``tsb`` (Teunter-Syntetos-Babai: the demand probability decays when sales
    stop), ``adida`` and ``imapa`` (temporal aggregation); level and season: ``auto_theta``,
    ``auto_ces``, ``auto_ets`` (full ``ZZZ`` search). Censored days take the same-weekday
    fill; a series that never sold forecasts zero, a constant one its value. ``fit_days``:
    the length of history fitted (None: all of it).
    """

    def __init__(self, name: str, fit_days: int | None = FIT_DAYS):
        self.name, self.fit_days = name, fit_days

    def fit(self, history: pd.DataFrame) -> StatsModel:
        import statsforecast.models

        # A weekly season and a level: the last year says all they can learn, at half the
        # cost of two years (AutoTheta's optimiser is the dearest of them).
        y = fill_censored(history["y"].to_numpy())
        if self.fit_days:
            y = y[-self.fit_days :]
        self._flat = None
        if len(y) < 2 * SEASON_DAYS + 2 or np.allclose(y, y[0]):
            self._flat = float(y.mean()) if len(y) else 0.0
            return self
        cls, kwargs = STATSFORECAST_MODELS[self.name]
        try:
            self._model = getattr(statsforecast.models, cls)(**kwargs).fit(y)
        except Exception:  # an optimiser that finds no valid model: the level is the answer
            self._flat = float(y[-28:].mean())
        return self

    def predict(self, h: int) -> np.ndarray:
        if self._flat is not None:
            return np.full(h, max(self._flat, 0.0))
        yhat = np.asarray(self._model.predict(h)["mean"], dtype=float)
        return np.clip(np.nan_to_num(yhat, nan=0.0), 0.0, None)


# The keys of Prophet's Stan data and inits that ``_numpy_stan_data`` rebuilds: the tested
# layout (prophet 1.1.6 - 1.5; tests/test_library_internals.py fails when it changes).
STAN_DATA_KEYS = ("T", "S", "K", "tau", "trend_indicator", "y", "t", "cap", "t_change", "s_a",
                  "s_m", "X", "sigmas")  # fmt: skip
STAN_INIT_KEYS = ("k", "m", "delta", "beta", "sigma_obs")


def use_numpy_stan_data(model):
    """The one place CardPulse touches Prophet's internals: its Stan backend's
    ``prepare_data`` (not public API) is swapped for ``_numpy_stan_data``, which hands Stan the
    same values as numpy arrays (~0.5 s a fit faster). Fails loudly if the backend no longer
    has the hook, rather than silently fitting slower or differently."""
    backend = getattr(model, "stan_backend", None)
    if backend is None or not callable(getattr(backend, "prepare_data", None)):
        raise RuntimeError(
            "prophet's stan_backend.prepare_data is gone: this Prophet version is untested "
            "(see forecasting/demand/models.py use_numpy_stan_data)"
        )
    backend.prepare_data = _numpy_stan_data
    return model


def _numpy_stan_data(init: dict, data: dict) -> tuple[dict, dict]:
    """Prophet's ``prepare_data`` with arrays left as numpy: stanio writes a numpy array in one
    call but a list of lists element by element, which cost ~0.5 s a fit with fifty holiday
    columns. Same values, so the same fit."""
    stan_data = {key: data[key] for key in ("T", "S", "K", "tau", "trend_indicator")}
    for key in ("y", "t", "cap", "t_change", "s_a", "s_m"):
        stan_data[key] = np.asarray(data[key])
    stan_data["X"] = data["X"].to_numpy(dtype=float)
    stan_data["sigmas"] = np.asarray(data["sigmas"], dtype=float)
    stan_init = {
        "k": init["k"],
        "m": init["m"],
        "delta": np.asarray(init["delta"], dtype=float),
        "beta": np.asarray(init["beta"], dtype=float),
        "sigma_obs": init["sigma_obs"],
    }
    return stan_init, stan_data


def holiday_indicators(holidays: pd.DataFrame | None) -> pd.DataFrame:
    """A Prophet holidays frame (``holiday``, ``ds``) as a 0/1 matrix: one row per day that has
    any effect, one column per effect name."""
    if holidays is None or holidays.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="ds"))
    table = pd.crosstab(pd.to_datetime(holidays["ds"]), holidays["holiday"])
    table.index.name = "ds"
    return (table > 0).astype(float)


class ProphetModel:
    """Prophet with the Chinese trading calendar.

    ``holidays`` is a Prophet holidays frame (``forecasting.trading_calendar.prophet_holidays``)
    covering history and horizon. Each effect name enters as a binary multiplicative extra
    regressor (the same model as a Prophet holiday with a zero window, but built with one
    vectorised table instead of Prophet's per-row loop, which took seconds for SKUs with
    many recurring events); effects that never occur in the observed history are left out,
    as nothing could be learnt about them. Seasonality is multiplicative too: a festival lifts
    a heavy seller by more units than a slow one. Yearly seasonality only with a year of
    history (low Fourier order: two years show two cycles, not ten harmonics). Censored days
    are passed as NaN, which Prophet leaves out of the fit.

    ``default=True`` is plain ``Prophet()`` (the bench's reference point).
    """

    name = "prophet"

    def __init__(
        self,
        holidays: pd.DataFrame | None = None,
        default: bool = False,
        prior_scale: float = 5.0,
        indicators: pd.DataFrame | None = None,
    ):
        # ``indicators`` (from ``holiday_indicators``) lets many fits share one table.
        if indicators is None:
            indicators = holiday_indicators(None if default else holidays)
        self.indicators = indicators
        self.default = default
        self.prior_scale = prior_scale

    def _build(self, days_of_history: int):
        from prophet import Prophet

        quiet_logs()
        if self.default:
            model = Prophet(uncertainty_samples=0)
        else:
            model = Prophet(
                growth="linear",
                seasonality_mode="multiplicative",
                yearly_seasonality=5 if days_of_history >= 365 else False,
                weekly_seasonality=3,
                daily_seasonality=False,
                changepoint_prior_scale=0.05,
                uncertainty_samples=0,
            )
        return use_numpy_stan_data(model)

    def _with_effects(self, frame: pd.DataFrame) -> pd.DataFrame:
        effects = self.indicators[self._effects].reindex(frame["ds"].to_numpy(), fill_value=0.0)
        effects = effects.rename(columns=self._names).reset_index(drop=True)
        return pd.concat([frame.reset_index(drop=True), effects], axis=1)

    def fit(self, history: pd.DataFrame) -> ProphetModel:
        frame = history[["ds", "y"]]
        observed = frame["y"].notna()
        self._last = frame["ds"].iloc[-1]
        self._flat = None
        if observed.sum() < 2 * SEASON_DAYS or frame.loc[observed, "y"].nunique() < 2:
            self._flat = float(frame["y"].mean()) if observed.any() else 0.0
            return self
        seen = self.indicators.reindex(frame.loc[observed, "ds"]).fillna(0.0)
        self._effects = [c for c in seen.columns if seen[c].any()]
        self._names = {effect: f"effect_{i}" for i, effect in enumerate(self._effects)}
        self._model = self._build(len(frame))
        for name in self._names.values():
            self._model.add_regressor(
                name, prior_scale=self.prior_scale, standardize=False, mode="multiplicative"
            )
        self._model.fit(self._with_effects(frame))
        return self

    def predict(self, h: int) -> np.ndarray:
        if self._flat is not None:
            return np.full(h, max(self._flat, 0.0))
        future = pd.DataFrame({"ds": pd.date_range(self._last + pd.Timedelta(days=1), periods=h)})
        yhat = prophet_point_forecast(self._model, self._with_effects(future))
        return np.clip(yhat, 0.0, None)


def prophet_point_forecast(model, future: pd.DataFrame) -> np.ndarray:
    """``model.predict(future)["yhat"]`` without the per-component frames: Prophet's own
    predict builds one column per holiday and regressor (~0.3 s with fifty of them) and we
    only need the sum: trend x (1 + multiplicative terms) + additive terms."""
    frame = model.setup_dataframe(future.copy())
    trend = np.asarray(model.predict_trend(frame), dtype=float)
    features, _, components, _ = model.make_all_seasonality_features(frame)
    x = features.to_numpy(dtype=float)
    beta = np.asarray(model.params["beta"], dtype=float)
    multiplicative = np.nanmean(x @ (beta * components["multiplicative_terms"].to_numpy()).T, 1)
    additive = np.nanmean(x @ (beta * components["additive_terms"].to_numpy()).T, 1)
    return trend * (1.0 + multiplicative) + additive * model.y_scale
