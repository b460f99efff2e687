"""Whether a build refits the demand forecasts or keeps the last fit (issue 21).

A daily build adds one day to two years of history: refitting every SKU's backtest and models
for it costs most of the build and changes little. With ``engine.forecast_refit_days = N``
(default 1: every build refits) a fit is kept while it is younger than N days, unless the days
since it was made show it is off. The rule, on the forecasts at region ``ALL``:

1. no forecast table, no fit, or an ``as_of`` before the fit's: refit;
2. the fit is N or more days old: refit (the schedule);
3. over the days from the fit's ``as_of`` up to the build's, the share of SKU-days whose actual
   demand units fell outside the fit's 95% interval (a SKU that sold without a forecast counts
   as a miss) is above ``DRIFT_SHARE``: refit (drift; by design 5% fall outside);
4. otherwise keep the fit: the forecast tables stay as they are, with their own ``as_of``.

The price elasticities follow the forecasts (``elasticity_refit_decision``): they are
re-estimated exactly when the forecasts are refitted, by the same schedule and drift rule,
so both stay fitted on the same history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# A calibrated 95% interval misses about 5% of SKU-days; more than twice that is drift.
DRIFT_SHARE = 0.10


@dataclass(frozen=True)
class RefitDecision:
    """Refit or keep, why, and the ``as_of`` of the fit found (None when there is none)."""

    refit: bool
    reason: str
    fitted_as_of: dt.date | None = None


def refit_decision(conn, as_of: dt.date, refit_days: int) -> RefitDecision:
    """Refit or keep the forecasts in ``analytics.demand_forecast`` for a build at ``as_of``."""
    if refit_days <= 1:
        return RefitDecision(True, "every build refits (engine.forecast_refit_days = 1)")
    fitted = _max_as_of(conn, "demand_forecast")
    if fitted is None:
        return RefitDecision(True, "no earlier forecast")
    if as_of < fitted:
        return RefitDecision(True, f"as_of {as_of} is before the fit's ({fitted})", fitted)
    age = (as_of - fitted).days
    if age >= refit_days:
        return RefitDecision(
            True, f"scheduled: the fit of {fitted} is {age} days old (refit every {refit_days})",
            fitted,
        )  # fmt: skip
    missed, sku_days = conn.execute(
        """WITH actual AS (
               SELECT sku_id, order_date AS ds, sum(units) AS units
               FROM analytics.fct_daily_sku_sales
               WHERE order_date >= ? AND order_date < ?
               GROUP BY sku_id, order_date
           ),
           forecast AS (
               SELECT sku_id, ds, yhat_lower_95, yhat_upper_95
               FROM analytics.demand_forecast
               WHERE region_code = 'ALL' AND as_of = ? AND ds >= ? AND ds < ?
           )
           SELECT
               count(*) FILTER (
                   WHERE f.sku_id IS NULL
                       OR coalesce(a.units, 0) < f.yhat_lower_95
                       OR coalesce(a.units, 0) > f.yhat_upper_95
               ),
               count(*)
           FROM forecast AS f
           FULL JOIN actual AS a ON a.sku_id = f.sku_id AND a.ds = f.ds""",
        [fitted, as_of, fitted, fitted, as_of],
    ).fetchone()
    share = missed / sku_days if sku_days else 0.0
    if share > DRIFT_SHARE:
        return RefitDecision(
            True,
            f"drift: {missed} of {sku_days} SKU-days since {fitted} outside the 95% interval "
            f"({share:.0%} > {DRIFT_SHARE:.0%})",
            fitted,
        )
    return RefitDecision(
        False,
        f"kept the fit of {fitted} ({age} of {refit_days} days; {missed} of {sku_days} SKU-days "
        f"since outside the 95% interval)",
        fitted,
    )


def elasticity_refit_decision(conn, refit_days: int) -> RefitDecision:
    """Re-estimate ``analytics.price_elasticities`` in this build, or keep them.

    Made after the forecast stage has decided (the asset depends on it): the elasticities are
    kept while they share the ``as_of`` of the forecast fit in use, that is when the forecasts
    were kept too (a refit in this build gives them this build's ``as_of``); otherwise (every
    build refits, no estimate, estimates of another day than the fit's) re-estimate.
    """
    if refit_days <= 1:
        return RefitDecision(True, "every build re-estimates (engine.forecast_refit_days = 1)")
    estimated = _max_as_of(conn, "price_elasticities")
    fitted = _max_as_of(conn, "demand_forecast")
    if estimated is None:
        return RefitDecision(True, "no earlier elasticities")
    if fitted is None or fitted != estimated:
        return RefitDecision(
            True, f"the forecasts in use are fitted as of {fitted}; elasticities as of {estimated}",
            estimated,
        )  # fmt: skip
    return RefitDecision(
        False, f"kept the elasticities of {estimated}, as the forecast fit of that day", estimated
    )


def _max_as_of(conn, table: str) -> dt.date | None:
    """The newest ``as_of`` of ``analytics.<table>``; None when it has no rows or is absent."""
    (exists,) = conn.execute(
        """SELECT count(*) FROM information_schema.tables
           WHERE table_schema = 'analytics' AND table_name = ?""",
        [table],
    ).fetchone()
    if not exists:
        return None
    return conn.execute(f"SELECT max(as_of) FROM analytics.{table}").fetchone()[0]
