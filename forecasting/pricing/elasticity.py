"""Price elasticity of demand per SKU x region, with controls and partial pooling.

Model, per SKU, over all its regions at once (a negative-binomial panel regression, log link):

    E[orders(r, t)] = exp(controls(t) . beta + a_r + g_r * trend(t) + e_r * log(price_rt / ref_r))

It counts orders, not units, where the marts have them (``fct_daily_sku_sales.orders``): the
price moves how many buyers come, while an agent's bulk buy of 50 keys is one decision whose
size is noise, and counting its keys made the estimates far noisier and pulled them towards
zero (bench/pricing.py, docs/pricing.md). Without an ``orders`` column it counts units.

``controls`` are shared by the SKU's regions: weekday, yearly Fourier terms, mainland China
holidays, make-up workdays, shopping festivals (618, Double 11, 12.12) and the user's events
that apply to the SKU. So a promotion that always coincides with Double 11 is absorbed by the
festival terms and teaches the model nothing about price; elasticity comes from price moves
the calendar does not explain (other promotions, list price changes, regional differences).
Days a SKU was out of stock are censored (left out), not read as zero demand, and so are days
without a sale whose price the neighbouring sales do not pin down. Standard errors
come from negative-binomial weights (variance mu + alpha mu^2, alpha by moments) with a
sandwich covariance clustered by day.

Partial pooling (empirical Bayes): each region's estimate is shrunk towards its SKU's, and
each SKU's towards its category's, by the precision of the estimate against the spread seen
between regions (and between SKUs), estimated by DerSimonian-Laird moments. A region whose
price never moved borrows its SKU's estimate with a wider interval; a SKU whose price never
moved anywhere is flagged ``price_variation = 'none'``: no recommendation, a price test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from forecasting.pricing.controls import calendar_controls, event_controls
from forecasting.pricing.guardrails import ElasticitySettings
from forecasting.pricing.output_schema import ELASTICITY_SCHEMA

# Where nothing at all can be learnt, the prior: a typical elasticity of digital goods.
FALLBACK_ELASTICITY = -1.5
FALLBACK_SPREAD = 1.0
# Floors on the between-unit spreads: never pool completely. SKUs of one category differ by
# half a unit of elasticity or more (a 10-yuan and a 648-yuan game card do not react alike);
# with noisy SKU estimates the moment estimate of that spread often comes out as zero, which
# would pull every SKU onto its category mean with an interval far too narrow.
MIN_REGION_SPREAD = 0.05
MIN_SKU_SPREAD = 0.5
# Two observed prices differing by more than this bracket a price change the data did not see.
PRICE_GAP_TOLERANCE = 0.01
CONTROL_RIDGE = 1.0

ELASTICITY_COLUMNS = [name for name in ELASTICITY_SCHEMA if name != "as_of"]


@dataclass(frozen=True)
class SkuPanel:
    """One SKU's history as region x day arrays."""

    sku_id: str
    regions: list[str]
    days: pd.DatetimeIndex
    units: np.ndarray  # (regions, days)
    observed: np.ndarray  # (regions, days) bool: day counts (not censored)
    log_price: np.ndarray  # (regions, days) log(price / the region's usual price)
    price_seen: np.ndarray  # (regions, days) bool: a price was observed that day
    # (regions, days): what the model counts: orders where the marts have them, else units
    counts: np.ndarray | None = None

    @property
    def response(self) -> np.ndarray:
        return self.units if self.counts is None else self.counts


