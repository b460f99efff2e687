"""The pricing stage's output tables, declared once: ``{column: SQL type}`` in column order.

``forecasting.pricing.elasticity`` and ``forecasting.pricing.recommend`` build their frames
with these columns, and the Dagster assets (``pipelines/assets/pricing.py``) write them with
these types. Plain data, no imports.
"""

_MONEY = "DECIMAL(18, 2)"
# analytics.price_elasticities (``as_of`` is added by the asset).
ELASTICITY_SCHEMA = {
    "sku_id": "VARCHAR", "region_code": "VARCHAR", "category": "VARCHAR",
    "elasticity": "DOUBLE", "elasticity_low": "DOUBLE", "elasticity_high": "DOUBLE",
    "elasticity_se": "DOUBLE", "interval_level": "DOUBLE", "raw_elasticity": "DOUBLE",
    "raw_se": "DOUBLE", "sku_elasticity": "DOUBLE", "category_elasticity": "DOUBLE",
    "price_variation": "VARCHAR", "days_price_moved": "INTEGER", "history_units": "DOUBLE",
    "history_days": "INTEGER", "as_of": "DATE",
}  # fmt: skip
# analytics.price_recommendations.
RECOMMENDATION_SCHEMA = {
    "sku_id": "VARCHAR", "region_code": "VARCHAR", "as_of": "DATE",
    "current_price": _MONEY, "recommended_price": _MONEY, "unit_cost": _MONEY,
    "elasticity": "DOUBLE", "elasticity_low": "DOUBLE", "elasticity_high": "DOUBLE",
    "expected_units_change_pct": "DOUBLE", "expected_profit_change_pct": "DOUBLE",
    "margin_pct": "DOUBLE", "guardrails_hit": "VARCHAR", "reason": "VARCHAR",
    "reason_zh": "VARCHAR", "action": "VARCHAR", "category": "VARCHAR", "face_value": _MONEY,
    "national_price": "DOUBLE", "price_variation": "VARCHAR", "price_test_price": _MONEY,
    "guardrail_conflicts": "VARCHAR", "horizon_days": "INTEGER", "horizon_units": "DOUBLE",
    "horizon_units_low": "DOUBLE", "horizon_units_high": "DOUBLE", "expected_units": "DOUBLE",
    "expected_profit": "DOUBLE", "current_profit": "DOUBLE", "expected_profit_change": "DOUBLE",
    "days_of_cover": "DOUBLE", "has_expiring_surplus": "BOOLEAN", "expiring_units": "DOUBLE",
}  # fmt: skip
