"""Prepaid funding for direct top-ups: how long each supplier balance lasts and when to top up.

Direct top-ups (话费, 流量, memberships) hold no stock: the supplier debits a prepaid balance
per order, and an empty balance stops sales just like an empty shelf. Per supplier:

- ``daily_cost``: forecast units x unit cost, summed over its direct-top-up SKUs;
- ``safety_buffer = z(service level) * sigma`` of the cost over one funding cycle;
- ``topup_by``: the first day the projected balance would dip under the safety buffer, i.e.
  the day the money must have arrived;
- ``topup_amount``: enough for ``cycle_days`` of cost from that day on, plus the buffer,
  rounded up to whole ``round_to`` CNY.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cardpulse.settings import DEFAULT_FORECAST
from forecasting.restock.card_keys import MAX_COVER_DAYS, z_score
from forecasting.restock.demand_paths import DemandPath, demand_paths
from forecasting.restock.output_schema import FUNDING_SCHEMA
from forecasting.restock.reasons import event_clause
from forecasting.restock.upcoming_events import Event, upcoming_events

DIRECT_TOPUP = "direct_topup"

FUNDING_COLUMNS = list(FUNDING_SCHEMA)


@dataclass(frozen=True)
class FundingPolicy:
    service_level: float = 0.95
    # A top-up pays for this many days of cost: fewer transfers vs. less cash parked.
    cycle_days: int = 7
    round_to: float = 100.0


@dataclass(frozen=True)
class FundingDecision:
    daily_cost: float
    days_of_cover: float | None
    safety_buffer: float
    topup_day: int | None
    topup_amount: float


def cost_path(paths: list[DemandPath], unit_costs: list[float], days: int) -> DemandPath:
    """The supplier's daily cost of goods: sum of units x cost; sigmas add in quadrature."""
    mean, variance = np.zeros(days), np.zeros(days)
    start = paths[0].start if paths else dt.date.min
    for path, cost in zip(paths, unit_costs, strict=True):
        extended = path.extended(days)
        mean += extended.mean * cost
        variance += (extended.sigma * cost) ** 2
    return DemandPath(start, mean, np.sqrt(variance))


def decide_topup(
    balance: float, cost: DemandPath, horizon_days: int, policy: FundingPolicy | None = None
) -> FundingDecision:
    """1. Cover: days the balance pays for; 2. buffer over one cycle; 3. the first day within
    the horizon the projected balance dips under the buffer is when a top-up must arrive;
    4. its amount pays the cycle from that day plus the buffer, rounded up."""
    policy = policy or FundingPolicy()
    safety = z_score(policy.service_level) * cost.sigma_over(0, policy.cycle_days)
    days_of_cover = _cover(balance, cost)
    cumulative = np.cumsum(cost.extended(horizon_days + policy.cycle_days).mean)
    short = np.nonzero(balance - cumulative[:horizon_days] < safety)[0]
    if len(short) == 0:
        return FundingDecision(cost.total(0, 7) / 7.0, days_of_cover, safety, None, 0.0)
    day = int(short[0])
    needed = float(cumulative[day + policy.cycle_days - 1]) + safety - balance
    amount = math.ceil(max(0.0, needed) / policy.round_to - 1e-9) * policy.round_to
    return FundingDecision(cost.total(0, 7) / 7.0, days_of_cover, safety, day, float(amount))


def _cover(balance: float, cost: DemandPath) -> float | None:
    if balance <= 0:
        return 0.0
    mean = cost.extended(MAX_COVER_DAYS).mean
    cumulative = np.cumsum(mean)
    day = int(np.searchsorted(cumulative, balance, side="right"))
    if day >= len(mean):
        return None
    before = float(cumulative[day - 1]) if day > 0 else 0.0
    return day + (balance - before) / float(mean[day])


def _money(value: float) -> str:
    return f"¥{value:,.0f}"


