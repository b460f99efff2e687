"""Refit the forecasts on schedule or on drift, keep a recent fit that holds (issue 21)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from pipelines.engine import load_engine_settings
from pipelines.errors import CardPulseError
from pipelines.forecast_refit import elasticity_refit_decision, refit_decision

FITTED = dt.date(2026, 3, 1)


@pytest.fixture
def conn():
    """A fit of 2026-03-01 for SKUs A and B (95% interval 5..15 units a day, 28 days), and
    sales of 10 a day for both up to 03-01."""
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA analytics")
    conn.execute(
        """CREATE TABLE analytics.demand_forecast AS
           SELECT sku AS sku_id, 'ALL' AS region_code, DATE '2026-03-01' + d::INTEGER AS ds,
                  10.0 AS yhat, 5.0 AS yhat_lower_95, 15.0 AS yhat_upper_95,
                  DATE '2026-03-01' AS as_of
           FROM (VALUES ('A'), ('B')) AS s(sku), range(28) AS r(d)"""
    )
    conn.execute(
        """CREATE TABLE analytics.fct_daily_sku_sales AS
           SELECT sku AS sku_id, 'CN-GD' AS region_code,
                  DATE '2026-02-01' + d::INTEGER AS order_date, 10 AS units
           FROM (VALUES ('A'), ('B')) AS s(sku), range(28) AS r(d)"""
    )
    yield conn
    conn.close()


def sell(conn, sku: str, day: dt.date, units: int) -> None:
    conn.execute(
        "INSERT INTO analytics.fct_daily_sku_sales VALUES (?, 'CN-GD', ?, ?)", [sku, day, units]
    )


def test_every_build_refits_by_default(conn):
    assert refit_decision(conn, FITTED + dt.timedelta(days=1), 1).refit
    assert load_engine_settings("/nonexistent", {}).forecast_refit_days == 1


def test_a_recent_fit_that_holds_is_kept(conn):
    for day in range(3):
        sell(conn, "A", FITTED + dt.timedelta(days=day), 11)
        sell(conn, "B", FITTED + dt.timedelta(days=day), 9)
    decision = refit_decision(conn, FITTED + dt.timedelta(days=3), 7)
    assert not decision.refit, decision.reason
    assert decision.fitted_as_of == FITTED
    # The same build again keeps it too: a rerun changes nothing.
    assert not refit_decision(conn, FITTED, 7).refit


def test_the_schedule_refits_an_old_fit(conn):
    decision = refit_decision(conn, FITTED + dt.timedelta(days=7), 7)
    assert decision.refit and decision.reason.startswith("scheduled")


def test_drift_refits_early(conn):
    sell(conn, "A", FITTED, 11)
    sell(conn, "B", FITTED, 40)  # outside 5..15: 1 of 2 SKU-days missed
    decision = refit_decision(conn, FITTED + dt.timedelta(days=1), 7)
    assert decision.refit and decision.reason.startswith("drift"), decision.reason


def test_a_day_without_sales_and_a_new_sku_count_as_misses(conn):
    sell(conn, "A", FITTED, 10)  # B sold nothing (0 < 5) and C has no forecast
    sell(conn, "C", FITTED, 3)
    decision = refit_decision(conn, FITTED + dt.timedelta(days=1), 7)
    assert decision.refit and "2 of 3" in decision.reason, decision.reason


def test_no_forecast_or_an_earlier_as_of_refits(conn):
    assert refit_decision(conn, FITTED - dt.timedelta(days=1), 7).refit
    conn.execute("DROP TABLE analytics.demand_forecast")
    assert refit_decision(conn, FITTED, 7).reason == "no earlier forecast"


@pytest.mark.parametrize("value", ["0", "soon", "-3"])
def test_a_bad_refit_interval_is_one_clear_error(value):
    with pytest.raises(CardPulseError, match="forecast_refit_days"):
        load_engine_settings("/nonexistent", {"CARDPULSE_FORECAST_REFIT_DAYS": value})


def estimate_elasticities_as_of(conn, day: dt.date) -> None:
    conn.execute(
        """CREATE OR REPLACE TABLE analytics.price_elasticities AS
           SELECT 'A' AS sku_id, 'ALL' AS region_code, -1.2 AS elasticity, ?::DATE AS as_of""",
        [day],
    )


def test_elasticities_are_kept_exactly_while_the_forecast_fit_is(conn):
    # No estimates yet, or every build refits: estimate.
    assert elasticity_refit_decision(conn, 7).reason == "no earlier elasticities"
    estimate_elasticities_as_of(conn, FITTED)
    assert elasticity_refit_decision(conn, 1).refit
    # Estimated with the fit in use (the forecasts were kept): keep.
    decision = elasticity_refit_decision(conn, 7)
    assert not decision.refit and decision.fitted_as_of == FITTED, decision.reason
    # The forecasts were refitted in this build (a newer as_of): estimate again.
    conn.execute("UPDATE analytics.demand_forecast SET as_of = as_of + 7")
    assert elasticity_refit_decision(conn, 7).refit
    # Forecasts gone: estimate.
    conn.execute("DROP TABLE analytics.demand_forecast")
    assert elasticity_refit_decision(conn, 7).refit
