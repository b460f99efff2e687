"""Announced events learnt from the past, for the models that know no calendar.

Prophet takes every event as a regressor. The statsforecast models and the naive ones see
only the series, so an announced promotion or game season would be forecast at the usual
level, and the lift of past ones would be averaged into that level. ``EventAdjusted`` fixes
both for one model:

1. the model is fitted with the days of past events censored (NaN: filled like stockout days),
   so it learns the ordinary level;
2. each event label's lift is measured on the SKU's own earlier occurrences: units during
   the event / (mean units of the 28 days before it x the event's observed days);
3. the lift is shrunk toward the prior of the SKU's category for that kind of scope
   (``brand``, ``category``, ``sku``), measured the same way over the category's SKUs on
   events that ended before the backtest began (``category_priors``), with
   ``PRIOR_WEIGHT`` occurrences' weight: ``(n * own + k * prior) / (n + k)``;
4. forecast days inside an announced event are multiplied by its lift.

Only events scoped to a brand, category or SKU count: ``all``-scoped ones (双十一, 双十二)
cover every SKU on the same days as the built-in festivals and lift them alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting import trading_calendar

PRE_DAYS = 28
MIN_PRE_DAYS = 14
PRIOR_WEIGHT = 2.0
MAX_LIFT = 10.0


def scoped_windows(
    events: pd.DataFrame | None, sku_id: str, category: str | None, brand: str | None
) -> pd.DataFrame:
    """The events scoped to this SKU's brand, category or itself: ``label``, ``kind``,
    ``start``, ``end`` (Timestamps, inclusive)."""
    columns = ["label", "kind", "start", "end"]
    if events is None or events.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for event in events.itertuples(index=False):
        kind = str(event.scope or "").strip().partition(":")[0].lower()
        if kind == "all" or not trading_calendar.event_applies(
            event.scope, sku_id, category, brand
        ):
            continue
        start, end = pd.Timestamp(event.start_date), pd.Timestamp(event.end_date)
        rows.append((trading_calendar.event_label(event.name), kind, start, max(start, end)))
    return pd.DataFrame(rows, columns=columns)


def _day_numbers(values) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[D]").astype(np.int64)


def _event_mask(ds: pd.Series, windows: pd.DataFrame) -> np.ndarray:
    days = _day_numbers(ds)
    mask = np.zeros(len(days), dtype=bool)
    starts, ends = _day_numbers(windows["start"]), _day_numbers(windows["end"])
    for start, end in zip(starts, ends, strict=True):
        mask |= (days >= start) & (days <= end)
    return mask


def measured(history: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """Per past occurrence wholly inside ``history``: ``label``, ``kind``, ``units`` sold
    during it and ``expected`` units at the 28 days before's level (days of other events
    left out of that level; occurrences with under 14 such days are skipped)."""
    columns = ["label", "kind", "units", "expected"]
    if windows.empty or history.empty:
        return pd.DataFrame(columns=columns)
    days, y = _day_numbers(history["ds"]), history["y"].to_numpy(dtype=float)
    observed = np.isfinite(y)
    quiet = observed & ~_event_mask(history["ds"], windows)
    starts, ends = _day_numbers(windows["start"]), _day_numbers(windows["end"])
    rows = []
    labels = zip(windows["label"], windows["kind"], strict=True)
    for (label, kind), start, end in zip(labels, starts, ends, strict=True):
        if start - PRE_DAYS < days[0] or end > days[-1]:
            continue
        inside = (days >= start) & (days <= end) & observed
        before = (days >= start - PRE_DAYS) & (days < start) & quiet
        if before.sum() < MIN_PRE_DAYS or not inside.any():
            continue
        rows.append((label, kind, y[inside].sum(), y[before].mean() * inside.sum()))
    return pd.DataFrame(rows, columns=columns)


def _ratio(units: float, expected: float) -> float:
    return float(np.clip(units / expected, 0.0, MAX_LIFT)) if expected > 0 else 1.0


def category_priors(measurements: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Pooled lift per (category, scope kind) from ``measured`` rows with a ``category``."""
    if measurements.empty:
        return {}
    pooled = measurements.groupby(["category", "kind"])[["units", "expected"]].sum()
    return {key: _ratio(row.units, row.expected) for key, row in pooled.iterrows()}


class EventAdjusted:
    """``inner`` (a model factory) fitted without past event days, its forecast lifted on
    announced event days by the lift learnt as the module says. ``priors``: scope kind ->
    the category's prior lift (missing: 1, no lift)."""

    def __init__(
        self,
        inner,
        windows: pd.DataFrame,
        priors: dict[str, float] | None = None,
        cache: dict | None = None,
    ):
        # ``cache``: shared by the models of one series, which learn the same lifts from
        # the same history (keyed by the history's last day).
        self.inner, self.windows, self.priors = inner, windows, priors or {}
        self.cache = {} if cache is None else cache
        self.name = getattr(inner, "name", "model")

    def lifts(self, history: pd.DataFrame) -> dict[str, float]:
        """Each label's lift from the occurrences inside ``history``, shrunk to the prior."""
        found = measured(history, self.windows)
        lifts = {}
        for label, kind in self.windows[["label", "kind"]].drop_duplicates().itertuples(False):
            prior = self.priors.get(kind, 1.0)
            own = found[found["label"] == label]
            n = len(own)
            observed = _ratio(own["units"].sum(), own["expected"].sum()) if n else prior
            lifts[label] = (n * observed + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)
        return lifts

    def fit(self, history: pd.DataFrame) -> EventAdjusted:
        key = (history["ds"].iloc[-1], len(history))
        if key not in self.cache:
            self.cache[key] = (self.lifts(history), _event_mask(history["ds"], self.windows))
        self._lifts, busy = self.cache[key]
        censored = history.copy()
        if busy.any() and (~busy & censored["y"].notna()).sum() >= PRE_DAYS:
            censored.loc[busy, "y"] = np.nan
        self._model = self.inner().fit(censored)
        self._last = history["ds"].iloc[-1]
        return self

    def predict(self, h: int) -> np.ndarray:
        yhat = np.asarray(self._model.predict(h), dtype=float).copy()
        days = _day_numbers(pd.date_range(self._last + pd.Timedelta(days=1), periods=h))
        factor = np.full(h, np.nan)
        for w in self.windows.itertuples(index=False):
            inside = (days >= _day_numbers([w.start])[0]) & (days <= _day_numbers([w.end])[0])
            # Overlapping events: the strongest lift, not their product.
            factor[inside] = np.fmax(factor[inside], self._lifts.get(w.label, 1.0))
        return yhat * np.nan_to_num(factor, nan=1.0)