def build_panels(
    daily: pd.DataFrame,
    as_of: dt.date,
    stockout_days: pd.DataFrame | None = None,
    history_days: int = 730,
) -> list[SkuPanel]:
    """Cut the daily sales into one region x day panel per SKU.

    1. Keep demand days before ``as_of`` within ``history_days``; days without a row are zero
       demand, from the SKU's first sale on.
    2. Relative price: each region's price over its usual (median) price. On a day with no
       sale the price is not seen; it is filled with the SKU's national price index that day
       times the region's ratio to it, when the ratio seen before and after agree (promotions
       are mostly national, regional gaps persist). Between two sales at different ratios
       (a regional promotion started or ended unseen) the price is unknown: the day is
       censored, since reading it at the wrong price teaches the model that price moves do
       little.
    3. Days the SKU was out of stock (``stockout_days``: sku_id, ds) are censored.
    """
    end = pd.Timestamp(as_of) - pd.Timedelta(days=1)
    start_limit = end - pd.Timedelta(days=history_days - 1)
    counted = "orders" if "orders" in daily.columns else "units"
    columns = ["sku_id", "region_code", "order_date", "units", "avg_unit_price"]
    frame = daily.loc[:, columns + ([counted] if counted != "units" else [])].copy()
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    frame = frame[(frame["order_date"] <= end) & (frame["order_date"] >= start_limit)]
    frame["units"] = frame["units"].astype(float)
    frame[counted] = frame[counted].astype(float)
    frame["avg_unit_price"] = frame["avg_unit_price"].astype(float)
    censored = _censored_days(stockout_days)
    panels = []
    for sku_id, rows in frame.groupby("sku_id", sort=True):
        rows = rows[rows["units"] > 0]
        if rows.empty:
            continue
        days = pd.date_range(rows["order_date"].min(), end, freq="D")
        units = rows.pivot_table(
            index="region_code", columns="order_date", values="units", aggfunc="sum"
        ).reindex(columns=days)
        counts = rows.pivot_table(
            index="region_code", columns="order_date", values=counted, aggfunc="sum"
        ).reindex(index=units.index, columns=days)
        price = rows.pivot_table(
            index="region_code", columns="order_date", values="avg_unit_price", aggfunc="mean"
        ).reindex(index=units.index, columns=days)
        price = price.where(price > 0)
        log_price, price_unknown = _filled_log_relative_price(
            np.log(price.to_numpy()), units.to_numpy()
        )
        observed = ~price_unknown
        if sku_id in censored:
            observed &= ~days.isin(censored[sku_id])[None, :]
        panels.append(
            SkuPanel(
                sku_id=str(sku_id),
                regions=[str(r) for r in units.index],
                days=days,
                units=np.nan_to_num(units.to_numpy(), nan=0.0),
                observed=observed,
                log_price=log_price,
                price_seen=~np.isnan(price.to_numpy()),
                counts=np.nan_to_num(counts.to_numpy(), nan=0.0),
            )
        )
    return panels


def _censored_days(stockout_days: pd.DataFrame | None) -> dict[str, pd.DatetimeIndex]:
    if stockout_days is None or stockout_days.empty:
        return {}
    days = stockout_days.assign(ds=pd.to_datetime(stockout_days["ds"]))
    return {sku: pd.DatetimeIndex(g["ds"]) for sku, g in days.groupby("sku_id")}


