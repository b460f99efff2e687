"""Profit-maximising prices per SKU x region under the guardrails.

Demand at a price p is the horizon's expected units at the current price p0 times
``(p / p0) ** elasticity``; expected gross profit is ``(p - unit_cost) * units``. Among the
prices the guardrails allow (with an allowed ending), the one with the highest expected
profit wins; ties go to the price closest to the current one. Where elasticity could not be
measured, the current price stays and a small price test is suggested instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from statistics import NormalDist

import numpy as np
import pandas as pd

from cardpulse.settings import DEFAULT_FORECAST
from forecasting.pricing.guardrails import (
    GUARDRAIL_LABELS,
    Guardrails,
    PriceSituation,
    PricingConfig,
    allowed_prices,
    candidate_prices,
    price_bounds,
)
from forecasting.pricing.output_schema import RECOMMENDATION_SCHEMA

# Keys expiring within this many days are written off if the price leaves them unsold.
EXPIRY_WINDOW_DAYS = 7

RECOMMENDATION_COLUMNS = list(RECOMMENDATION_SCHEMA)


def expected_profit(
    price,
    current_price,
    unit_cost,
    elasticity,
    units_at_current=1.0,
    expiring_units=0.0,
    expiry_window_units=0.0,
):
    """Expected gross profit at ``price``: (price - cost) x units x (price / current)^e, less
    the cost of the expiring keys the price leaves unsold by their expiry date:
    cost x max(0, expiring - window units x (price / current)^e). Selling a key that would
    otherwise expire earns its whole price, so a discount can pay where it would not for
    fresh stock."""
    price = np.asarray(price, dtype=float)
    ratio = (price / current_price) ** elasticity
    written_off = np.maximum(expiring_units - expiry_window_units * ratio, 0.0)
    return (price - unit_cost) * units_at_current * ratio - unit_cost * written_off


def situation_profit(situation: PriceSituation, price, elasticity):
    """:func:`expected_profit` for one SKU x region: over the horizon when keys are about to
    expire, else per unit sold today (the best price is the same for any volume)."""
    if situation.expiring_units <= 0 or situation.horizon_units <= 0:
        return expected_profit(price, situation.current_price, situation.unit_cost, elasticity)
    return expected_profit(
        price,
        situation.current_price,
        situation.unit_cost,
        elasticity,
        situation.horizon_units,
        situation.expiring_units,
        situation.expiry_window_units,
    )


def best_price(
    situation: PriceSituation,
    rails: Guardrails,
    elasticity: float,
    interval: tuple[float, float] | None = None,
) -> tuple[float, list[str], tuple[str, ...]]:
    """The allowed price with the highest expected profit, the guardrails that bound it, and
    the guardrails set aside because they conflict with harder ones.

    1. Bounds from the guardrails in priority order (:func:`price_bounds`).
    2. Candidates: allowed endings inside the bounds, and the current price if inside.
    3. With an elasticity ``interval``: when the current price is allowed, keep only prices
       that earn at least as much as it at both ends of the interval (a change is made only
       when it pays whatever the true elasticity within the interval).
    4. Highest expected profit wins; ties go to the price nearest the current one.
    5. A guardrail bounds the price when the profit would still rise past the bound it sets;
       the ending rule bounds it when snapping moved the price more than 1 % from the best
       price the bounds allow.
    """
    bounds = price_bounds(situation, rails)
    price0, cost = situation.current_price, situation.unit_cost
    candidates, ending_set_aside = allowed_prices(situation, rails)
    hit: list[str] = []
    if ending_set_aside:
        price = float(candidates[np.argmax(situation_profit(situation, candidates, elasticity))])
        return price, [], (*bounds.conflicts, "price_ending")
    allowed = candidates
    if interval is not None and np.isclose(candidates, price0, atol=0.005).any():
        safe = np.ones(candidates.size, dtype=bool)
        for end in interval:
            gain = situation_profit(situation, candidates, end) - situation_profit(
                situation, price0, end
            )
            safe &= gain >= -1e-9 * max(abs(price0 - cost), 1.0)
        candidates = candidates[safe]
    chosen = _most_profitable(situation, candidates, elasticity)
    if not math.isclose(chosen, _most_profitable(situation, allowed, elasticity), abs_tol=0.005):
        hit.append("elasticity_interval")
    slope_high = _profit_slope(bounds.high, cost, elasticity)
    slope_low = _profit_slope(bounds.low, cost, elasticity)
    if math.isfinite(bounds.high) and chosen == allowed.max() and slope_high > 0:
        hit += bounds.names_at("high")
    if chosen == allowed.min() and slope_low < 0:
        hit += bounds.names_at("low")
    ideal = _unconstrained_best(cost, elasticity)
    clipped = min(max(ideal, bounds.low), bounds.high)
    snapped = math.isfinite(clipped) and abs(chosen - clipped) > 0.01 * clipped
    if snapped and "elasticity_interval" not in hit:
        hit.append("price_ending")
    if situation.has_expiring_surplus and chosen < price0 * (1 - rails.max_change_pct / 100):
        hit.append("expiring_stock")
    return chosen, list(dict.fromkeys(hit)), bounds.conflicts


def _most_profitable(situation: PriceSituation, candidates, elasticity) -> float:
    """Highest expected profit; ties go to the price nearest the current one."""
    profit = situation_profit(situation, candidates, elasticity)
    best = candidates[np.isclose(profit, profit.max(), rtol=1e-12, atol=1e-12)]
    return float(best[np.argmin(np.abs(best - situation.current_price))])


def nearest_allowed_price(
    situation: PriceSituation, rails: Guardrails
) -> tuple[float, list[str], tuple[str, ...]]:
    """The current price when the guardrails allow it, else the allowed price nearest to it
    (used where elasticity is unknown: only the guardrails move the price)."""
    bounds = price_bounds(situation, rails)
    candidates, ending_set_aside = allowed_prices(situation, rails)
    price0 = situation.current_price
    chosen = float(candidates[np.argmin(np.abs(candidates - price0))])
    conflicts = (*bounds.conflicts, "price_ending") if ending_set_aside else bounds.conflicts
    if math.isclose(chosen, price0, abs_tol=0.005):
        return price0, [], conflicts
    side = "low" if chosen > price0 else "high"
    return chosen, bounds.names_at(side), conflicts


def _profit_slope(price: float, cost: float, elasticity: float) -> float:
    """d log(profit) / d price; positive means a higher price would earn more."""
    if not math.isfinite(price) or price <= cost:
        return math.inf
    return 1 / (price - cost) + elasticity / price


def _unconstrained_best(cost: float, elasticity: float) -> float:
    """The textbook optimum c * e / (1 + e); without a limit when demand is inelastic."""
    if elasticity < -1:
        return cost * elasticity / (1 + elasticity)
    return math.inf


def recommend_prices(
    items: pd.DataFrame,
    elasticities: pd.DataFrame,
    config: PricingConfig,
    as_of: dt.date,
    horizon_days: int = DEFAULT_FORECAST.horizon_days,
) -> pd.DataFrame:
    """One recommendation per SKU x region.

    ``items``: sku_id, region_code, category, face_value, current_price, unit_cost,
    horizon_units (expected units over the horizon at the current price), horizon_units_low,
    horizon_units_high, national_price, days_of_cover (NaN = unknown / not stocked),
    has_expiring_surplus. ``elasticities``: the output of ``estimate_elasticities``.

    1. Join each item to its elasticity; a SKU x region without one borrows its SKU's.
    2. No price variation, or an interval wider than the configured limit: keep the price and
       suggest a price test.
    3. Otherwise the best price under the guardrails (:func:`best_price`), with the expected
       change in units and profit and a reason in English and Chinese.
    """
    joined = _join_elasticities(items, elasticities)
    settings = config.elasticity
    out = []
    for row in joined.itertuples(index=False):
        if not _has_price_and_cost(row):
            out.append(_unpriced_row(row, as_of, horizon_days))
            continue
        rails = config.guardrails_for(row.category)
        situation = PriceSituation(
            current_price=float(row.current_price),
            unit_cost=float(row.unit_cost),
            category=row.category,
            face_value=_number(row.face_value),
            national_price=_number(row.national_price),
            days_of_cover=_number(row.days_of_cover),
            has_expiring_surplus=bool(row.has_expiring_surplus),
            expiring_units=_number(getattr(row, "expiring_units", None)) or 0.0,
            expiry_window_units=float(row.horizon_units)
            * min(EXPIRY_WINDOW_DAYS / horizon_days, 1.0),
            horizon_units=float(row.horizon_units),
        )
        width = interval_width(row)
        measurable = row.price_variation != "none" and width <= settings.max_interval_width
        if measurable:
            interval = (row.elasticity_low, row.elasticity_high)
            price, hit, conflicts = best_price(situation, rails, row.elasticity, interval)
            test_price = np.nan
        else:
            price, hit, conflicts = nearest_allowed_price(situation, rails)
            hit = ["no_variation", *hit]
            # Test from where the guardrails leave the price, not from where it was.
            moved = dataclasses.replace(situation, current_price=price)
            test_price = _test_price(moved, rails, settings.price_test_pct)
        out.append(
            _recommendation_row(
                row,
                situation,
                price,
                hit,
                conflicts,
                test_price,
                measurable,
                width,
                settings,
                as_of,
                horizon_days,
            )
        )
    return pd.DataFrame(out, columns=RECOMMENDATION_COLUMNS)


def _join_elasticities(items: pd.DataFrame, elasticities: pd.DataFrame) -> pd.DataFrame:
    wanted = ["elasticity", "elasticity_low", "elasticity_high", "price_variation"]
    # How wide the interval was before the cap at 0 (see ``interval_width``), when known.
    wanted += [c for c in ("elasticity_se", "interval_level") if c in elasticities.columns]
    regional = elasticities[elasticities["region_code"] != "ALL"]
    national = elasticities[elasticities["region_code"] == "ALL"]
    joined = items.merge(
        regional[["sku_id", "region_code", *wanted]], on=["sku_id", "region_code"], how="left"
    )
    fallback = items[["sku_id"]].merge(national[["sku_id", *wanted]], on="sku_id", how="left")
    for column in wanted:
        joined[column] = joined[column].where(joined[column].notna(), fallback[column].to_numpy())
    joined["price_variation"] = joined["price_variation"].fillna("none")
    for column in wanted[:3]:
        joined[column] = joined[column].astype(float)
    joined.loc[joined["elasticity"].isna(), ["elasticity_low", "elasticity_high"]] = np.nan
    return joined


def _has_price_and_cost(row) -> bool:
    price, cost = _number(row.current_price), _number(row.unit_cost)
    return price is not None and price > 0 and cost is not None and cost >= 0


def _unpriced_row(row, as_of, horizon_days) -> dict:
    """A SKU x region without a known current price or unit cost: said so, never dropped."""
    record = dict.fromkeys(RECOMMENDATION_COLUMNS, np.nan)
    record.update(
        sku_id=row.sku_id,
        region_code=row.region_code,
        as_of=as_of,
        current_price=_number(row.current_price),
        recommended_price=_number(row.current_price),
        unit_cost=_number(row.unit_cost),
        elasticity=row.elasticity,
        elasticity_low=row.elasticity_low,
        elasticity_high=row.elasticity_high,
        guardrails_hit="",
        guardrail_conflicts="",
        reason="No recommendation: the unit cost (or current price) is unknown.",
        reason_zh="暂不建议调价：缺少进货成本（或当前售价）。",
        action="no_cost",
        category=row.category,
        face_value=_number(row.face_value),
        national_price=_number(row.national_price),
        price_variation=row.price_variation,
        horizon_days=horizon_days,
        horizon_units=float(row.horizon_units),
        horizon_units_low=float(row.horizon_units_low),
        horizon_units_high=float(row.horizon_units_high),
        days_of_cover=_number(row.days_of_cover),
        has_expiring_surplus=bool(row.has_expiring_surplus),
    )
    return record


def _number(value) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def _test_price(situation: PriceSituation, rails: Guardrails, test_pct: float) -> float:
    """A small upward test price inside the guardrails (or downward if up is not allowed)."""
    bounds = price_bounds(situation, rails)
    candidates = candidate_prices(bounds, rails, situation.current_price)
    candidates = candidates[~np.isclose(candidates, situation.current_price)]
    if candidates.size == 0:
        return np.nan
    target = situation.current_price * (1 + test_pct / 100)
    return float(candidates[np.argmin(np.abs(candidates - target))])


def interval_width(row) -> float:
    """How uncertain an elasticity is: its interval's width before the cap at 0. An estimate
    whose whole interval lies above 0 (demand rising with price, from a handful of sales) is
    capped to ``[0, 0]``, which would read as certain; ``elasticity_se`` still says how wide
    it was."""
    capped = float(row.elasticity_high - row.elasticity_low)
    se = _number(getattr(row, "elasticity_se", None))
    level = _number(getattr(row, "interval_level", None))
    if se is None or level is None or not 0 < level < 1:
        return capped
    return max(capped, 2 * NormalDist().inv_cdf(0.5 + level / 2) * se)


def _recommendation_row(
    row,
    situation,
    price,
    hit,
    conflicts,
    test_price,
    measurable,
    width,
    settings,
    as_of,
    horizon_days,
) -> dict:
    price0, cost = situation.current_price, situation.unit_cost
    # Where the guardrails moved an unmeasured price, the expected change still uses the best
    # estimate there is (borrowed from the SKU or category): assuming no reaction at all would
    # promise the whole price rise as profit.
    elasticity = row.elasticity if np.isfinite(row.elasticity) else 0.0
    units_ratio = (price / price0) ** elasticity
    units_now = float(row.horizon_units)
    expiring = (situation.expiring_units, situation.expiry_window_units)
    profit_now = float(expected_profit(price0, price0, cost, elasticity, units_now, *expiring))
    profit_new = float(expected_profit(price, price0, cost, elasticity, units_now, *expiring))
    profit_change_pct = (profit_new - profit_now) / profit_now * 100 if profit_now > 0 else np.nan
    action = (
        "test"
        if not measurable
        else ("raise" if price > price0 + 0.005 else "lower" if price < price0 - 0.005 else "hold")
    )
    reason_en, reason_zh = explain(
        action,
        price0,
        price,
        row.elasticity,
        row.elasticity_low,
        row.elasticity_high,
        (units_ratio - 1) * 100,
        profit_change_pct,
        hit,
        conflicts,
        test_price,
        settings,
        row.price_variation,
        width,
    )
    return {
        "sku_id": row.sku_id,
        "region_code": row.region_code,
        "as_of": as_of,
        "current_price": round(price0, 2),
        "recommended_price": round(price, 2),
        "unit_cost": round(cost, 2),
        "elasticity": row.elasticity,
        "elasticity_low": row.elasticity_low,
        "elasticity_high": row.elasticity_high,
        "expected_units_change_pct": (units_ratio - 1) * 100,
        "expected_profit_change_pct": profit_change_pct,
        "margin_pct": (price - cost) / price * 100 if price > 0 else np.nan,
        "guardrails_hit": ",".join(hit),
        "reason": reason_en,
        "reason_zh": reason_zh,
        "action": action,
        "category": row.category,
        "face_value": _number(row.face_value),
        "national_price": _number(row.national_price),
        "price_variation": row.price_variation,
        "price_test_price": test_price,
        "guardrail_conflicts": ",".join(conflicts),
        "horizon_days": horizon_days,
        "horizon_units": units_now,
        "horizon_units_low": float(row.horizon_units_low),
        "horizon_units_high": float(row.horizon_units_high),
        "expected_units": units_now * units_ratio,
        "expected_profit": profit_new,
        "current_profit": profit_now,
        "expected_profit_change": profit_new - profit_now,
        "days_of_cover": _number(row.days_of_cover),
        "has_expiring_surplus": bool(row.has_expiring_surplus),
        "expiring_units": situation.expiring_units,
    }


def explain(
    action,
    price0,
    price,
    elasticity,
    low,
    high,
    units_pct,
    profit_pct,
    hit,
    conflicts,
    test_price,
    settings,
    variation,
    width,
) -> tuple[str, str]:
    """A plain-words reason for one recommendation, in English and in Chinese."""
    if action == "test":
        if variation == "none":
            why_en = "the price never varied enough to measure how buyers respond"
            why_zh = "价格从未充分变动，无法判断买家对价格的反应"
        else:
            why_en = f"the elasticity is too uncertain (interval width {width:.2f})"
            why_zh = f"价格弹性不确定性过大（区间宽度 {width:.2f}）"
        moved_en = moved_zh = ""
        if abs(price - price0) > 0.005:
            moved_en = f" Moved ¥{price0:.2f} → ¥{price:.2f} to meet the guardrails."
            moved_zh = f"为满足护栏规则，价格由 ¥{price0:.2f} 调整为 ¥{price:.2f}。"
        if math.isnan(test_price):
            return (
                f"No recommendation: {why_en}; the guardrails leave no room for a test price."
                + moved_en,
                f"暂不建议调价：{why_zh}；护栏规则下没有可用的测试价格。" + moved_zh,
            )
        return (
            f"No recommendation: {why_en}. Suggested test: sell at ¥{test_price:.2f} for "
            f"{settings.price_test_days} days in this region, then re-estimate." + moved_en,
            f"暂不建议调价：{why_zh}。建议在本地区以 ¥{test_price:.2f} 试售 "
            f"{settings.price_test_days} 天后重新评估。" + moved_zh,
        )
    band = f"{elasticity:.2f} [{low:.2f}, {high:.2f}]"
    if abs(elasticity) < 1:
        feel_en, feel_zh = "buyers barely react to price", "买家对价格不敏感"
    else:
        feel_en, feel_zh = "buyers react strongly to price", "买家对价格较敏感"
    profit_en = "" if math.isnan(profit_pct) else f", profit {profit_pct:+.1f}%"
    profit_zh = "" if math.isnan(profit_pct) else f"，毛利 {profit_pct:+.1f}%"
    if action == "hold":
        head_en = f"Keep ¥{price0:.2f}: already the most profitable allowed price"
        head_zh = f"维持 ¥{price0:.2f}：已是护栏内毛利最高的价格"
    else:
        verb_en, verb_zh = ("Raise", "提价") if action == "raise" else ("Lower", "降价")
        head_en = f"{verb_en} ¥{price0:.2f} → ¥{price:.2f}"
        head_zh = f"{verb_zh} ¥{price0:.2f} → ¥{price:.2f}"
    text_en = (
        f"{head_en}; {feel_en} (elasticity {band}); expected units {units_pct:+.1f}%{profit_en}."
    )
    text_zh = f"{head_zh}；{feel_zh}（弹性 {band}）；预计销量 {units_pct:+.1f}%{profit_zh}。"
    if hit:
        text_en += " Bounded by: " + "; ".join(GUARDRAIL_LABELS[h][0] for h in hit) + "."
        text_zh += "受限于：" + "；".join(GUARDRAIL_LABELS[h][1] for h in hit) + "。"
    if conflicts:
        text_en += (
            " Set aside (conflicts with stricter rules): "
            + "; ".join(GUARDRAIL_LABELS[c][0] for c in conflicts)
            + "."
        )
        text_zh += (
            "与更高优先级规则冲突而放宽："
            + "；".join(GUARDRAIL_LABELS[c][1] for c in conflicts)
            + "。"
        )
    return text_en, text_zh
