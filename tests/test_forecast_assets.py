"""The forecasting assets run in Dagster against a real DuckDB file shaped like the marts."""

import datetime as dt

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from forecasting.demand.synthetic import synthetic_inputs
from pipelines.assets.demand_forecast import demand_forecast
from pipelines.resources import BuildSettings

AS_OF = dt.date(2025, 11, 1)


def _write_marts(path) -> None:
    """A warehouse holding the marts forecasting reads, built from synthetic demand."""
    inputs, _ = synthetic_inputs({"A": 20.0, "B": 3.0}, AS_OF, days=120, stockout_sku="A")
    conn = duckdb.connect(str(path))
    conn.execute("CREATE SCHEMA analytics")
    sales, merchants, skus = inputs.sku_sales, inputs.merchant_sales, inputs.skus  # noqa: F841
    stockouts = inputs.stockouts  # noqa: F841
    conn.execute("""
        CREATE TABLE analytics.fct_daily_sku_sales AS
        SELECT sku_id, region_code, ds::DATE AS order_date, units::BIGINT AS units,
               units::BIGINT AS orders, (units * 10)::DECIMAL(18, 2) AS gross_revenue,
               (units * 1)::DECIMAL(18, 2) AS gross_margin
        FROM sales""")
    conn.execute("""
        CREATE TABLE analytics.fct_orders AS
        SELECT 'o' || row_number() OVER () AS order_id, order_date
        FROM analytics.fct_daily_sku_sales
    """)
    conn.execute("""
        CREATE TABLE analytics.dim_skus AS
        SELECT sku_id, sku_id AS name, category, brand, 10.0 AS face_value, delivery_type,
               'SUP-01' AS supplier_id, NULL::INTEGER AS shelf_life_days, active,
               NULL::DATE AS first_sale_date, NULL::DATE AS last_sale_date
        FROM skus""")
    conn.execute("""
        CREATE TABLE analytics.fct_inventory_daily AS
        SELECT s.sku_id, d.order_date AS inventory_date, 'SUP-01' AS supplier_id,
               0 AS on_hand, 0 AS on_order, 0 AS expiring_7d,
               d.order_date IN (SELECT ds::DATE FROM stockouts) AS is_stockout
        FROM (SELECT DISTINCT order_date FROM analytics.fct_daily_sku_sales) d, skus s""")
    conn.execute("""
        CREATE TABLE analytics.dim_events AS
        SELECT 'Autumn sale' AS name, DATE '2025-09-10' AS start_date,
               DATE '2025-09-12' AS end_date, 'all' AS scope""")
    conn.execute("""
        CREATE TABLE analytics.fct_daily_merchant_sales AS
        SELECT merchant_id, ds::DATE AS order_date, sku_id, 'CN-GD' AS region_code,
               'web' AS channel, units::BIGINT AS orders, units::BIGINT AS paid_orders,
               units::BIGINT AS units
        FROM merchants""")
    conn.close()


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    monkeypatch.setenv("CARDPULSE_FORECAST_WORKERS", "1")
    path = tmp_path / "warehouse.duckdb"
    _write_marts(path)
    return path


def _materialize(path, as_of: str = "") -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [demand_forecast],
        resources={
            "duckdb": DuckDBResource(database=str(path)),
            "build_settings": BuildSettings(as_of=as_of, horizon_days=14),
        },
    )


def test_assets_write_the_contract_tables_and_reruns_change_nothing(warehouse):
    result = _materialize(warehouse)
    assert result.success
    keys = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()
            if hasattr(m, "asset_key")} | {
        e.materialization.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
    }  # fmt: skip
    assert {"demand_forecast", "forecast_backtest", "merchant_demand_forecast"} <= keys
    conn = duckdb.connect(str(warehouse), read_only=True)
    forecast = conn.execute("SELECT * FROM analytics.demand_forecast ORDER BY ALL").df()
    backtest = conn.execute("SELECT * FROM analytics.forecast_backtest ORDER BY ALL").df()
    types = dict(conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'analytics' AND table_name = 'demand_forecast'"
    ).fetchall())  # fmt: skip
    conn.close()
    # as_of defaults to the day after the last order; the horizon comes from build settings.
    assert (forecast["as_of"] == pd.Timestamp(AS_OF)).all()
    assert forecast.groupby(["sku_id", "region_code"]).size().eq(14).all()
    assert types["ds"] == "DATE" and types["yhat"] == "DOUBLE"
    assert types["interval_level"] == "INTEGER"
    assert set(forecast["region_code"]) == {"ALL", "CN-GD", "CN-BJ", "CN-SH"}
    assert backtest.groupby(["sku_id", "region_code"])["is_selected"].sum().eq(1).all()
    backtest_event = next(
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.to_user_string() == "forecast_backtest"
    )
    classes = backtest_event.metadata["demand_classes"].value
    assert set(classes) <= {"smooth", "erratic", "intermittent", "lumpy"}
    assert sum(classes.values()) == backtest["sku_id"].nunique()
    rules = backtest_event.metadata["selection_rules"].value
    assert set(rules) == set(classes) and set(rules.values()) <= {"combo", "class", "series"}

    assert _materialize(warehouse).success
    conn = duckdb.connect(str(warehouse), read_only=True)
    again = conn.execute("SELECT * FROM analytics.demand_forecast ORDER BY ALL").df()
    conn.close()
    assert again.equals(forecast)


def test_configured_as_of_cuts_the_history(warehouse):
    assert _materialize(warehouse, as_of="2025-10-01").success
    conn = duckdb.connect(str(warehouse), read_only=True)
    first, as_of = conn.execute(
        "SELECT min(ds), min(as_of) FROM analytics.demand_forecast"
    ).fetchone()
    conn.close()
    assert first == dt.date(2025, 10, 1) and as_of == dt.date(2025, 10, 1)
