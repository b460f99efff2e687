"""Pricing maths: guardrails (property tests), elasticity recovery, no-variation flag, what-if."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecasting.pricing import (
    Guardrails,
    PriceSituation,
    best_price,
    estimate_elasticities,
    guardrail_violations,
    load_pricing_config,
    pricing_items,
    recommend_prices,
    what_if,
    what_if_for_row,
)
from forecasting.pricing.guardrails import (
    ElasticitySettings,
    PricingConfigError,
    candidate_prices,
    has_allowed_ending,
    price_bounds,
)
from forecasting.pricing.recommend import interval_width, situation_profit
from forecasting.pricing.synthetic import synthetic_sales

CONFIG = load_pricing_config()


# --- guardrails ----------------------------------------------------------------------------

cents = st.integers(min_value=50, max_value=50_000).map(lambda c: c / 100)


@st.composite
def situations(draw):
    price = draw(cents)
    category = draw(st.sampled_from(["game_card", "mobile_topup", "data_topup", "video_vip"]))
    cost = round(price * draw(st.floats(0.3, 1.15)), 2)
    face = draw(st.none() | st.floats(0.8, 1.6).map(lambda r: round(price * r, 2)))
    national = draw(st.none() | st.floats(0.8, 1.25).map(lambda r: price * r))
    cover = draw(st.none() | st.floats(0, 40))
    horizon_units = draw(st.floats(0, 500))
    situation = PriceSituation(
        current_price=price,
        unit_cost=cost,
        category=category,
        face_value=face,
        national_price=national,
        days_of_cover=cover,
        has_expiring_surplus=draw(st.booleans()),
        expiring_units=draw(st.floats(0, 200)),
        expiry_window_units=horizon_units / 4,
        horizon_units=horizon_units,
    )
    return situation, CONFIG.guardrails_for(category)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations(), st.floats(-4.0, 0.0))
def test_recommended_price_breaks_no_guardrail(case, elasticity):
    situation, rails = case
    price, hit, conflicts = best_price(situation, rails, elasticity)
    assert guardrail_violations(price, situation, rails) == []
    # The hard rules are never set aside.
    assert price >= situation.unit_cost - 0.005
    assert "unit_cost" not in conflicts
    topup_capped = situation.face_value and rails.is_topup(situation.category)
    if topup_capped and "face_value_cap" not in conflicts:
        assert price <= situation.face_value * rails.topup_max_pct_of_face / 100 + 0.005
    assert set(hit) <= set(CONFIG_NAMES)


CONFIG_NAMES = [
    "unit_cost", "face_value_cap", "stockout_risk", "max_change", "min_margin",
    "regional_spread", "price_ending", "expiring_stock", "elasticity_interval",
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(situations(), st.floats(-4.0, -0.05))
def test_recommended_price_is_the_most_profitable_allowed_price(case, elasticity):
    situation, rails = case
    price, _, _ = best_price(situation, rails, elasticity)
    allowed = candidate_prices(price_bounds(situation, rails), rails, situation.current_price)
    if allowed.size == 0:
        return
    profits = situation_profit(situation, allowed, elasticity)
    chosen = situation_profit(situation, price, elasticity)
    assert chosen >= profits.max() - 1e-9 * max(1.0, abs(profits.max()))


@settings(max_examples=200, deadline=None)
@given(situations(), st.floats(-4.0, 0.0))
def test_no_discount_when_stock_runs_low(case, elasticity):
    situation, rails = case
    if situation.days_of_cover is None or situation.days_of_cover >= rails.stockout_days_of_cover:
        return
    price, _, conflicts = best_price(situation, rails, elasticity)
    if "stockout_risk" not in conflicts:
        assert price >= situation.current_price - 0.005


@given(cents, st.sampled_from([0.9, 0.99]))
def test_allowed_endings(price, ending):
    rails = Guardrails(price_endings=(ending,), whole_yuan_above=100.0)
    candidate = math.floor(price) + ending
    assert has_allowed_ending(candidate, rails) == (candidate < 100)
    assert has_allowed_ending(float(math.floor(price)), rails) == (math.floor(price) >= 100)


def test_topup_is_never_priced_above_face_value_even_when_inelastic():
    rails = CONFIG.guardrails_for("mobile_topup")
    situation = PriceSituation(current_price=99.0, unit_cost=97.5, category="mobile_topup",
                               face_value=100.0)  # fmt: skip
    price, hit, _ = best_price(situation, rails, elasticity=-0.2)
    assert price == 100.0
    assert "face_value_cap" in hit


def test_expiring_keys_get_room_to_discount():
    rails = CONFIG.guardrails_for("game_card")
    base = dict(current_price=50.0, unit_cost=20.0, category="game_card")
    plain, _, _ = best_price(PriceSituation(**base), rails, elasticity=-3.5)
    expiring, hit, _ = best_price(
        PriceSituation(**base, has_expiring_surplus=True), rails, elasticity=-3.5
    )
    assert plain >= 45.0 - 0.005  # max change 10 % down
    assert expiring < 45.0
    assert "expiring_stock" in hit


def test_keys_that_would_expire_unsold_make_a_discount_pay():
    """50 yuan, cost 20, elasticity -1.5: on fresh stock a raise pays ((p - c) x units peaks
    at 60). With 20 of the SKU's keys expiring this week and 7 expected to sell, each extra
    key sold saves its cost from the write-off: hand-computed, profit over the horizon is
    580 at 50 yuan, 571 at 55 and 584 at 45, so the price goes down instead."""
    rails = CONFIG.guardrails_for("game_card")
    base = dict(current_price=50.0, unit_cost=20.0, category="game_card", horizon_units=28.0)
    fresh, _, _ = best_price(PriceSituation(**base), rails, elasticity=-1.5)
    expiring = PriceSituation(
        **base, has_expiring_surplus=True, expiring_units=20.0, expiry_window_units=7.0
    )
    assert float(situation_profit(expiring, 50.0, -1.5)) == pytest.approx(30 * 28 - 20 * 13)
    price, _, _ = best_price(expiring, rails, elasticity=-1.5)
    assert fresh > 50.0
    assert price < 50.0
    assert situation_profit(expiring, price, -1.5) > situation_profit(expiring, 50.0, -1.5)
    # The what-if of the same row (7 of 28 days in the expiry window) shows the same profits.
    row = {
        "current_price": 50.0, "unit_cost": 20.0, "horizon_units": 28.0,
        "horizon_units_low": 28.0, "horizon_units_high": 28.0, "elasticity": -1.5,
        "elasticity_low": -1.5, "elasticity_high": -1.5, "expiring_units": 20.0,
        "horizon_days": 28,
    }  # fmt: skip
    for trial in (45.0, 50.0, 55.0, price):
        shown = what_if_for_row(row, trial)
        assert shown.profit == pytest.approx(float(situation_profit(expiring, trial, -1.5)))
        assert shown.profit_low == pytest.approx(shown.profit) == pytest.approx(shown.profit_high)
    assert what_if_for_row(row, 50.0).profit == pytest.approx(580.0)


def test_conflicting_guardrail_is_set_aside_and_named():
    # Cost went up past the current price: the cost floor wins over max change per step.
    situation = PriceSituation(current_price=10.0, unit_cost=12.0, category="game_card")
    price, _, conflicts = best_price(situation, CONFIG.guardrails, elasticity=-1.0)
    assert price >= 12.0
    assert "max_change" in conflicts


# --- config --------------------------------------------------------------------------------


def test_team_override_changes_only_what_it_sets(tmp_path):
    override = tmp_path / "pricing.toml"
    override.write_text(
        "[guardrails]\nmin_margin_pct = 12.5\n[category.video_vip]\nmax_change_pct = 4\n",
        encoding="utf-8",
    )
    config = load_pricing_config(override)
    assert config.guardrails.min_margin_pct == 12.5
    assert config.guardrails.max_change_pct == CONFIG.guardrails.max_change_pct
    assert config.guardrails_for("video_vip").max_change_pct == 4.0
    assert config.guardrails_for("video_vip").min_margin_pct == 12.5
    assert config.guardrails_for("mobile_topup").min_margin_pct == 0.5  # shipped override kept


@pytest.mark.parametrize(
    "text, words",
    [
        ("[guardrails]\nmin_margn_pct = 3\n", "unknown key"),
        ("[guardrails]\nmax_change_pct = 150\n", "max_change_pct"),
        ("[guardrails]\nmin_margin_pct = 'lots'\n", "not a valid value"),
        ("[guardrails\n", "cannot read"),
        ("[elasticity]\nmodel_error_sd = -0.1\n", "model_error_sd"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, text, words):
    override = tmp_path / "pricing.toml"
    override.write_text(text, encoding="utf-8")
    with pytest.raises(PricingConfigError, match=words):
        load_pricing_config(override)


# --- elasticity ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def confounded():
    """Every holiday and the Double 11 run-up carry a 30 % promotion and a demand lift."""
    return synthetic_sales(
        {"A": -0.8, "B": -1.6, "C": -2.4}, level=60, days=540, random_promotions=12, seed=7
    )


def test_known_elasticity_recovered_despite_holiday_promotions(confounded):
    daily, skus, truth, as_of = confounded
    estimates = estimate_elasticities(daily, skus, as_of)
    per_sku = estimates[estimates["region_code"] == "ALL"].set_index("sku_id")
    for sku, true in {"A": -0.8, "B": -1.6, "C": -2.4}.items():
        row = per_sku.loc[sku]
        assert abs(row["elasticity"] - true) < 0.3, (sku, row["elasticity"])
        assert row["elasticity_low"] < row["elasticity"] < row["elasticity_high"]
    # The confounder is real: a plain log-log fit reads the holiday lift as elasticity.
    for sku, rows in daily.groupby("sku_id"):
        naive = np.polyfit(np.log(rows["avg_unit_price"]), np.log(rows["units"]), 1)[0]
        assert naive < truth[(sku, "CN-GD")] - 1.0
    regional = estimates[estimates["region_code"] != "ALL"]
    assert (regional["price_variation"] == "own").all()
    assert len(regional) == 3 * 4


def test_orders_not_units_carry_the_price_response_when_agents_buy_in_bulk():
    """5 % of the orders are agents' bulk buys of 20-80 keys: the price moves how many orders
    come, not their size, so counting orders sheds the bulk noise that counting units keeps."""
    daily, skus, _, as_of = synthetic_sales(
        {"A": -1.0, "B": -2.0}, level=20, days=540, random_promotions=12, seed=1,
        holiday_promotion=0.0, bulk_share=0.05,
    )  # fmt: skip
    assert (daily["units"] > daily["orders"]).any()

    # The data's own uncertainty: without the model-error term both would share.
    data_only = ElasticitySettings(model_error_sd=0.0)

    def per_sku(frame):
        estimates = estimate_elasticities(frame, skus, as_of, data_only)
        return estimates[estimates["region_code"] == "ALL"].set_index("sku_id")

    by_orders, by_units = per_sku(daily), per_sku(daily.drop(columns="orders"))
    for sku, true in {"A": -1.0, "B": -2.0}.items():
        row = by_orders.loc[sku]
        assert abs(row["elasticity"] - true) < 0.3, (sku, row["elasticity"])
        width = row["elasticity_high"] - row["elasticity_low"]
        units_width = by_units.at[sku, "elasticity_high"] - by_units.at[sku, "elasticity_low"]
        assert width < 0.75 * units_width, (sku, width, units_width)


def test_a_day_without_sales_gets_a_price_only_when_its_neighbours_agree():
    """Region B sells at its usual price on days 0 and 2, at 10 % off on day 4 (a regional
    promotion) and at the usual price again on day 7: days 3, 5 and 6 had no sale and could
    have been either price, so they are left out rather than read at a guessed one; day 1,
    between two usual-price sales, keeps the usual price."""
    from forecasting.pricing.elasticity import build_panels

    days = pd.date_range("2026-03-01", periods=8, freq="D")
    rows = [("A", day, 5, 10.0) for day in days]
    rows += [("B", days[i], 2, price) for i, price in ((0, 10.0), (2, 10.0), (4, 9.0), (7, 10.0))]
    daily = pd.DataFrame(rows, columns=["region_code", "order_date", "units", "avg_unit_price"])
    daily.insert(0, "sku_id", "X")
    (panel,) = build_panels(daily, days[-1].date() + dt.timedelta(days=1))
    b = panel.regions.index("B")
    assert panel.observed[b].tolist() == [True, True, True, False, True, False, False, True]
    assert panel.log_price[b, 1] == pytest.approx(0.0)
    assert panel.log_price[b, 4] == pytest.approx(math.log(0.9))
    assert panel.observed[panel.regions.index("A")].all()


def test_flat_price_is_flagged_and_gets_a_price_test(confounded):
    daily, skus, truth, as_of = synthetic_sales(
        {"A": -1.2, "B": -1.8}, level=30, days=300, flat_price_skus=("B",), seed=3,
        holiday_promotion=0.0,
    )  # fmt: skip
    estimates = estimate_elasticities(daily, skus, as_of)
    flags = estimates.groupby("sku_id")["price_variation"].agg(set)
    assert flags["B"] == {"none"}
    assert flags["A"] == {"own"}
    items = pricing_items(daily, skus, as_of)
    recommendations = recommend_prices(items, estimates, CONFIG, as_of).set_index("sku_id")
    flat = recommendations.loc["B"]
    assert (flat["action"] == "test").all()
    assert (flat["recommended_price"] == flat["current_price"]).all()
    assert (flat["guardrails_hit"] == "no_variation").all()
    assert flat["price_test_price"].notna().all()
    assert flat["reason"].str.contains("test").all()
    assert flat["reason_zh"].str.contains("测试|试售").all()
    assert (recommendations.loc["A", "action"] != "test").all()


def test_recommendations_carry_contract_columns_and_obey_guardrails(confounded):
    daily, skus, _, as_of = confounded
    estimates = estimate_elasticities(daily, skus, as_of)
    items = pricing_items(daily, skus, as_of)
    recommendations = recommend_prices(items, estimates, CONFIG, as_of)
    contract = [
        "sku_id", "region_code", "as_of", "current_price", "recommended_price", "unit_cost",
        "elasticity", "elasticity_low", "elasticity_high", "expected_units_change_pct",
        "expected_profit_change_pct", "margin_pct", "guardrails_hit", "reason",
    ]  # fmt: skip
    assert set(contract) <= set(recommendations.columns)
    assert len(recommendations) == len(items) == 12
    for row, item in zip(recommendations.itertuples(), items.itertuples(), strict=True):
        situation = PriceSituation(
            current_price=item.current_price, unit_cost=item.unit_cost, category=item.category,
            face_value=item.face_value, national_price=item.national_price,
        )  # fmt: skip
        rails = CONFIG.guardrails_for(item.category)
        assert guardrail_violations(row.recommended_price, situation, rails) == []
        assert row.expected_profit_change >= -1e-6  # never worse than today by its own model
        assert row.reason and row.reason_zh


# --- what-if -------------------------------------------------------------------------------

whatif_rows = st.fixed_dictionaries(
    {
        "current_price": st.floats(1, 500),
        "unit_cost": st.floats(0.1, 400),
        "horizon_units": st.floats(0, 5000),
        "spread": st.floats(0, 0.9),
        "elasticity": st.floats(-4, 0.5),
        "width": st.floats(0, 2),
    }
)


def _whatif(row, price):
    low_units = row["horizon_units"] * (1 - row["spread"])
    return what_if(
        price,
        current_price=row["current_price"],
        unit_cost=row["unit_cost"],
        horizon_units=row["horizon_units"],
        horizon_units_low=low_units,
        horizon_units_high=row["horizon_units"] * (1 + row["spread"]),
        elasticity=row["elasticity"],
        elasticity_low=row["elasticity"] - row["width"],
        elasticity_high=row["elasticity"] + row["width"],
    )


@given(whatif_rows, st.lists(st.floats(0.5, 800), min_size=2, max_size=6, unique=True))
def test_what_if_units_fall_as_price_rises(row, prices):
    results = [_whatif(row, p) for p in sorted(prices)]
    for cheaper, dearer in zip(results, results[1:], strict=False):
        assert dearer.units <= cheaper.units * (1 + 1e-9) + 1e-9
        assert dearer.units_low <= cheaper.units_low * (1 + 1e-9) + 1e-9
        assert dearer.units_high <= cheaper.units_high * (1 + 1e-9) + 1e-9
    for result in results:
        assert result.units_low <= result.units <= result.units_high
        assert result.revenue_low <= result.revenue <= result.revenue_high
        assert result.profit_low <= result.profit + 1e-9
        assert result.profit <= result.profit_high + 1e-9


def test_what_if_at_current_price_is_the_forecast():
    row = {
        "current_price": 10.0, "unit_cost": 6.0, "horizon_units": 280.0,
        "horizon_units_low": 200.0, "horizon_units_high": 360.0, "elasticity": -1.5,
        "elasticity_low": -2.0, "elasticity_high": -1.0,
    }  # fmt: skip
    now = what_if_for_row(row, 10.0)
    assert now.units == pytest.approx(280.0)
    assert (now.units_low, now.units_high) == pytest.approx((200.0, 360.0))
    assert now.profit == pytest.approx(4.0 * 280.0)
    dearer = what_if_for_row(row, 11.0)
    assert dearer.units == pytest.approx(280.0 * 1.1**-1.5)
    assert dearer.units_low == pytest.approx(200.0 * 1.1**-2.0)
    with pytest.raises(ValueError):
        what_if_for_row(row, 0.0)
    assert isinstance(pd.Series(row).to_dict(), dict)


@settings(max_examples=200, deadline=None)
@given(situations(), st.floats(-4.0, -0.05), st.floats(0.0, 1.5), st.floats(0.0, 1.5))
def test_a_change_pays_across_the_whole_elasticity_interval(case, elasticity, below, above):
    situation, rails = case
    interval = (elasticity - below, min(elasticity + above, 0.0))
    price, _, _ = best_price(situation, rails, elasticity, interval)
    assert guardrail_violations(price, situation, rails) == []
    allowed = candidate_prices(price_bounds(situation, rails), rails, situation.current_price)
    if not np.isclose(allowed, situation.current_price, atol=0.005).any():
        return  # the guardrails force a move: no comparison with today's price
    for end in interval:
        today = situation_profit(situation, situation.current_price, end)
        gain = situation_profit(situation, price, end) - today
        assert gain >= -1e-9 * max(abs(today), 1.0)


def test_unknown_elasticity_still_obeys_the_hard_guardrails():
    # Cost rose above the price and nothing is known about demand: move to the nearest
    # allowed price, say so, and suggest a test.
    items = pd.DataFrame(
        {
            "sku_id": ["S"], "region_code": ["CN-GD"], "category": ["gift_card"],
            "face_value": [100.0], "current_price": [83.9], "unit_cost": [90.31],
            "horizon_units": [50.0], "horizon_units_low": [30.0], "horizon_units_high": [70.0],
            "national_price": [83.9], "days_of_cover": [np.nan],
            "has_expiring_surplus": [False],
        }
    )  # fmt: skip
    elasticities = pd.DataFrame(
        {
            "sku_id": ["S"], "region_code": ["ALL"], "elasticity": [-2.0],
            "elasticity_low": [-4.0], "elasticity_high": [0.0], "price_variation": ["none"],
        }
    )  # fmt: skip
    row = recommend_prices(items, elasticities, CONFIG, dt.date(2026, 11, 1)).iloc[0]
    assert row["action"] == "test"
    # Cost floor first; max change per step (10 %) outranks the margin floor, set aside.
    assert 90.31 <= row["recommended_price"] <= 83.9 * 1.1
    assert row["guardrails_hit"] == "no_variation,unit_cost"
    assert row["guardrail_conflicts"] == "min_margin"
    assert "guardrails" in row["reason"] and "护栏" in row["reason_zh"]
    # The move is priced with the borrowed elasticity, not as if buyers would not react.
    ratio = row["recommended_price"] / 83.9
    assert row["expected_units_change_pct"] == pytest.approx((ratio**-2.0 - 1) * 100)
    assert row["expected_units"] == pytest.approx(50.0 * ratio**-2.0)


def test_an_estimate_capped_at_zero_is_still_as_uncertain_as_it_was():
    """A region with a handful of sales can estimate demand rising with price (+13.7, se 4.8):
    the cap at 0 makes its interval [0, 0], which must not read as certain and raise the price
    to the step limit; its se says the interval was 15.8 wide, so a price test instead."""
    items = pd.DataFrame(
        {
            "sku_id": ["S"], "region_code": ["CN-AH"], "category": ["software_license"],
            "face_value": [np.nan], "current_price": [263.87], "unit_cost": [230.0],
            "horizon_units": [5.0], "horizon_units_low": [1.0], "horizon_units_high": [9.0],
            "national_price": [263.87], "days_of_cover": [np.nan],
            "has_expiring_surplus": [False],
        }
    )  # fmt: skip
    capped = {
        "sku_id": ["S"], "region_code": ["CN-AH"], "elasticity": [0.0],
        "elasticity_low": [0.0], "elasticity_high": [0.0], "price_variation": ["own"],
        "elasticity_se": [4.79], "interval_level": [0.9],
    }  # fmt: skip
    row = recommend_prices(items, pd.DataFrame(capped), CONFIG, dt.date(2026, 11, 1)).iloc[0]
    assert row["action"] == "test"
    assert "15.76" in row["reason"]  # 2 x 1.645 x 4.79
    assert interval_width(pd.Series(capped).map(lambda v: v[0])) == pytest.approx(15.758, 1e-3)
    # A well-measured elasticity keeps its own interval.
    sure = {**capped, "elasticity": [-2.0], "elasticity_low": [-2.5], "elasticity_high": [-1.5],
            "elasticity_se": [0.3]}  # fmt: skip
    row = recommend_prices(items, pd.DataFrame(sure), CONFIG, dt.date(2026, 11, 1)).iloc[0]
    assert row["action"] != "test"


def test_model_error_widens_every_interval_and_moves_no_estimate():
    from forecasting.pricing.elasticity import pool_estimates

    raw = pd.DataFrame(
        {
            "sku_id": ["A", "A", "B", "B"], "region_code": ["R1", "R2", "R1", "R2"],
            "category": ["c"] * 4, "raw_elasticity": [-2.0, -2.6, -1.4, -1.8],
            "raw_se": [0.2, 0.3, 0.25, 0.2], "has_own_variation": [True] * 4,
            "days_price_moved": [30] * 4, "history_units": [5000.0] * 4, "history_days": [700] * 4,
        }
    )  # fmt: skip
    bare = pool_estimates(raw, 0.9, model_error_sd=0.0)
    widened = pool_estimates(raw, 0.9, model_error_sd=0.35)
    assert widened["elasticity"].tolist() == pytest.approx(bare["elasticity"].tolist())
    assert (widened["elasticity_se"] ** 2 - bare["elasticity_se"] ** 2).tolist() == pytest.approx(
        [0.35**2] * len(bare)
    )
    assert (widened["elasticity_low"] < bare["elasticity_low"]).all()
