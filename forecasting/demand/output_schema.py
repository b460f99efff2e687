"""The forecasting stage's output tables, declared once: ``{column: SQL type}`` in column order.

``forecasting.demand.pipeline`` builds its frames with these columns, and the Dagster asset
(``pipelines/assets/demand_forecast.py``) writes them with these types. Plain data, no
imports, so the asset module can read it without loading the models.
"""

# One forecast day: the 80% interval, its level and model, the 95% interval on the same row.
_FORECAST_DAY = {
    "ds": "DATE", "yhat": "DOUBLE", "yhat_lower": "DOUBLE", "yhat_upper": "DOUBLE",
    "interval_level": "INTEGER", "model": "VARCHAR", "as_of": "DATE",
    "yhat_lower_95": "DOUBLE", "yhat_upper_95": "DOUBLE",
}  # fmt: skip
# SKU forecasts also carry the daily median (the point forecast that minimises absolute error;
# ``yhat`` is the mean, which sums to the horizon's totals).
FORECAST_SCHEMA = {
    "sku_id": "VARCHAR", "region_code": "VARCHAR", **_FORECAST_DAY, "yhat_median": "DOUBLE",
}  # fmt: skip
BACKTEST_SCHEMA = {
    "sku_id": "VARCHAR", "region_code": "VARCHAR", "model": "VARCHAR", "wape": "DOUBLE",
    "mase": "DOUBLE", "bias": "DOUBLE", "interval_coverage": "DOUBLE", "is_selected": "BOOLEAN",
    "coverage_95": "DOUBLE", "folds": "INTEGER", "days": "INTEGER", "reason": "VARCHAR",
    "as_of": "DATE",
}  # fmt: skip
MERCHANT_FORECAST_SCHEMA = {"merchant_id": "VARCHAR", "sku_id": "VARCHAR", **_FORECAST_DAY}

# Table name -> its schema, in the order the asset writes them.
OUTPUT_TABLES = {
    "demand_forecast": FORECAST_SCHEMA,
    "forecast_backtest": BACKTEST_SCHEMA,
    "merchant_demand_forecast": MERCHANT_FORECAST_SCHEMA,
}