def _filled_log_relative_price(
    log_price: np.ndarray, units: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """log(price / usual price) per region and day, gaps filled as build_panels describes,
    and where the price of an unseen day cannot be told (region x day, bool)."""
    usual = np.nanmedian(log_price, axis=1, keepdims=True)
    relative = log_price - usual
    weights = np.where(np.isnan(relative), 0.0, np.nan_to_num(units, nan=0.0))
    total = weights.sum(axis=0)
    national = np.where(
        total > 0,
        np.nansum(np.nan_to_num(relative) * weights, axis=0) / np.maximum(total, 1e-12),
        np.nan,
    )
    national = pd.Series(national).ffill().bfill().fillna(0.0).to_numpy()
    seen_gap = pd.DataFrame((relative - national[None, :]).T)
    before = seen_gap.ffill().to_numpy().T
    after = seen_gap.bfill().to_numpy().T
    unknown = np.isnan(relative) & (np.abs(before - after) > PRICE_GAP_TOLERANCE)
    gap = np.nan_to_num(np.where(np.isnan(before), after, before))
    return np.where(np.isnan(relative), national[None, :] + gap, relative), unknown


def _controls_for(panel: SkuPanel, events, category, brand, min_move: float) -> np.ndarray:
    calendar = calendar_controls(panel.days).drop(columns=["trend"], errors="ignore")
    extra = event_controls(
        panel.days, events, panel.sku_id, category, brand, _price_index(panel), min_move
    )
    return pd.concat([calendar, extra], axis=1).to_numpy(dtype=float)


def _price_index(panel: SkuPanel) -> np.ndarray:
    """The SKU's national log relative price per day, weighted by each region's volume."""
    weights = panel.units.sum(axis=1, keepdims=True) + 1e-9
    return (panel.log_price * weights).sum(axis=0) / weights.sum()


@dataclass(frozen=True)
class RegionFit:
    elasticity: np.ndarray  # per region, NaN where the price never moved
    se: np.ndarray
    # Correlation between regions' estimates (shared controls, shocks common to a day).
    correlation: np.ndarray


def fit_panel(panel: SkuPanel, controls: np.ndarray, max_iter: int = 50) -> RegionFit:
    """Negative-binomial panel fit by iteratively reweighted least squares, block by block.

    Shared control coefficients plus, per region, an intercept, a trend slope and (where its
    price moved) an elasticity. The normal equations are assembled from per-region blocks, so
    the cost grows with regions x days x controls, not with its square.
    """
    n_regions, n_days = panel.units.shape
    trend = np.arange(n_days) / 365.25
    moves = np.array(
        [
            np.nanstd(lp[seen]) > 1e-6 if seen.any() else False
            for lp, seen in zip(panel.log_price, panel.price_seen, strict=True)
        ]
    )
    # Region design: intercept, trend, log price (zeroed where the price never moved).
    design = np.zeros((n_regions, n_days, 3))
    design[:, :, 0] = 1.0
    design[:, :, 1] = trend[None, :]
    design[:, :, 2] = np.where(moves[:, None], panel.log_price, 0.0)
    k = controls.shape[1]
    size = k + 3 * n_regions
    ridge = np.zeros(size)
    ridge[:k] = CONTROL_RIDGE
    ridge[k:] = 1e-6
    ridge[k + 1 :: 3] = 1e-3
    ridge[k + 2 :: 3] = np.where(moves, 1e-6, 1.0)  # an unidentified slope stays at zero
    y = panel.response
    mask = panel.observed.astype(float)
    coef = np.zeros(size)
    mean_rate = (y * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
    coef[k::3] = np.log(np.maximum(mean_rate, 1e-3))
    overdispersion = 0.0
    for _ in range(max_iter):
        eta = _linear_predictor(controls, design, coef, k)
        mu = np.exp(np.clip(eta, -30, 30))
        weight = mask * mu / (1 + overdispersion * mu)
        working = eta + (y - mu) / np.maximum(mu, 1e-12)
        normal, rhs = _normal_equations(controls, design, weight, working, ridge)
        new = np.linalg.solve(normal, rhs)
        step = np.max(np.abs(new - coef))
        coef = new
        previous, overdispersion = overdispersion, _overdispersion(y, mu, mask)
        if step < 1e-6 and abs(overdispersion - previous) < 1e-3 * max(previous, 0.01):
            break
    eta = _linear_predictor(controls, design, coef, k)
    mu = np.exp(np.clip(eta, -30, 30))
    variance = mu * (1 + overdispersion * mu)
    normal, _ = _normal_equations(controls, design, mask * mu**2 / variance, eta, ridge)
    n_obs = mask.sum()
    pearson = float((mask * (y - mu) ** 2 / np.maximum(variance, 1e-12)).sum())
    dispersion = max(1.0, pearson / max(n_obs - size, 1.0))
    model_based = np.diag(np.linalg.pinv(normal)) * dispersion
    # The larger of the model-based and day-clustered variances: the sandwich alone is
    # unreliable for a sparse region (few days with sales, scores near zero).
    clustered_covariance = _day_clustered_covariance(
        controls, design, mask * (y - mu) * mu / variance, normal
    )
    clustered = np.diag(clustered_covariance)
    slope_variance = np.maximum(model_based, clustered)
    slope_index = k + 2 + 3 * np.arange(n_regions)
    elasticity = np.where(moves, coef[slope_index], np.nan)
    se = np.where(moves, np.sqrt(np.maximum(slope_variance[slope_index], 0.0)), np.nan)
    slopes = clustered_covariance[np.ix_(slope_index, slope_index)]
    scale = np.sqrt(np.maximum(np.diag(slopes), 1e-300))
    correlation = np.clip(slopes / scale[:, None] / scale[None, :], -1.0, 1.0)
    np.fill_diagonal(correlation, 1.0)
    return RegionFit(elasticity=elasticity, se=se, correlation=correlation)


def _day_clustered_covariance(controls, design, score, normal) -> np.ndarray:
    """Sandwich covariance clustered by day: A^-1 (sum over days of g g') A^-1.

    Shocks shared by all regions on a day (an outage, a viral post) and any misfit of the
    demand shape make days, not SKU x region x days, the independent units; the model-based
    covariance would then claim far too much precision (intervals too narrow).
    """
    k = controls.shape[1]
    n_regions, n_days = score.shape
    per_day = np.zeros((n_days, normal.shape[0]))
    per_day[:, :k] = controls * score.sum(axis=0)[:, None]
    per_day[:, k:] = (design * score[:, :, None]).transpose(1, 0, 2).reshape(n_days, -1)
    bread = np.linalg.pinv(normal)
    meat = per_day.T @ per_day * n_days / max(n_days - 1, 1)
    return bread @ meat @ bread


def _overdispersion(y, mu, mask) -> float:
    """Negative-binomial alpha (variance = mu + alpha mu^2) by moments over counted days.

    Poisson weights would let a few huge promotion-and-holiday days dominate the fit, though
    their relative noise is no smaller than an ordinary day's.
    """
    counted = mask > 0
    if not counted.any():
        return 0.0
    excess = ((y - mu) ** 2 - mu)[counted]
    return float(min(max(excess.sum() / (mu[counted] ** 2).sum(), 0.0), 10.0))


def _linear_predictor(controls, design, coef, k):
    shared = controls @ coef[:k]
    region = np.einsum("rtj,rj->rt", design, coef[k:].reshape(-1, 3))
    return shared[None, :] + region


def _normal_equations(controls, design, weight, working, ridge):
    k = controls.shape[1]
    n_regions = design.shape[0]
    size = k + 3 * n_regions
    normal = np.zeros((size, size))
    rhs = np.zeros(size)
    total_weight = weight.sum(axis=0)
    normal[:k, :k] = controls.T @ (total_weight[:, None] * controls)
    rhs[:k] = controls.T @ (weight * working).sum(axis=0)
    weighted_design = weight[:, :, None] * design
    cross = np.matmul(controls.T[None, :, :], weighted_design)
    blocks = np.matmul(design.transpose(0, 2, 1), weighted_design)
    region_rhs = np.matmul(design.transpose(0, 2, 1), (weight * working)[:, :, None])[:, :, 0]
    for r in range(n_regions):
        at = k + 3 * r
        normal[:k, at : at + 3] = cross[r]
        normal[at : at + 3, :k] = cross[r].T
        normal[at : at + 3, at : at + 3] = blocks[r]
        rhs[at : at + 3] = region_rhs[r]
    normal[np.diag_indices(size)] += ridge
    return normal, rhs


def estimate_elasticities(
    daily: pd.DataFrame,
    skus: pd.DataFrame,
    as_of: dt.date,
    settings: ElasticitySettings | None = None,
    events: pd.DataFrame | None = None,
    stockout_days: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Elasticity per SKU x region (and per SKU with ``region_code = 'ALL'``), with intervals.

    1. Build each SKU's region x day panel (:func:`build_panels`).
    2. Fit the negative-binomial panel with calendar and event controls (:func:`fit_panel`).
    3. Flag price variation: a region's own ('own') when enough days sat far enough from its
       usual price, else borrowed from its SKU ('pooled'), or none anywhere ('none').
    4. Pool: regions towards their SKU, SKUs towards their category (:func:`pool_estimates`).
    """
    settings = settings or ElasticitySettings()
    with _one_blas_thread():
        raw, correlations = _fit_all(daily, skus, as_of, settings, events, stockout_days)
    return pool_estimates(raw, settings.interval_level, correlations, settings.model_error_sd)


def _one_blas_thread():
    """The matrices here are small: threaded BLAS only fights the other steps for the cores
    (ten times slower on a busy 2-core machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _fit_all(daily, skus, as_of, settings, events, stockout_days):
    sku_info = skus.set_index("sku_id")
    rows, correlations = [], {}
    for panel in build_panels(daily, as_of, stockout_days):
        category = _lookup(sku_info, panel.sku_id, "category")
        brand = _lookup(sku_info, panel.sku_id, "brand")
        controls = _controls_for(panel, events, category, brand, settings.min_price_move_pct / 100)
        fit = fit_panel(panel, controls)
        correlations[panel.sku_id] = pd.DataFrame(
            fit.correlation, index=panel.regions, columns=panel.regions
        )
        threshold = np.log1p(settings.min_price_move_pct / 100)
        moved = (np.abs(panel.log_price) >= threshold) & panel.price_seen & panel.observed
        for i, region in enumerate(panel.regions):
            rows.append(
                {
                    "sku_id": panel.sku_id,
                    "region_code": region,
                    "category": category,
                    "raw_elasticity": fit.elasticity[i],
                    "raw_se": fit.se[i],
                    "days_price_moved": int(moved[i].sum()),
                    "history_units": float(panel.units[i].sum()),
                    "history_days": int(panel.observed[i].sum()),
                }
            )
    raw = pd.DataFrame(
        rows,
        columns=[
            "sku_id",
            "region_code",
            "category",
            "raw_elasticity",
            "raw_se",
            "days_price_moved",
            "history_units",
            "history_days",
        ],
    )
    raw["has_own_variation"] = raw["days_price_moved"] >= settings.min_days_moved
    return raw, correlations


def _lookup(info: pd.DataFrame, sku_id: str, column: str):
    if column not in info.columns or sku_id not in info.index:
        return None
    value = info.at[sku_id, column]
    return None if pd.isna(value) else str(value)


def _between_spread(groups: list[tuple[np.ndarray, np.ndarray]]) -> float | None:
    """Pooled DerSimonian-Laird estimate of the between-unit variance across groups."""
    q = df = c = 0.0
    for estimate, se in groups:
        if len(estimate) < 2:
            continue
        w = 1 / se**2
        mean = (w * estimate).sum() / w.sum()
        q += float((w * (estimate - mean) ** 2).sum())
        df += len(estimate) - 1
        c += float(w.sum() - (w**2).sum() / w.sum())
    if df == 0 or c <= 0:
        return None
    return max(0.0, (q - df) / c)


def _combine(
    estimate: np.ndarray, se: np.ndarray, spread_sq: float, correlation: np.ndarray | None = None
) -> tuple[float, float]:
    """Random-effects mean of estimates and its variance (with correlated errors if given)."""
    w = 1 / (se**2 + spread_sq)
    if correlation is None:
        return float((w * estimate).sum() / w.sum()), float(1 / w.sum())
    share = w / w.sum()
    covariance = correlation * se[:, None] * se[None, :] + spread_sq * np.eye(len(se))
    return float(share @ estimate), float(share @ covariance @ share)


def _shrink(estimate, variance, prior_mean, prior_variance):
    precision = 1 / variance + 1 / prior_variance
    return (estimate / variance + prior_mean / prior_variance) / precision, 1 / precision


def pool_estimates(
    raw: pd.DataFrame,
    interval_level: float = 0.9,
    correlations: dict[str, pd.DataFrame] | None = None,
    model_error_sd: float = 0.0,
) -> pd.DataFrame:
    """Empirical Bayes shrinkage: region -> SKU -> category, with intervals.

    ``raw`` has sku_id, region_code, category, raw_elasticity, raw_se (NaN where not
    estimable) and has_own_variation. Returns one row per SKU x region plus one per SKU with
    region_code 'ALL', columns :data:`ELASTICITY_COLUMNS`. Elasticities are capped at 0:
    demand is taken never to rise with its own price. ``correlations`` (per SKU, region x
    region) make a SKU's mean as uncertain as its regions' shared errors leave it.
    ``model_error_sd`` is added (as a variance) to every reported interval: the error of the
    model itself, which no amount of data removes; the shrinkage weights do not use it.
    """
    model_var = float(model_error_sd) ** 2
    estimable = raw[raw["raw_se"].notna() & np.isfinite(raw["raw_se"]) & (raw["raw_se"] > 0)]
    by_sku = {
        sku: (g["raw_elasticity"].to_numpy(), g["raw_se"].to_numpy())
        for sku, g in estimable.groupby("sku_id")
    }
    regions_of = {sku: list(g["region_code"]) for sku, g in estimable.groupby("sku_id")}
    sku_category = raw.groupby("sku_id")["category"].first()
    global_region_spread = _between_spread(list(by_sku.values()))
    region_spread: dict[str, float] = {}
    for category, skus in sku_category.groupby(sku_category.fillna("")):
        spread = _between_spread([by_sku[s] for s in skus.index if s in by_sku])
        spread = spread if spread is not None else global_region_spread
        region_spread[category] = max(
            spread if spread is not None else FALLBACK_SPREAD**2, MIN_REGION_SPREAD**2
        )
    # SKU means (random effects over its regions).
    sku_mean: dict[str, tuple[float, float]] = {}
    for sku, (estimate, se) in by_sku.items():
        spread = region_spread[sku_category.fillna("").get(sku, "")]
        correlation = None
        if correlations is not None and sku in correlations:
            regions = regions_of[sku]
            correlation = correlations[sku].loc[regions, regions].to_numpy()
        sku_mean[sku] = _combine(estimate, se, spread, correlation)
    # Category means and spreads over SKU means; the whole catalogue as fallback.
    all_means = np.array([m for m, _ in sku_mean.values()])
    all_se = np.sqrt(np.array([v for _, v in sku_mean.values()]))
    global_prior = _category_prior(all_means, all_se, (FALLBACK_ELASTICITY, FALLBACK_SPREAD**2))
    category_prior: dict[str, tuple[float, float, float]] = {}
    for category, skus in sku_category.groupby(sku_category.fillna("")):
        members = [sku_mean[s] for s in skus.index if s in sku_mean]
        means = np.array([m for m, _ in members])
        ses = np.sqrt(np.array([v for _, v in members]))
        category_prior[category] = _category_prior(means, ses, global_prior[:2], global_prior)
    z = float(norm.ppf(0.5 + interval_level / 2))
    sku_has_variation = raw.groupby("sku_id")["has_own_variation"].any()
    out = []
    for sku, rows in raw.groupby("sku_id", sort=True):
        category = sku_category.get(sku)
        prior_mean, prior_var, prior_mean_var = category_prior[
            "" if pd.isna(category) else category
        ]
        if sku in sku_mean:
            # The category mean is itself estimated: its uncertainty widens the prior.
            sku_post, sku_var = _shrink(*sku_mean[sku], prior_mean, prior_var + prior_mean_var)
        else:
            sku_post, sku_var = prior_mean, prior_var + prior_mean_var
        spread = region_spread["" if pd.isna(category) else category]
        varied = bool(sku_has_variation.get(sku, False))
        for row in rows.itertuples(index=False):
            if np.isfinite(row.raw_se) and row.raw_se > 0:
                post, var = _shrink(row.raw_elasticity, row.raw_se**2, sku_post, spread + sku_var)
            else:
                post, var = sku_post, spread + sku_var
            status = "own" if row.has_own_variation else ("pooled" if varied else "none")
            out.append(
                _row(row, post, var + model_var, z, interval_level, status, sku_post, prior_mean)
            )
        total = rows.assign(region_code="ALL").iloc[0]
        total = total.copy()
        total["raw_elasticity"] = sku_mean.get(sku, (np.nan, np.nan))[0]
        total["raw_se"] = np.sqrt(sku_mean.get(sku, (np.nan, np.nan))[1])
        total["days_price_moved"] = int(rows["days_price_moved"].max())
        total["history_units"] = float(rows["history_units"].sum())
        total["history_days"] = int(rows["history_days"].max())
        out.append(
            _row(
                total,
                sku_post,
                sku_var + model_var,
                z,
                interval_level,
                "own" if varied else "none",
                sku_post,
                prior_mean,
            )
        )
    return pd.DataFrame(out, columns=ELASTICITY_COLUMNS)


def _category_prior(means, ses, fallback, global_prior=None) -> tuple[float, float, float]:
    """(mean, between-SKU variance, variance of the mean) for a set of SKU means."""
    if len(means) < 2:
        if global_prior is not None:
            return global_prior
        return fallback[0], fallback[1], 0.0
    spread = _between_spread([(means, ses)])
    spread = max(spread if spread is not None else 0.0, MIN_SKU_SPREAD**2)
    mean, mean_var = _combine(means, ses, spread)
    return mean, spread, mean_var


def _row(row, post, var, z, level, status, sku_post, category_mean) -> dict:
    sd = float(np.sqrt(var))
    get = row._asdict() if hasattr(row, "_asdict") else dict(row)
    return {
        "sku_id": get["sku_id"],
        "region_code": get["region_code"],
        "category": get["category"],
        "elasticity": min(post, 0.0),
        "elasticity_low": min(post - z * sd, 0.0),
        "elasticity_high": min(post + z * sd, 0.0),
        "elasticity_se": sd,
        "interval_level": level,
        "raw_elasticity": get["raw_elasticity"],
        "raw_se": get["raw_se"],
        "sku_elasticity": sku_post,
        "category_elasticity": category_mean,
        "price_variation": status,
        "days_price_moved": get["days_price_moved"],
        "history_units": get["history_units"],
        "history_days": get["history_days"],
    }
