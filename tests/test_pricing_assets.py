"""The pricing assets materialised by Dagster on a tiny warehouse (a real DuckDB file)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from forecasting.pricing.synthetic import synthetic_sales
from pipelines.assets.pricing import price_elasticities, price_recommendations
from pipelines.resources import BuildSettings

CONTRACT_COLUMNS = [
    "sku_id", "region_code", "as_of", "current_price", "recommended_price", "unit_cost",
    "elasticity", "elasticity_low", "elasticity_high", "expected_units_change_pct",
    "expected_profit_change_pct", "margin_pct", "guardrails_hit", "reason",
]  # fmt: skip


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    """Marts-shaped tables for three SKUs, one of which never changed its price."""
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    daily, skus, _, as_of = synthetic_sales(
        {"A": -0.9, "B": -2.0, "FLAT": -1.5},
        days=300,
        level=20,
        flat_price_skus=("FLAT",),
        seed=5,
    )
    skus.loc[skus["sku_id"] == "B", "delivery_type"] = "card_key"
    daily["orders"] = daily["units"]
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA analytics")
        conn.register("daily_frame", daily)
        conn.execute(
            """CREATE TABLE analytics.fct_daily_sku_sales AS SELECT sku_id, region_code,
               CAST(order_date AS DATE) AS order_date, CAST(units AS BIGINT) AS units,
               CAST(orders AS BIGINT) AS orders,
               CAST(avg_unit_price AS DECIMAL(18, 2)) AS avg_unit_price,
               CAST(avg_list_price AS DECIMAL(18, 2)) AS avg_list_price,
               CAST(avg_unit_cost AS DECIMAL(18, 2)) AS avg_unit_cost FROM daily_frame"""
        )
        conn.register("skus_frame", skus)
        conn.execute(
            """CREATE TABLE analytics.dim_skus AS SELECT sku_id, category, brand,
               CAST(face_value AS DECIMAL(18, 2)) AS face_value, delivery_type, active
               FROM skus_frame"""
        )
        conn.execute(
            """CREATE TABLE analytics.dim_events AS SELECT 'launch' AS name,
               DATE '2024-09-01' AS start_date, DATE '2024-09-05' AS end_date, 'sku:A' AS scope"""
        )
        # B is nearly out of stock: no discount for it.
        conn.execute(
            """CREATE TABLE analytics.fct_inventory_daily AS SELECT 'B' AS sku_id,
               ? AS inventory_date, 3 AS on_hand, 0 AS on_order, 0 AS expiring_7d,
               false AS is_stockout""",
            [as_of - dt.timedelta(days=1)],
        )
    return path, as_of


def _materialize(path, as_of):
    return dg.materialize(
        [price_elasticities, price_recommendations],
        resources={
            "duckdb": DuckDBResource(database=str(path)),
            "build_settings": BuildSettings(as_of=as_of.isoformat()),
        },
    )


def _tables(path):
    with duckdb.connect(str(path), read_only=True) as conn:
        recommendations = conn.execute(
            "SELECT * FROM analytics.price_recommendations ORDER BY sku_id, region_code"
        ).df()
        elasticities = conn.execute(
            "SELECT * FROM analytics.price_elasticities ORDER BY sku_id, region_code"
        ).df()
        types = dict(
            conn.execute(
                """SELECT column_name, data_type FROM information_schema.columns
                   WHERE table_name = 'price_recommendations'"""
            ).fetchall()
        )
    return recommendations, elasticities, types


def test_assets_write_recommendations_and_elasticities(warehouse):
    path, as_of = warehouse
    assert _materialize(path, as_of).success
    recommendations, elasticities, types = _tables(path)
    assert list(recommendations.columns[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    assert types["recommended_price"] == "DECIMAL(18,2)"
    assert len(recommendations) == 3 * 4
    assert (recommendations["as_of"].dt.date == as_of).all()
    flat = recommendations[recommendations["sku_id"] == "FLAT"]
    assert (flat["action"] == "test").all() and flat["price_test_price"].notna().all()
    priced = recommendations[recommendations["sku_id"] != "FLAT"]
    assert (priced["action"] != "test").all()
    assert (priced["recommended_price"] >= priced["unit_cost"]).all()
    low_stock = recommendations[recommendations["sku_id"] == "B"]
    assert (low_stock["recommended_price"] >= low_stock["current_price"]).all()
    assert (low_stock["days_of_cover"] < 7).all()
    assert recommendations["reason"].str.len().gt(0).all()
    assert recommendations["reason_zh"].str.len().gt(0).all()
    per_sku = elasticities[elasticities["region_code"] == "ALL"].set_index("sku_id")
    assert per_sku.loc["FLAT", "price_variation"] == "none"
    assert per_sku.loc["B", "elasticity"] < per_sku.loc["A", "elasticity"]


def test_rerun_changes_nothing(warehouse):
    path, as_of = warehouse
    assert _materialize(path, as_of).success
    first = _tables(path)
    assert _materialize(path, as_of).success
    second = _tables(path)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])


def test_team_guardrails_file_is_used(warehouse, tmp_path):
    path, as_of = warehouse
    (tmp_path / "pricing.toml").write_text(
        "[guardrails]\nmax_change_pct = 1.0\nprice_endings = []\n", encoding="utf-8"
    )
    assert _materialize(path, as_of).success
    recommendations, _, _ = _tables(path)
    moved = recommendations["recommended_price"] / recommendations["current_price"] - 1
    assert moved.abs().max() <= 0.01 + 0.005


def test_bad_guardrails_file_fails_the_step_with_its_reason(warehouse, tmp_path):
    path, as_of = warehouse
    (tmp_path / "pricing.toml").write_text("[guardrails]\nmin_margin = 3\n", encoding="utf-8")
    result = dg.materialize(
        [price_elasticities],
        resources={
            "duckdb": DuckDBResource(database=str(path)),
            "build_settings": BuildSettings(as_of=as_of.isoformat()),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0]
    assert "unknown key(s) min_margin" in str(failure.event_specific_data.error)


def test_elasticities_are_kept_while_the_forecasts_are(warehouse, tmp_path):
    """``engine.forecast_refit_days`` > 1: a build whose forecasts were kept (their as_of is
    the elasticities') keeps the elasticities as they are; once the forecasts are refitted
    (a newer as_of), they are estimated again for the build's as_of."""
    path, as_of = warehouse
    (tmp_path / "cardpulse.toml").write_text("[engine]\nforecast_refit_days = 7\n")
    fitted = as_of - dt.timedelta(days=2)
    assert _materialize(path, fitted).success
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "CREATE TABLE analytics.demand_forecast AS SELECT 'A' AS sku_id, ?::DATE AS as_of",
            [fitted],
        )
        conn.execute("UPDATE analytics.price_elasticities SET elasticity = -9.5")  # a marker
    assert _elasticities_only(path, as_of).success
    _, kept, _ = _tables(path)
    assert (kept["elasticity"] == -9.5).all() and (kept["as_of"].dt.date == fitted).all()
    with duckdb.connect(str(path)) as conn:
        conn.execute("UPDATE analytics.demand_forecast SET as_of = ?", [as_of])
    assert _elasticities_only(path, as_of).success
    _, estimated, _ = _tables(path)
    assert (estimated["elasticity"] != -9.5).all() and (estimated["as_of"].dt.date == as_of).all()


def _elasticities_only(path, as_of):
    return dg.materialize(
        [price_elasticities],
        resources={
            "duckdb": DuckDBResource(database=str(path)),
            "build_settings": BuildSettings(as_of=as_of.isoformat()),
        },
    )
