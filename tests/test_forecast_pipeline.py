"""The forecasting stage end to end on small synthetic marts: contract, consistency, determinism."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from forecasting.demand.inputs import DemandInputs, normalise_inputs
from forecasting.demand.pipeline import forecast_demand
from forecasting.demand.synthetic import synthetic_inputs

AS_OF = dt.date(2025, 11, 1)
CONTRACT_FORECAST = ["sku_id", "region_code", "ds", "yhat", "yhat_lower", "yhat_upper",
                     "interval_level", "model", "as_of"]  # fmt: skip
CONTRACT_BACKTEST = ["sku_id", "region_code", "model", "wape", "mase", "bias",
                     "interval_coverage", "is_selected"]  # fmt: skip


def _with_extra_skus(inputs: DemandInputs) -> DemandInputs:
    """Add a SKU launched 10 days ago, a discontinued one and one that never sold."""
    new_days = pd.date_range(AS_OF - dt.timedelta(days=10), periods=10)
    new = pd.DataFrame({"sku_id": "NEW", "region_code": "CN-GD", "ds": new_days, "units": 2.0})
    old = pd.DataFrame(
        {
            "sku_id": "OLD",
            "region_code": "CN-GD",
            "ds": pd.date_range("2025-03-01", periods=60),
            "units": 3.0,
        }
    )
    skus = pd.concat([inputs.skus, pd.DataFrame({
        "sku_id": ["NEW", "OLD", "NEVER"], "category": "gift_card", "brand": "x",
        "delivery_type": "direct_topup", "active": [True, False, True],
    })], ignore_index=True)  # fmt: skip
    sales = pd.concat([inputs.sku_sales, new, old], ignore_index=True)
    return normalise_inputs(
        DemandInputs(sales, skus, inputs.stockouts, inputs.events, inputs.merchant_sales)
    )


@pytest.fixture(scope="module")
def stage():
    inputs, _ = synthetic_inputs({"A": 30.0, "B": 4.0}, AS_OF, days=150, stockout_sku="A")
    inputs = _with_extra_skus(inputs)
    return inputs, forecast_demand(inputs, AS_OF, workers=1)


def test_demand_forecast_meets_the_contract(stage):
    _, tables = stage
    forecast = tables.forecast
    assert list(forecast.columns[: len(CONTRACT_FORECAST)]) == CONTRACT_FORECAST
    assert not forecast.duplicated(["sku_id", "region_code", "ds"]).any()
    assert (forecast["interval_level"] == 80).all() and (forecast["as_of"] == AS_OF).all()
    assert forecast["ds"].min() == pd.Timestamp(AS_OF)
    assert forecast.groupby(["sku_id", "region_code"]).size().eq(28).all()
    ordered = (
        (forecast["yhat_lower_95"] <= forecast["yhat_lower"] + 1e-9)
        & (forecast["yhat_lower"] <= forecast["yhat"] + 1e-9)
        & (forecast["yhat"] <= forecast["yhat_upper"] + 1e-9)
        & (forecast["yhat_upper"] <= forecast["yhat_upper_95"] + 1e-9)
        & (forecast["yhat_lower_95"] >= 0)
    )
    assert ordered.all()
    all_rows = forecast[forecast["region_code"] == "ALL"]
    assert set(all_rows["sku_id"]) == {"A", "B", "NEW", "OLD", "NEVER"}


def test_fallbacks_for_new_discontinued_and_never_sold_skus(stage):
    _, tables = stage
    models = tables.forecast[tables.forecast["region_code"] == "ALL"].groupby("sku_id")["model"]
    assert models.first()[["NEW", "OLD", "NEVER"]].tolist() == ["recent_mean", "zero", "zero"]
    forecast = tables.forecast
    new = forecast[(forecast["sku_id"] == "NEW") & (forecast["region_code"] == "ALL")]
    np.testing.assert_allclose(new["yhat"], 2.0)
    reasons = tables.backtest.set_index("sku_id")["reason"]
    assert reasons["NEW"] == "short_history" and reasons["OLD"] == "inactive"
    assert reasons["NEVER"] == "no_history"


def test_regions_and_merchants_add_up_to_the_sku_total(stage):
    _, tables = stage
    forecast = tables.forecast
    total = forecast[forecast["region_code"] == "ALL"].set_index(["sku_id", "ds"])["yhat"]
    regions = forecast[forecast["region_code"] != "ALL"].groupby(["sku_id", "ds"])["yhat"].sum()
    np.testing.assert_allclose(regions, total.loc[regions.index], rtol=1e-9)
    assert set(forecast["region_code"]) == {"ALL", "CN-GD", "CN-BJ", "CN-SH"}
    # Region shares follow the data (50/30/20).
    share = forecast[forecast["sku_id"] == "A"].groupby("region_code")["yhat"].sum()
    assert share["CN-GD"] / share["ALL"] == pytest.approx(0.5, abs=0.05)

    merchant = tables.merchant_forecast
    merchant_totals = merchant[merchant["sku_id"] == "ALL"].groupby("ds")["yhat"].sum()
    sku_totals = total.loc[["A", "B"]].groupby("ds").sum()  # the SKUs merchants sold
    np.testing.assert_allclose(merchant_totals, sku_totals.loc[merchant_totals.index], rtol=1e-9)
    m1_a = merchant[(merchant["merchant_id"] == "M1") & (merchant["sku_id"] == "A")]["yhat"].sum()
    assert m1_a / total.loc["A"].sum() == pytest.approx(0.7, abs=0.05)


def test_backtest_scores_every_candidate_and_selects_one(stage):
    _, tables = stage
    backtest = tables.backtest
    assert list(backtest.columns[: len(CONTRACT_BACKTEST)]) == CONTRACT_BACKTEST
    assert backtest.groupby(["sku_id", "region_code"])["is_selected"].sum().eq(1).all()
    a_rows = backtest[(backtest["sku_id"] == "A") & (backtest["region_code"] == "ALL")]
    expected = {"seasonal_naive", "ets", "auto_theta", "auto_ces", "prophet", "recent_mean",
                "median_ets_theta_ces", "median_prophet_ets_theta_ces"}  # fmt: skip
    assert expected <= set(a_rows["model"])
    assert (a_rows["folds"] == 3).all()
    # The 5 stockout days fall inside the backtest window and are not scored.
    assert (a_rows["days"] == 84 - 5).all()
    scored = backtest.dropna(subset=["wape"])
    assert scored["interval_coverage"].between(0, 1).all()
    selected = a_rows[a_rows["is_selected"]].iloc[0]
    # A steady seller is smooth; its model is named by the rule its class chose.
    assert selected["reason"] in {"series:smooth", "class:smooth", "combo:smooth"}
    assert set(tables.rules["demand_class"]) == {"smooth"}
    assert tables.rules.groupby("demand_class")["is_chosen"].sum().eq(1).all()
    assert selected["wape"] < 0.3  # 30 a day with a weekly pattern is well forecastable
    assert 0.6 <= selected["interval_coverage"] <= 0.95


def test_same_input_same_output_whatever_the_worker_count(stage):
    inputs, tables = stage
    again = forecast_demand(inputs, AS_OF, workers=2, chunk_size=1)
    pd.testing.assert_frame_equal(tables.forecast, again.forecast)
    pd.testing.assert_frame_equal(tables.backtest, again.backtest)
    pd.testing.assert_frame_equal(tables.merchant_forecast, again.merchant_forecast)


def test_no_sales_and_only_new_skus_give_sensible_tables():
    empty = {
        "sku_sales": pd.DataFrame(columns=["sku_id", "region_code", "ds", "units"]),
        "stockouts": pd.DataFrame(columns=["sku_id", "ds"]),
        "events": pd.DataFrame(columns=["name", "start_date", "end_date", "scope"]),
        "merchant_sales": pd.DataFrame(columns=["merchant_id", "sku_id", "ds", "units"]),
    }
    skus = pd.DataFrame({"sku_id": ["X"], "category": ["c"], "brand": ["b"],
                         "delivery_type": ["card_key"], "active": [True]})  # fmt: skip
    tables = forecast_demand(normalise_inputs(DemandInputs(skus=skus, **empty)), AS_OF, workers=1)
    assert len(tables.forecast) == 28 and (tables.forecast["yhat"] == 0).all()
    assert tables.backtest["reason"].tolist() == ["no_history"]

    days = pd.date_range(AS_OF - dt.timedelta(days=20), periods=20)
    sales = pd.DataFrame({"sku_id": "X", "region_code": "CN-GD", "ds": days, "units": 4.0})
    merchants = pd.DataFrame({"merchant_id": "M1", "sku_id": "X", "ds": days, "units": 4.0})
    inputs = DemandInputs(sales, skus, empty["stockouts"], empty["events"], merchants)
    tables = forecast_demand(normalise_inputs(inputs), AS_OF, workers=1)
    all_rows = tables.forecast[tables.forecast["region_code"] == "ALL"]
    np.testing.assert_allclose(all_rows["yhat"], 4.0)
    assert (all_rows["yhat_upper"] >= all_rows["yhat"]).all()
    assert set(tables.forecast["region_code"]) == {"ALL", "CN-GD"}


def test_median_forecast_sits_inside_the_95_interval_and_is_zero_without_demand(stage):
    _, tables = stage
    forecast = tables.forecast
    assert forecast["yhat_median"].notna().all()
    inside = (forecast["yhat_median"] >= forecast["yhat_lower_95"] - 1e-9) & (
        forecast["yhat_median"] <= forecast["yhat_upper_95"] + 1e-9
    )
    assert inside.all()
    quiet = forecast[forecast["sku_id"].isin(["OLD", "NEVER"])]
    assert (quiet["yhat_median"] == 0).all()
    busy = forecast[(forecast["sku_id"] == "A") & (forecast["region_code"] == "ALL")]
    # A seller of 30 a day: its median and mean differ by a unit or two, not by a factor.
    assert (busy["yhat_median"] - busy["yhat"]).abs().mean() < 0.15 * busy["yhat"].mean()
