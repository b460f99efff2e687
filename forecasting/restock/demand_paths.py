"""The forecast as restock needs it: per SKU, a daily mean and a daily standard deviation.

The forecast gives an interval (``yhat_lower``, ``yhat_upper``) at ``interval_level``; under a
normal error model its half-width is ``z * sigma``, so ``sigma = (upper - lower) / (2 z)``.
Restock looks further ahead than the forecast horizon when shelf life is long, so the path is
extended at the average of the forecast's last week: flat, never trending.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

TOTAL_REGION = "ALL"
_TAIL_DAYS = 7


@dataclass(frozen=True)
class DemandPath:
    """Expected units per day from ``start`` on, and each day's standard deviation."""

    start: dt.date
    mean: np.ndarray
    sigma: np.ndarray

    def extended(self, days: int) -> DemandPath:
        """1. The path cut or extended to ``days``, 2. extended flat at the last week's average."""
        have = len(self.mean)
        if days <= have:
            return DemandPath(self.start, self.mean[:days], self.sigma[:days])
        tail = slice(max(0, have - _TAIL_DAYS), have)
        fill_mean = float(self.mean[tail].mean()) if have else 0.0
        fill_sigma = float(np.sqrt((self.sigma[tail] ** 2).mean())) if have else 0.0
        extra = days - have
        return DemandPath(
            self.start,
            np.concatenate([self.mean, np.full(extra, fill_mean)]),
            np.concatenate([self.sigma, np.full(extra, fill_sigma)]),
        )

    def total(self, first_day: int, last_day_exclusive: int) -> float:
        """Expected units over days [first_day, last_day_exclusive) counted from ``start``."""
        if last_day_exclusive <= first_day:
            return 0.0
        return float(self.extended(last_day_exclusive).mean[first_day:last_day_exclusive].sum())

    def sigma_over(
        self, first_day: int, last_day_exclusive: int, correlation: float = 0.0
    ) -> float:
        """Standard deviation of the total over those days.

        Daily errors share ``correlation`` pairwise (0 = independent days, 1 = one error for
        all): variance = sum(sigma^2) + correlation * ((sum sigma)^2 - sum(sigma^2)).
        """
        if last_day_exclusive <= first_day:
            return 0.0
        sigma = self.extended(last_day_exclusive).sigma[first_day:last_day_exclusive]
        independent = float((sigma**2).sum())
        together = float(sigma.sum()) ** 2
        return float(np.sqrt(independent + correlation * (together - independent)))


def sigma_from_interval(lower, upper, interval_level):
    """1. Normalise the level (80 or 0.8), 2. z of the two-sided interval, 3. half-width / z.

    Works on scalars and arrays; a missing or inverted interval gives sigma 0.
    """
    level = np.asarray(interval_level, dtype=float)
    level = np.where(level > 1.0, level / 100.0, level)
    level = np.clip(level, 0.5, 0.999)
    z = np.vectorize(lambda p: NormalDist().inv_cdf((1.0 + p) / 2.0))(level)
    width = np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)
    width = np.nan_to_num(np.clip(width, 0.0, None), nan=0.0)
    return width / (2.0 * z)


def demand_paths(
    forecast: pd.DataFrame, as_of: dt.date, horizon_days: int
) -> dict[str, DemandPath]:
    """Per SKU, the SKU-total forecast from ``as_of`` for ``horizon_days`` days.

    1. Keep region ``ALL`` rows inside the horizon, 2. derive sigma from the interval,
    3. lay the days on a calendar so a missing day counts as zero demand, never as a shift.
    Negative forecasts are clipped to zero: nobody sells minus one key.
    """
    if forecast.empty:
        return {}
    rows = forecast[forecast["region_code"] == TOTAL_REGION].copy()
    rows["ds"] = pd.to_datetime(rows["ds"]).dt.date
    end = as_of + dt.timedelta(days=horizon_days)
    rows = rows[(rows["ds"] >= as_of) & (rows["ds"] < end)]
    if rows.empty:
        return {}
    rows["sigma"] = sigma_from_interval(
        rows["yhat_lower"], rows["yhat_upper"], rows["interval_level"]
    )
    rows["offset"] = [(day - as_of).days for day in rows["ds"]]
    paths: dict[str, DemandPath] = {}
    for sku_id, sku_rows in rows.groupby("sku_id", sort=True):
        offsets = sku_rows["offset"].to_numpy()
        # The path ends at the SKU's last forecast day, so extension starts from real numbers.
        length = int(offsets.max()) + 1
        mean = np.zeros(length)
        sigma = np.zeros(length)
        mean[offsets] = np.clip(sku_rows["yhat"].to_numpy(dtype=float), 0.0, None)
        sigma[offsets] = sku_rows["sigma"].to_numpy(dtype=float)
        paths[str(sku_id)] = DemandPath(as_of, mean, sigma)
    return paths
