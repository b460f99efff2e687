"""A small published snapshot with every table the dashboard reads (docs/interfaces.md).

Two merchant trees make isolation visible: M001 with sub-agents M002 and M003 (M003 under
M002), and M004 with sub-agent M005. Only the M004 tree sells ``SKU-SECRET``, and its orders
are far bigger, so any leak shows up in names and totals.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

LAST_DAY = date(2025, 10, 31)
DAYS = 120
FIRST_DAY = LAST_DAY - timedelta(days=DAYS - 1)

MERCHANTS = pd.DataFrame(
    {
        "merchant_id": ["M001", "M002", "M003", "M004", "M005"],
        "name": ["星河卡盟", "星河二级代理", "星河三级代理", "竞品发卡站", "竞品代理"],
        "tier": ["gold", "silver", "bronze", "gold", "silver"],
        "parent_merchant_id": [None, "M001", "M002", None, "M004"],
        "region_code": ["CN-GD", "CN-GD", "CN-ZJ", "CN-BJ", "CN-SH"],
        "joined_at": pd.to_datetime(
            ["2023-01-05", "2023-03-01", "2023-06-01", "2022-11-11", "2024-02-02"]
        ),
    }
)
TREES = {
    "M001": ["M001", "M002", "M003"],
    "M002": ["M002", "M003"],
    "M003": ["M003"],
    "M004": ["M004", "M005"],
    "M005": ["M005"],
}

SKUS = pd.DataFrame(
    {
        "sku_id": ["SKU-QQ100", "SKU-WOW60", "SKU-CM50", "SKU-IQY-M", "SKU-WIN11", "SKU-SECRET"],
        "name": [
            "Q币 100 元",
            "魔兽点卡 60 元",
            "移动话费 50 元",
            "爱奇艺月卡",
            "Windows 11 专业版",
            "机密礼品卡",
        ],
        "category": [
            "game_card",
            "game_card",
            "mobile_topup",
            "video_vip",
            "software_license",
            "gift_card",
        ],
        "brand": ["腾讯", "网易", "中国移动", "爱奇艺", "Microsoft", "Secret"],
        "face_value": [100, 60, 50, 25, 1299, 500],
        "delivery_type": [
            "card_key",
            "card_key",
            "direct_topup",
            "card_key",
            "card_key",
            "card_key",
        ],
        "supplier_id": ["SUP-A", "SUP-A", "SUP-B", "SUP-C", "SUP-C", "SUP-A"],
        "shelf_life_days": [365, 180, None, 90, None, 30],
        "active": [True] * 6,
    }
)
SUPPLIERS = pd.DataFrame(
    {
        "supplier_id": ["SUP-A", "SUP-B", "SUP-C"],
        "name": ["华南卡密批发", "话费直充通道", "数字会员供应"],
        "lead_time_hours": [48.0, 1.0, 120.0],
        "min_order_qty": [100, 1, 50],
        "batch_size": [50, 1, 10],
    }
)
REGIONS = ["CN-GD", "CN-ZJ", "CN-BJ", "CN-SH", "CN-SC", "UNKNOWN"]
CHANNELS = ["web", "api", "mini_program", "douyin"]
ALL_TABLES = [
    "fct_daily_merchant_sales",
    "fct_daily_sku_sales",
    "fct_merchant_sku_share",
    "fct_orders",
    "dim_skus",
    "dim_merchants",
    "dim_merchant_hierarchy",
    "dim_suppliers",
    "fct_supplier_performance",
    "fct_inventory_daily",
    "fct_supplier_balance_daily",
    "dim_events",
    "demand_forecast",
    "forecast_backtest",
    "merchant_demand_forecast",
    "restock_plan",
    "funding_plan",
    "price_recommendations",
    "build_info",
    "dbt_results",
]


def hierarchy() -> pd.DataFrame:
    rows = []
    for ancestor, members in TREES.items():
        for depth, member in enumerate(members):
            rows.append(
                {
                    "ancestor_merchant_id": ancestor,
                    "merchant_id": member,
                    "depth": 0 if member == ancestor else depth,
                }
            )
    return pd.DataFrame(rows)


def merchant_sales(seed: int = 7) -> pd.DataFrame:
    """Daily rows per merchant x SKU x region x channel; the M004 tree sells 50x more."""
    rng = np.random.default_rng(seed)
    rows = []
    prices = dict(zip(SKUS["sku_id"], [98.0, 57.0, 49.5, 19.8, 899.0, 480.0], strict=True))
    for offset in range(DAYS):
        day = FIRST_DAY + timedelta(days=offset)
        for merchant in MERCHANTS["merchant_id"]:
            big = merchant in ("M004", "M005")
            sold = list(SKUS["sku_id"][:5]) + (["SKU-SECRET"] if big else [])
            for sku in sold:
                region = REGIONS[rng.integers(len(REGIONS))]
                channel = CHANNELS[rng.integers(len(CHANNELS))]
                paid = int(rng.integers(1, 6)) * (50 if big else 1)
                units = paid * (2 if sku == "SKU-QQ100" else 1)
                gross = round(units * prices[sku], 2)
                refunded = int(rng.binomial(paid, 0.03))
                failed = int(rng.binomial(paid, 0.02))
                rows.append(
                    {
                        "merchant_id": merchant,
                        "order_date": day,
                        "sku_id": sku,
                        "region_code": region,
                        "channel": channel,
                        "orders": paid + 1,
                        "paid_orders": paid,
                        "units": units,
                        "gross_revenue": gross,
                        "net_revenue": round(gross * (1 - refunded / max(paid, 1)), 2),
                        "gross_margin": round(gross * 0.08, 2),
                        "refunded_orders": refunded,
                        "failed_orders": failed,
                        "delivered_orders": paid - failed,
                        "delivery_seconds_sum": float((paid - failed) * rng.integers(5, 300)),
                        "delivery_count": paid - failed,
                    }
                )
    return pd.DataFrame(rows)


def sku_sales(sales: pd.DataFrame) -> pd.DataFrame:
    grouped = sales.groupby(["sku_id", "region_code", "order_date"], as_index=False).agg(
        units=("units", "sum"),
        orders=("paid_orders", "sum"),
        gross_revenue=("gross_revenue", "sum"),
        gross_margin=("gross_margin", "sum"),
        net_revenue=("net_revenue", "sum"),
        refunded_units=("refunded_orders", "sum"),
        failed_units=("failed_orders", "sum"),
    )
    grouped["avg_unit_price"] = grouped["gross_revenue"] / grouped["units"]
    grouped["avg_list_price"] = grouped["avg_unit_price"] * 1.05
    grouped["avg_unit_cost"] = grouped["avg_unit_price"] * 0.92
    return grouped


def merchant_sku_share(sales: pd.DataFrame, days: int = 28) -> pd.DataFrame:
    """dbt's fct_merchant_sku_share of these sales: units per merchant x SKU over the last
    ``days`` order days, beside every merchant's units of the SKU."""
    end = sales["order_date"].max()
    start = end - timedelta(days=days - 1)
    recent = sales[(sales["order_date"] >= start) & (sales["order_date"] <= end)]
    share = recent.groupby(["merchant_id", "sku_id"], as_index=False)["units"].sum()
    share["sku_units"] = share.groupby("sku_id")["units"].transform("sum")
    share["unit_share"] = share["units"] / share["sku_units"].where(share["sku_units"] > 0)
    share = share.merge(SKUS[["sku_id", "category"]], on="sku_id", how="left")
    return share.assign(window_start=start, window_end=end)


