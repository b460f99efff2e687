"""The card-key restock plan over DataFrames: one line per SKU x supplier (contract
``restock_plan``), plus the columns the purchase orders and alerts need."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from cardpulse.settings import DEFAULT_FORECAST
from forecasting.restock.card_keys import (
    KeyStock,
    RestockPolicy,
    SupplierTerms,
    abc_classes,
    decide_card_key_order,
    late_cover,
    plan_day,
)
from forecasting.restock.demand_paths import DemandPath, demand_paths
from forecasting.restock.output_schema import PLAN_SCHEMA
from forecasting.restock.reasons import card_key_reason
from forecasting.restock.upcoming_events import upcoming_events

CARD_KEY = "card_key"

PLAN_COLUMNS = list(PLAN_SCHEMA)
STOCK_RISKS = ("out_now", "before_arrival", "fine")


def stock_risk(plan: pd.DataFrame) -> pd.Series:
    """Per plan line: ``out_now`` (no keys on hand), ``before_arrival`` (the cover ends before
    an order placed today can arrive: days_of_cover < lead time), else ``fine``. The one place
    this rule lives; the dashboard reads the column."""
    on_hand = pd.to_numeric(plan["on_hand"], errors="coerce")
    cover = pd.to_numeric(plan["days_of_cover"], errors="coerce")
    lead = pd.to_numeric(plan["lead_time_days"], errors="coerce").fillna(0)
    risk = np.select([on_hand <= 0, cover < lead], STOCK_RISKS[:2], STOCK_RISKS[2])
    return pd.Series(risk, index=plan.index, dtype=object)


def _no_plan_reason(has_stock: bool, has_forecast: bool) -> tuple[str, str] | None:
    if not has_stock:
        return "no inventory snapshot: cannot plan", "无库存快照，无法计划"
    if not has_forecast:
        return "no demand forecast yet: not ordered", "暂无需求预测，未下单"
    return None


def plan_card_keys(
    skus: pd.DataFrame,
    suppliers: pd.DataFrame,
    inventory: pd.DataFrame,
    forecast: pd.DataFrame,
    as_of: dt.date,
    horizon_days: int = DEFAULT_FORECAST.horizon_days,
    gross_margin: pd.Series | None = None,
    unit_costs: pd.Series | None = None,
    dim_events: pd.DataFrame | None = None,
    policy: RestockPolicy | None = None,
    largest_recent_day: pd.Series | None = None,
    late_delays: Mapping[str, tuple[float, ...]] | None = None,
) -> pd.DataFrame:
    """The restock plan for every card-key SKU.

    1. ABC class from gross margin -> service level; 2. per SKU, the forecast path, the
    latest stock, the supplier's terms and the largest day of recent sales (a floor under
    safety stock) -> a decision; 3. the reason in en and zh.
    ``late_delays`` (supplier_id -> delay distribution, ``deliveries.supplier_delays``)
    sizes the late cover of the suppliers it knows; the others get ``late_buffer_days``.
    Every card-key SKU gets a line: inactive ones and those without stock or forecast say why
    they order nothing, so nothing disappears from the plan silently.
    """
    policy = policy or RestockPolicy()
    card_skus = skus[skus["delivery_type"] == CARD_KEY].sort_values("sku_id")
    margin = (gross_margin if gross_margin is not None else pd.Series(dtype=float)).reindex(
        card_skus["sku_id"]
    )
    classes = abc_classes(margin.fillna(0.0), policy.abc_cutoffs)
    paths = demand_paths(forecast, as_of, horizon_days)
    stock_by_sku = inventory.set_index("sku_id") if not inventory.empty else pd.DataFrame()
    terms_by_supplier = suppliers.set_index("supplier_id") if not suppliers.empty else None
    events = upcoming_events(as_of, horizon_days, dim_events)
    costs = unit_costs if unit_costs is not None else pd.Series(dtype=float)
    peaks = largest_recent_day if largest_recent_day is not None else pd.Series(dtype=float)

    rows = []
    for sku in card_skus.to_dict("records"):
        sku_id = sku["sku_id"]
        stock_row = stock_by_sku.loc[sku_id] if sku_id in stock_by_sku.index else None
        supplier_id = sku.get("supplier_id")
        if (supplier_id is None or pd.isna(supplier_id)) and stock_row is not None:
            supplier_id = stock_row.get("supplier_id")
        terms = _terms(terms_by_supplier, supplier_id)
        sku_policy = policy
        learned = None if late_delays is None else late_delays.get(supplier_id)
        if learned is not None:
            sku_policy = dataclasses.replace(policy, late_delay_pmf=tuple(learned))
        active = bool(sku.get("active")) if not pd.isna(sku.get("active")) else False
        shelf_life = sku.get("shelf_life_days")
        shelf_life = None if shelf_life is None or pd.isna(shelf_life) else int(shelf_life)
        path = paths.get(sku_id)
        has_forecast = path is not None
        path = path or DemandPath(as_of, np.zeros(horizon_days), np.zeros(horizon_days))
        abc = classes.get(sku_id, "C")
        service_level = policy.service_level(abc)
        unit_cost = costs.get(sku_id, np.nan)
        row = {
            "sku_id": sku_id, "supplier_id": supplier_id, "as_of": as_of,
            "service_level": service_level, "abc_class": abc,
            "lead_time_days": terms.lead_days, "min_order_qty": terms.moq,
            "batch_size": terms.batch, "shelf_life_days": shelf_life,
            "unit_cost": float(unit_cost) if not pd.isna(unit_cost) else np.nan,
            "is_active": active, "has_forecast": has_forecast,
        }  # fmt: skip
        if stock_row is None:
            reason_en, reason_zh = (
                ("inactive SKU: not reordered", "已下架，不补货")
                if not active
                else _no_plan_reason(False, has_forecast)
            )
            # What a decision would hold, were there stock to decide on.
            late_days = late_cover(sku_policy, terms, path, terms.lead_days + policy.review_days)[1]
            rows.append({**row, "order_qty": 0, "reason": reason_en, "reason_en": reason_en,
                         "reason_zh": reason_zh, "late_cover_days": late_days})  # fmt: skip
            continue
        stock = KeyStock(
            int(stock_row["on_hand"]), int(stock_row["on_order"]), int(stock_row["expiring_7d"])
        )
        decision = decide_card_key_order(
            stock,
            path,
            terms,
            service_level,
            shelf_life,
            active and has_forecast,
            sku_policy,
            largest_recent_day=peaks.get(sku_id),
        )
        sku_events = [event for event in events if event.applies_to(sku)]
        reason_en, reason_zh = card_key_reason(
            decision, as_of, active=active, shelf_life_days=shelf_life,
            moq=terms.moq, batch=terms.batch, events=sku_events,
        )  # fmt: skip
        if active and not has_forecast:
            reason_en, reason_zh = _no_plan_reason(True, False)
        rows.append({
            **row,
            "on_hand": stock.on_hand, "on_order": stock.on_order,
            "expiring_7d": stock.expiring_7d, "usable_position": decision.position,
            "daily_demand": round(decision.daily_demand, 3),
            "days_of_cover": None if decision.days_of_cover is None
            else round(decision.days_of_cover, 2),
            "stockout_date": plan_day(as_of, decision.stockout_day),
            "safety_stock": round(decision.safety_stock, 2),
            "reorder_point": round(decision.reorder_point, 2),
            "order_qty": decision.order_qty,
            # No deadline for a SKU that will not be reordered (inactive or unforecast).
            "order_by": plan_day(as_of, decision.order_by_day)
            if active and has_forecast
            else None,
            "expiry_cap": decision.expiry_cap,
            "order_cost": round(decision.order_qty * row["unit_cost"], 2)
            if not pd.isna(row["unit_cost"]) else np.nan,
            "inventory_date": stock_row.get("inventory_date"),
            "late_cover_days": decision.late_cover_days,
            "reason": reason_en, "reason_en": reason_en, "reason_zh": reason_zh,
        })  # fmt: skip
    plan = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    plan["stock_risk"] = stock_risk(plan)
    return plan.astype({"order_qty": "int64"})


def _terms(terms_by_supplier: pd.DataFrame | None, supplier_id) -> SupplierTerms:
    if (
        terms_by_supplier is None
        or supplier_id is None
        or supplier_id not in terms_by_supplier.index
    ):
        return SupplierTerms()
    row = terms_by_supplier.loc[supplier_id]
    return SupplierTerms(
        row.get("lead_time_hours"), row.get("min_order_qty"), row.get("batch_size")
    )
