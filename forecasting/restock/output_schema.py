"""The restock stage's output tables, declared once: ``{column: SQL type}`` in column order.

``plan.py``, ``purchase_orders.py``, ``funding.py`` and ``low_stock_alerts.py`` build their
frames with these columns, and the Dagster assets (``pipelines/assets/restock.py``) write them
with these types. Plain data, no imports.
"""

_MONEY = "DECIMAL(18, 2)"

PLAN_SCHEMA = {
    "sku_id": "VARCHAR", "supplier_id": "VARCHAR", "as_of": "DATE", "on_hand": "BIGINT",
    "on_order": "BIGINT", "daily_demand": "DOUBLE", "days_of_cover": "DOUBLE",
    "stockout_date": "DATE", "safety_stock": "DOUBLE", "reorder_point": "DOUBLE",
    "order_qty": "BIGINT", "order_by": "DATE", "service_level": "DOUBLE", "reason": "VARCHAR",
    "reason_zh": "VARCHAR", "reason_en": "VARCHAR", "abc_class": "VARCHAR",
    "expiring_7d": "BIGINT", "usable_position": "DOUBLE", "lead_time_days": "INTEGER",
    "min_order_qty": "BIGINT", "batch_size": "BIGINT", "shelf_life_days": "INTEGER",
    "expiry_cap": "BIGINT", "unit_cost": _MONEY, "order_cost": _MONEY, "inventory_date": "DATE",
    "is_active": "BOOLEAN", "has_forecast": "BOOLEAN", "late_cover_days": "INTEGER",
    "stock_risk": "VARCHAR",
}  # fmt: skip
PO_SCHEMA = {
    "po_id": "VARCHAR", "supplier_id": "VARCHAR", "supplier_name": "VARCHAR", "as_of": "DATE",
    "sku_id": "VARCHAR", "sku_name": "VARCHAR", "order_qty": "BIGINT", "batch_size": "BIGINT",
    "batches": "BIGINT", "min_order_qty": "BIGINT", "moq_met": "BOOLEAN", "unit_cost": _MONEY,
    "line_cost": _MONEY, "order_by": "DATE", "po_lines": "BIGINT", "po_total_qty": "BIGINT",
    "po_total_cost": _MONEY, "po_order_by": "DATE", "reason_en": "VARCHAR",
    "reason_zh": "VARCHAR",
}  # fmt: skip
FUNDING_SCHEMA = {
    "supplier_id": "VARCHAR", "as_of": "DATE", "balance": _MONEY, "daily_cost": _MONEY,
    "days_of_cover": "DOUBLE", "topup_amount": _MONEY, "topup_by": "DATE", "reason": "VARCHAR",
    "reason_zh": "VARCHAR", "reason_en": "VARCHAR", "safety_buffer": _MONEY,
    "service_level": "DOUBLE", "balance_date": "DATE", "topup_skus": "BIGINT",
    "skus_without_cost": "BIGINT",
}  # fmt: skip
# One low-stock alert state per SKU and day (``low_stock_alerts.advance_alerts``).
ALERT_STATE_SCHEMA = {
    "sku_id": "VARCHAR", "as_of": "DATE", "state": "VARCHAR", "position": "DOUBLE",
    "reorder_point": "DOUBLE", "event": "VARCHAR",
}  # fmt: skip