def _forecasts(sales: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """28 days ahead per SKU, around its last four weeks' daily units (weekly wiggle)."""
    as_of = LAST_DAY + timedelta(days=1)
    recent = sales[sales["order_date"] > LAST_DAY - timedelta(days=28)]
    level = recent.groupby("sku_id")["units"].sum() / 28
    rows, backtests = [], []
    for index, sku in enumerate(SKUS["sku_id"]):
        for step in range(28):
            yhat = float(level.get(sku, 1.0)) * (1 + 0.08 * np.sin(2 * np.pi * step / 7))
            rows.append(
                {
                    "sku_id": sku,
                    "region_code": "ALL",
                    "ds": as_of + timedelta(days=step),
                    "yhat": yhat,
                    "yhat_lower": yhat * 0.8,
                    "yhat_upper": yhat * 1.2,
                    "interval_level": 0.8,
                    "model": "prophet",
                    "as_of": as_of,
                }
            )
        for model, wape in (("prophet", 0.21 + index / 100), ("seasonal_naive", 0.35)):
            backtests.append(
                {
                    "sku_id": sku,
                    "region_code": "ALL",
                    "model": model,
                    "wape": wape,
                    "mase": wape * 3,
                    "bias": 0.02 * (index - 2),
                    "interval_coverage": 0.78,
                    "is_selected": model == "prophet",
                }
            )
    return pd.DataFrame(rows), pd.DataFrame(backtests)


def _merchant_forecasts() -> pd.DataFrame:
    """Each merchant's own total (``sku_id = 'ALL'``): 10 units a day per merchant-number."""
    as_of = LAST_DAY + timedelta(days=1)
    rows = []
    for number, merchant in enumerate(MERCHANTS["merchant_id"], start=1):
        for step in range(28):
            yhat = 10.0 * number
            rows.append(
                {
                    "merchant_id": merchant,
                    "sku_id": "ALL",
                    "ds": as_of + timedelta(days=step),
                    "yhat": yhat,
                    "yhat_lower": yhat * 0.7,
                    "yhat_upper": yhat * 1.3,
                    "interval_level": 80,
                    "model": "top_down_28d",
                    "as_of": as_of,
                }
            )
    return pd.DataFrame(rows)


def _plans() -> dict[str, pd.DataFrame]:
    as_of = LAST_DAY + timedelta(days=1)
    restock = pd.DataFrame(
        {
            "sku_id": ["SKU-QQ100", "SKU-WOW60", "SKU-IQY-M", "SKU-WIN11", "SKU-SECRET"],
            "supplier_id": ["SUP-A", "SUP-A", "SUP-C", "SUP-C", "SUP-A"],
            "as_of": [as_of] * 5,
            "on_hand": [0, 30, 500, 12, 800],
            "on_order": [0, 0, 0, 0, 0],
            "daily_demand": [40.0, 20.0, 10.0, 3.0, 15.0],
            "days_of_cover": [0.0, 1.5, 50.0, 4.0, 53.3],
            # As the restock stage rates them (forecasting.restock.plan.stock_risk): 48 h lead
            # time at SUP-A, 120 h at SUP-C.
            "stock_risk": ["out_now", "before_arrival", "fine", "before_arrival", "fine"],
            # The restock stage prices every line at its unit cost (its window, once).
            "unit_cost": [95.0, 55.0, 18.0, 600.0, 40.0],
            "stockout_date": [
                as_of,
                as_of + timedelta(days=1),
                as_of + timedelta(days=50),
                as_of + timedelta(days=4),
                as_of + timedelta(days=53),
            ],
            "safety_stock": [60, 30, 15, 5, 20],
            "reorder_point": [140, 70, 65, 20, 50],
            "order_qty": [300, 150, 0, 30, 0],
            "order_by": [as_of, as_of, None, as_of + timedelta(days=1), None],
            "service_level": [0.95] * 5,
            "reason": [
                "out of stock",
                "cover 1.5 d < lead time 2.0 d",
                "enough cover",
                "cover 4.0 d < lead time 5.0 d",
                "enough cover",
            ],
            # The restock stage writes every reason in both languages.
            "reason_zh": [
                "已断货",
                "可售 1.5 天 < 供货周期 2.0 天",
                "库存充足",
                "可售 4.0 天 < 供货周期 5.0 天",
                "库存充足",
            ],
            "reason_en": [
                "out of stock",
                "cover 1.5 d < lead time 2.0 d",
                "enough cover",
                "cover 4.0 d < lead time 5.0 d",
                "enough cover",
            ],
        }
    )
    funding = pd.DataFrame(
        {
            "supplier_id": ["SUP-A", "SUP-B", "SUP-C"],
            "as_of": [as_of] * 3,
            "balance": [12000.0, 800.0, 50000.0],
            "daily_cost": [3000.0, 900.0, 400.0],
            "days_of_cover": [4.0, 0.9, 125.0],
            "topup_amount": [0.0, 5500.0, 0.0],
            "topup_by": [None, as_of, None],
            "reason": ["enough", "balance < 1 day", "enough"],
            "reason_zh": ["余额充足", "余额不足 1 天", "余额充足"],
            "reason_en": ["enough", "balance < 1 day", "enough"],
        }
    )
    prices = pd.DataFrame(
        {
            "sku_id": ["SKU-QQ100", "SKU-WOW60", "SKU-CM50", "SKU-IQY-M"],
            "region_code": ["ALL", "ALL", "CN-GD", "ALL"],
            "as_of": [as_of] * 4,
            "current_price": [98.0, 57.0, 49.5, 19.8],
            "recommended_price": [99.5, 55.9, 49.5, 21.5],
            "unit_cost": [92.0, 50.0, 48.8, 12.0],
            "elasticity": [-3.1, -1.8, -6.0, -0.9],
            "elasticity_low": [-4.0, -2.5, -8.0, -1.4],
            "elasticity_high": [-2.2, -1.1, -4.1, -0.4],
            "expected_units_change_pct": [-4.5, 3.6, 0.0, -7.0],
            "expected_profit_change_pct": [12.0, 4.1, 0.0, 18.5],
            "expected_profit_change": [300.0, 50.0, 0.0, 20.0],  # yuan: a different order
            "margin_pct": [7.5, 10.6, 1.4, 44.2],
            "face_value": [100.0, 60.0, 50.0, 25.0],
            "guardrails_hit": ["max_change", "", "min_margin", "max_change,price_ending"],
            "action": ["raise", "lower", "hold", "raise"],
            "reason": [
                "raise within 2% step",
                "lower: elastic",
                "held at margin floor",
                "raise: inelastic",
            ],
            "reason_zh": ["在 2% 步长内提价", "降价：弹性大", "维持在毛利下限", "提价：弹性小"],
            # The pricing stage's extra columns the what-if reads; the last row has none
            # (as in a snapshot holding only the contract's columns).
            "horizon_days": [28, 28, 28, None],
            "horizon_units": [560.0, 280.0, 84.0, None],
            "horizon_units_low": [420.0, 200.0, 50.0, None],
            "horizon_units_high": [700.0, 360.0, 120.0, None],
        }
    )
    return {"restock_plan": restock, "funding_plan": funding, "price_recommendations": prices}


def _operations() -> dict[str, pd.DataFrame]:
    perf, inventory, balances = [], [], []
    for offset in range(DAYS):
        day = FIRST_DAY + timedelta(days=offset)
        for index, supplier in enumerate(SUPPLIERS["supplier_id"]):
            perf.append(
                {
                    "supplier_id": supplier,
                    "order_date": day,
                    "orders": 100 + index * 10,
                    "success_rate": 0.99 - index * 0.02,
                    "failure_rate": 0.01 + index * 0.02,
                    "refund_rate": 0.01,
                    "latency_p50_seconds": 3.0 + index,
                    "latency_p95_seconds": 12.0 + 20 * index,
                }
            )
            balances.append(
                {"supplier_id": supplier, "balance_date": day, "balance": 10000.0 - offset * 10}
            )
        for sku, supplier in zip(SKUS["sku_id"], SKUS["supplier_id"], strict=True):
            on_hand = 0 if (sku == "SKU-QQ100" and offset == DAYS - 1) else 200
            inventory.append(
                {
                    "sku_id": sku,
                    "inventory_date": day,
                    "supplier_id": supplier,
                    "on_hand": on_hand,
                    "on_order": 0,
                    "expiring_7d": 25 if sku == "SKU-IQY-M" else 0,
                    "is_stockout": on_hand == 0,
                }
            )
    events = pd.DataFrame(
        {
            "name": ["双十一预热", "国庆大促"],
            "start_date": [date(2025, 10, 20), date(2025, 9, 28)],
            "end_date": [date(2025, 11, 11), date(2025, 10, 3)],
            "scope": ["all", "category:game_card"],
        }
    )
    return {
        "fct_supplier_performance": pd.DataFrame(perf),
        "fct_inventory_daily": pd.DataFrame(inventory),
        "fct_supplier_balance_daily": pd.DataFrame(balances),
        "dim_events": events,
    }


def _health() -> dict[str, pd.DataFrame]:
    build = pd.DataFrame(
        {
            "build_id": ["b1", "b2"],
            "started_at": [datetime(2025, 11, 1, 1, 0), datetime(2025, 11, 1, 2, 0)],
            "finished_at": [datetime(2025, 11, 1, 1, 5), datetime(2025, 11, 1, 2, 4)],
            "status": ["success", "success"],
            "as_of": [LAST_DAY + timedelta(days=1)] * 2,
            "message": ["", "ok"],
        }
    )
    dbt = pd.DataFrame(
        {
            "unique_id": [
                "model.cardpulse.fct_orders",
                "test.cardpulse.not_null_fct_orders_order_id",
                "test.cardpulse.accepted_values_status",
            ],
            "resource_type": ["model", "test", "test"],
            "name": ["fct_orders", "not_null_fct_orders_order_id", "accepted_values_status"],
            "status": ["success", "pass", "warn"],
            "failures": [0, 0, 3],
            "message": ["OK", "", "Got 3 results"],
            "execution_seconds": [0.4, 0.1, 0.1],
        }
    )
    quarantine = pd.DataFrame(
        {
            "_file_id": ["f1", "f1", "f2"],
            "file_path": ["landing/orders_1.csv"] * 2 + ["landing/skus.csv"],
            "entity": ["orders", "orders", "skus"],
            "line": [17, 42, 3],
            "column_name": ["quantity", "created_at", "category"],
            "reason": ["quantity must be >= 1", "not a timestamp", "missing category"],
            "raw_text": ["O-17,2025-10-01,...,0", "O-42,yesterday,...", "SKU-X,,"],
            "quarantined_at": [datetime(2025, 11, 1, 0, 30)] * 3,
        }
    )
    ledger = pd.DataFrame(
        {
            "_file_id": ["f1", "f2"],
            "file_path": ["landing/orders_1.csv", "landing/skus.csv"],
            "entity": ["orders", "skus"],
            "source": ["canonical"] * 2,
            "rows_read": [1000, 6],
            "loaded": [998, 5],
            "updated": [0, 0],
            "duplicate": [0, 0],
            "quarantined": [2, 1],
            "loaded_at": [datetime(2025, 11, 1, 0, 30)] * 2,
        }
    )
    sent_at = datetime(2025, 11, 1, 2, 4)
    outbox = pd.DataFrame(
        {
            "message_key": ["low_stock:SKU-A:2025-11-01@ops-wecom", "build_failed:r9@pager"],
            "firing_key": ["low_stock:SKU-A:2025-11-01", "build_failed:r9"],
            "kind": ["low_stock", "build_failed"],
            "channel": ["ops-wecom", "pager"],
            "title": ["低库存：SKU-A", "CardPulse 构建失败"],
            "body": ["- 库存 12 张", "- build failed at dbt"],
            "attachments": ["[]", "[]"],
            "recipients": ["[]", "[]"],
            "status": ["sent", "pending"],
            "attempts": [1, 2],
            "created_at": [sent_at, sent_at],
            "next_attempt_at": [None, sent_at + timedelta(minutes=2)],
            "sent_at": [sent_at, None],
            "last_answer": ['HTTP 200: {"errcode": 0}', "HTTP 502: upstream unavailable"],
            "digest_key": [None, None],
            "batch_id": ["b2", "r9"],
        }
    )
    return {
        "build_info": build,
        "dbt_results": dbt,
        "raw.quarantine": quarantine,
        "raw.file_ledger": ledger,
        "ops.notify_outbox": outbox,
    }


# Issue #18: agents of M001's tree and of the rival M004 (whose names must never leak).
AGENTS = pd.DataFrame(
    {
        "agent_id": ["A-STAR1", "A-STAR2", "A-RIVAL"],
        "merchant_id": ["M001", "M002", "M004"],
        "parent_agent_id": [None, "A-STAR1", None],
        "commission_pct": [10.0, 5.0, 8.0],
    }
)
PAYMENT_CHANNELS = ("alipay", "wxpay", "usdt")


def whole_order(seed: int = 11) -> dict[str, pd.DataFrame]:
    """fct_order_profit (two orders per merchant a day, every third through an agent, a coupon
    in the last 30 days), fct_payments, fct_coupon_daily and dim_agents."""
    rng = np.random.default_rng(seed)
    agent_of = {"M001": "A-STAR1", "M002": "A-STAR2", "M004": "A-RIVAL"}
    rows, payments = [], []
    for offset in range(DAYS):
        day = FIRST_DAY + timedelta(days=offset)
        for merchant in MERCHANTS["merchant_id"]:
            big = merchant in ("M004", "M005")
            for k in range(2):
                gmv = round(float(rng.integers(20, 200)) * (50 if big else 1), 2)
                coupon = "NEW10" if offset >= DAYS - 30 and k == 0 else None
                discount = round(gmv * 0.1, 2) if coupon else 0.0
                revenue = round(gmv - discount, 2)
                agent = agent_of.get(merchant) if (offset + k) % 3 == 0 else None
                commission = round(revenue * 0.1, 2) if agent else 0.0
                channel = PAYMENT_CHANNELS[int(rng.integers(len(PAYMENT_CHANNELS)))]
                fee = round(revenue * 0.006, 2)
                cost = round(gmv * 0.8, 2)
                order_id = f"O-{merchant}-{offset}-{k}"
                rows.append(
                    {
                        "order_id": order_id,
                        "order_date": day,
                        "merchant_id": merchant,
                        "agent_id": agent,
                        "sku_id": "SKU-SECRET" if big else "SKU-QQ100",
                        "payment_channel": channel,
                        "coupon_code": coupon,
                        "status": "delivered",
                        "is_refunded": False,
                        "quantity": 1,
                        "gmv": gmv,
                        "discount_amount": discount,
                        "revenue": revenue,
                        "payment_fee": fee,
                        "agent_commission": commission,
                        "cost_amount": cost,
                        "is_cost_known": True,
                        "net_profit": round(revenue - fee - commission - cost, 2),
                    }
                )
                for attempt, ok in enumerate((False, True) if k else (True,)):
                    payments.append(
                        {
                            "payment_id": f"P-{order_id}-{attempt}",
                            "attempt_id": f"P-{order_id}-{attempt}",
                            "order_id": order_id,
                            "merchant_id": merchant,
                            "agent_id": agent,
                            "payment_channel": channel,
                            "is_success": ok,
                            "fee": fee if ok else 0.0,
                            "payment_date": day,
                        }
                    )
    profit = pd.DataFrame(rows)
    coupons = (
        profit[profit["coupon_code"].notna()]
        .groupby(["coupon_code", "merchant_id", "order_date"], as_index=False)
        .agg(orders=("order_id", "count"), discount_amount=("discount_amount", "sum"))
    )
    return {
        "fct_order_profit": profit,
        "fct_payments": pd.DataFrame(payments),
        "fct_coupon_daily": coupons,
        "dim_agents": AGENTS,
    }


def snapshot_tables() -> dict[str, pd.DataFrame]:
    sales = merchant_sales()
    demand_forecast, backtest = _forecasts(sales)
    tables = {
        "fct_daily_merchant_sales": sales,
        "fct_daily_sku_sales": sku_sales(sales),
        "fct_merchant_sku_share": merchant_sku_share(sales),
        "fct_orders": pd.DataFrame({"order_id": ["O-1"], "order_date": [LAST_DAY]}),
        "dim_skus": SKUS.assign(first_sale_date=FIRST_DAY, last_sale_date=LAST_DAY),
        "dim_merchants": MERCHANTS,
        "dim_merchant_hierarchy": hierarchy(),
        "dim_suppliers": SUPPLIERS,
        "demand_forecast": demand_forecast,
        "forecast_backtest": backtest,
        "merchant_demand_forecast": _merchant_forecasts(),
        **_plans(),
        **_operations(),
        **_health(),
        **whole_order(),
        **risk_tables(),
    }
    return tables


def risk_tables() -> dict[str, pd.DataFrame]:
    """Issue #19: one open and one resolved discrepancy per recon table, two risk signals."""
    day = pd.Timestamp(LAST_DAY + timedelta(days=1)).date()
    at = pd.Timestamp(LAST_DAY) + pd.Timedelta(hours=20)
    common = {"first_seen": [day, day], "status": ["open", "resolved"], "as_of_date": [day, day]}
    return {
        "recon_orders_payments": pd.DataFrame(
            {
                "discrepancy_id": ["paid_twice:O-1", "paid_not_delivered:O-2"],
                "kind": ["paid_twice", "paid_not_delivered"],
                "order_id": ["O-1", "O-2"],
                "merchant_id": ["M001", "M002"],
                "supplier_id": ["SUP-1", None],
                "sku_id": ["QB-10", None],
                "payment_ids": ["P-1,P-2", None],
                "amount": [Decimal("10.00"), Decimal("99.50")],
                "occurred_at": [at, None],
                "age_hours": [None, 30.5],
                **common,
            }
        ),
        "recon_card_keys": pd.DataFrame(
            {
                "discrepancy_id": ["key_delivered_twice:O-3", "batch_mismatch:O-4"],
                "kind": ["key_delivered_twice", "batch_mismatch"],
                "order_id": ["O-3", "O-4"],
                "related_order_id": ["O-1", None],
                "batch_id": ["B-1", "B-2"],
                "sku_id": ["QB-10", None],
                "supplier_id": ["SUP-1", "SUP-1"],
                "merchant_id": ["M001", "M001"],
                "keys": [1, None],
                "amount": [Decimal("9.60"), Decimal("28.40")],
                "occurred_at": [at, None],
                **common,
            }
        ),
        "recon_supplier_balances": pd.DataFrame(
            {
                "discrepancy_id": ["supplier_balance_gap:SUP-2:a", "supplier_balance_gap:SUP-2:b"],
                "kind": ["supplier_balance_gap"] * 2,
                "supplier_id": ["SUP-2", "SUP-2"],
                "balance_date": [LAST_DAY, None],
                "previous_date": [LAST_DAY - timedelta(days=1), None],
                "previous_balance": [Decimal("5000.00"), None],
                "balance": [Decimal("4800.00"), None],
                "topup_cost": [Decimal("187.66"), None],
                "topups": [2, None],
                "amount": [Decimal("12.34"), Decimal("50.00")],
                **common,
            }
        ),
        "risk_signals": pd.DataFrame(
            {
                "signal_id": ["buyer_velocity:ab12", "merchant_refund_abuse:M002"],
                "kind": ["buyer_velocity", "merchant_refund_abuse"],
                "subject_type": ["buyer_key", "merchant"],
                "subject": ["ab12" * 16, "M002"],
                "window_start": [at - pd.Timedelta(hours=1), at - pd.Timedelta(days=14)],
                "window_end": [at, at],
                "orders": [14, 52],
                "amount": [Decimal("1400.00"), Decimal("2100.00")],
                "evidence": [
                    "14 paid orders within 60 min (threshold 10); 1400.00 CNY",
                    "40 of 52 paid orders with a refund (77%; peers' median 1.2%); robust z 30.1",
                ],
                "order_ids": ["O-5,O-6", "O-7"],
                "score": [1.4, 5.0],
                "first_seen": [day, day],
                "status": ["open", "open"],
                "is_new": [True, False],
                "as_of": [day, day],
            }
        ),
    }


MONEY_COLUMNS = {
    "gmv",
    "discount_amount",
    "revenue",
    "payment_fee",
    "agent_commission",
    "cost_amount",
    "net_profit",
    "fee",
    "gross_revenue",
    "net_revenue",
    "gross_margin",
    "balance",
    "current_price",
    "recommended_price",
    "unit_cost",
    "topup_amount",
    "daily_cost",
    "face_value",
}


def build_snapshot(
    path: Path, *, empty: tuple[str, ...] = (), missing: tuple[str, ...] = ()
) -> Path:
    """Write the snapshot file; ``empty`` tables keep their columns but no rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    conn = duckdb.connect(str(path))
    try:
        conn.execute("CREATE SCHEMA analytics")
        conn.execute("CREATE SCHEMA raw")
        conn.execute("CREATE SCHEMA ops")
        for name, frame in snapshot_tables().items():
            if name in missing:
                continue
            qualified = name if "." in name else f"analytics.{name}"
            conn.register("frame", frame)
            casts = ", ".join(
                f'"{column}"::DECIMAL(18, 2) AS "{column}"'
                if column in MONEY_COLUMNS
                else f'"{column}"'
                for column in frame.columns
            )
            limit = " LIMIT 0" if name in empty else ""
            conn.execute(f"CREATE TABLE {qualified} AS SELECT {casts} FROM frame{limit}")
            conn.unregister("frame")
    finally:
        conn.close()
    return path


def expected_gmv(merchant_id: str, start: date = FIRST_DAY, end: date = LAST_DAY) -> float:
    """The GMV a merchant user must see: its own tree only, computed from the fixture frames."""
    sales = merchant_sales()
    mask = sales["merchant_id"].isin(TREES[merchant_id]) & sales["order_date"].between(start, end)
    return float(sales.loc[mask, "gross_revenue"].sum())