def funding_reason(
    decision: FundingDecision, balance: float, as_of: dt.date, policy: FundingPolicy,
    events: list[Event] = (),
) -> tuple[str, str]:  # fmt: skip
    """ "balance ¥12,000 covers 4.5 days at ¥2,650/day; top up ¥20,000 to arrive by ..." + zh."""
    daily = _money(decision.daily_cost)
    if decision.days_of_cover is None:
        en, zh = [f"balance {_money(balance)} covers more than a year"], ["余额可用超过一年"]
    else:
        cover = f"{decision.days_of_cover:.1f}"
        en = [f"balance {_money(balance)} covers {cover} days at {daily}/day"]
        zh = [f"余额 {_money(balance)} 可用 {cover} 天（日均成本 {daily}）"]
    if decision.topup_day is None:
        en.append("no top-up needed within the horizon")
        zh.append("预测期内无需充值")
    else:
        by = (as_of + dt.timedelta(days=decision.topup_day)).isoformat()
        amount, safety = _money(decision.topup_amount), _money(decision.safety_buffer)
        en.append(
            f"top up {amount} to arrive by {by} "
            f"({policy.cycle_days} days of cost + {safety} safety)"
        )
        zh.append(f"请在 {by} 前到账充值 {amount}（{policy.cycle_days} 天成本 + {safety} 安全垫）")
    for event in list(events)[:1]:
        clause_en, clause_zh = event_clause(event, as_of)
        en.append(clause_en)
        zh.append(clause_zh)
    return "; ".join(en), "；".join(zh)


def plan_funding(
    skus: pd.DataFrame,
    balances: pd.DataFrame,
    forecast: pd.DataFrame,
    unit_costs: pd.Series,
    as_of: dt.date,
    horizon_days: int = DEFAULT_FORECAST.horizon_days,
    dim_events: pd.DataFrame | None = None,
    policy: FundingPolicy | None = None,
) -> pd.DataFrame:
    """The funding plan: one line per supplier of active direct-top-up SKUs or with a balance.

    1. Each supplier's cost path from its active direct-top-up SKUs' forecasts and unit costs
    (a SKU without a known cost is counted in ``skus_without_cost``, never priced at zero
    silently); 2. the latest balance; 3. the top-up decision and its reason.
    """
    policy = policy or FundingPolicy()
    topup = skus[(skus["delivery_type"] == DIRECT_TOPUP) & skus["active"].fillna(False)]
    paths = demand_paths(forecast, as_of, horizon_days)
    latest = balances.set_index("supplier_id") if not balances.empty else pd.DataFrame()
    supplier_ids = sorted(set(topup["supplier_id"].dropna()) | set(latest.index))
    events = upcoming_events(as_of, horizon_days, dim_events)
    rows = []
    for supplier_id in supplier_ids:
        supplier_skus = topup[topup["supplier_id"] == supplier_id]
        sku_paths, sku_costs, missing_cost = [], [], 0
        for sku_id in supplier_skus["sku_id"]:
            cost = unit_costs.get(sku_id, np.nan)
            if sku_id not in paths:
                continue
            if pd.isna(cost):
                missing_cost += 1
                continue
            sku_paths.append(paths[sku_id])
            sku_costs.append(float(cost))
        cost = cost_path(sku_paths, sku_costs, horizon_days)
        row = {
            "supplier_id": supplier_id, "as_of": as_of, "service_level": policy.service_level,
            "topup_skus": len(supplier_skus), "skus_without_cost": missing_cost,
        }  # fmt: skip
        if supplier_id not in latest.index:
            en, zh = "no balance snapshot: cannot plan", "无余额快照，无法计划"
            rows.append(
                {
                    **row,
                    "daily_cost": round(cost.total(0, 7) / 7.0, 2),
                    "topup_amount": 0.0,
                    "reason": en,
                    "reason_en": en,
                    "reason_zh": zh,
                }
            )
            continue  # fmt: skip
        balance = float(latest.loc[supplier_id, "balance"])
        decision = decide_topup(balance, cost, horizon_days, policy)
        en, zh = funding_reason(decision, balance, as_of, policy, events)
        if missing_cost:
            en += f"; {missing_cost} SKUs have no known unit cost"
            zh += f"；{missing_cost} 个商品成本未知"
        rows.append({
            **row, "balance": balance, "balance_date": latest.loc[supplier_id, "balance_date"],
            "daily_cost": round(decision.daily_cost, 2),
            "days_of_cover": None if decision.days_of_cover is None
            else round(decision.days_of_cover, 2),
            "topup_amount": decision.topup_amount,
            "topup_by": None if decision.topup_day is None
            else as_of + dt.timedelta(days=decision.topup_day),
            "safety_buffer": round(decision.safety_buffer, 2),
            "reason": en, "reason_en": en, "reason_zh": zh,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=FUNDING_COLUMNS)
