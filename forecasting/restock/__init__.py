"""Restock planning: card-key purchase orders, prepaid funding for direct top-ups, and
low-stock alerts. Plain Python over DataFrames; the Dagster assets in
``pipelines/assets/restock.py`` only read the marts and write the tables."""

from forecasting.restock.card_keys import (
    CardKeyDecision,
    KeyStock,
    RestockPolicy,
    SupplierTerms,
    abc_classes,
    decide_card_key_order,
)
from forecasting.restock.demand_paths import DemandPath, demand_paths, sigma_from_interval
from forecasting.restock.funding import FundingPolicy, decide_topup, plan_funding
from forecasting.restock.low_stock_alerts import AlertState, advance_alerts, step_alert
from forecasting.restock.plan import plan_card_keys
from forecasting.restock.purchase_orders import (
    export_purchase_orders,
    purchase_order_lines,
    purchase_orders_csv,
    purchase_orders_xlsx,
)

__all__ = [
    "AlertState", "CardKeyDecision", "DemandPath", "FundingPolicy", "KeyStock", "RestockPolicy",
    "SupplierTerms", "abc_classes", "advance_alerts", "decide_card_key_order", "decide_topup",
    "demand_paths", "export_purchase_orders", "plan_card_keys", "plan_funding",
    "purchase_order_lines", "purchase_orders_csv", "purchase_orders_xlsx", "sigma_from_interval",
    "step_alert",
]  # fmt: skip
