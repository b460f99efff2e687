"""Restock maths on hand-computed cases, its caps, property tests, alerts, POs and funding."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.restock import (
    DemandPath,
    FundingPolicy,
    KeyStock,
    RestockPolicy,
    SupplierTerms,
    abc_classes,
    decide_card_key_order,
    decide_topup,
    demand_paths,
    export_purchase_orders,
    plan_card_keys,
    plan_funding,
    purchase_order_lines,
    sigma_from_interval,
    step_alert,
)
from forecasting.restock.deliveries import (
    delay_pmf,
    missing_days,
    observed_batches,
    overdue_cover_keys,
    supplier_delays,
)
from forecasting.restock.low_stock_alerts import ARMED, FIRED, REARMED, advance_alerts
from forecasting.restock.upcoming_events import upcoming_events

AS_OF = dt.date(2026, 11, 6)
Z80 = 1.2815515655446004  # two-sided 80% interval half-width in sigmas
# The formula tests protect lead + review days only (the late-delivery buffer has its own).
ON_TIME = RestockPolicy(late_buffer_days=0)


def flat(mean: float, sigma: float = 0.0, days: int = 28) -> DemandPath:
    return DemandPath(AS_OF, np.full(days, float(mean)), np.full(days, float(sigma)))


# --- forecast -> sigma -----------------------------------------------------------------


def test_sigma_is_interval_half_width_over_z():
    assert sigma_from_interval(6.0, 14.0, 0.8) == pytest.approx(8 / (2 * Z80))
    assert sigma_from_interval(6.0, 14.0, 80) == pytest.approx(8 / (2 * Z80))
    assert sigma_from_interval(np.nan, 14.0, 0.8) == 0.0


def test_demand_paths_take_the_sku_total_on_a_calendar():
    forecast = pd.DataFrame(
        {
            "sku_id": ["S", "S", "S", "S"],
            "region_code": ["ALL", "ALL", "CN-GD", "ALL"],
            "ds": pd.to_datetime(["2026-11-06", "2026-11-08", "2026-11-06", "2026-11-05"]),
            "yhat": [5.0, 7.0, 99.0, 99.0],
            "yhat_lower": [3.0, 7.0, 0.0, 0.0],
            "yhat_upper": [7.0, 7.0, 0.0, 0.0],
            "interval_level": [0.8] * 4,
        }
    )
    path = demand_paths(forecast, AS_OF, 28)["S"]
    # The region row and the day before as_of are ignored; the missing 7th counts as zero.
    assert list(path.mean) == [5.0, 0.0, 7.0]
    assert path.sigma[0] == pytest.approx(4 / (2 * Z80))
    # Beyond the forecast the path continues flat at its last week's average.
    assert path.total(0, 6) == pytest.approx(12 + 3 * 4.0)


# --- the card-key decision on hand-computed cases -------------------------------------


def test_reorder_point_and_order_up_to_without_uncertainty():
    # 10 a day, lead 2 days + 1 review day: reorder point 30; order up to 30 + 7 x 10 = 100.
    terms = SupplierTerms(lead_time_hours=48, min_order_qty=50, batch_size=20)
    policy = RestockPolicy(cycle_days=7, late_buffer_days=0)
    decision = decide_card_key_order(KeyStock(on_hand=25), flat(10), terms, 0.95, policy=policy)
    assert decision.reorder_point == pytest.approx(30)
    assert decision.safety_stock == 0
    assert decision.order_up_to == pytest.approx(100)
    assert decision.order_qty == 80  # 75 needed -> 4 batches of 20
    assert decision.days_of_cover == pytest.approx(2.5)
    assert decision.stockout_day == 2
    assert decision.order_by_day == 0


def test_safety_stock_from_forecast_sigma_and_service_level():
    # Independent days: sigma 2 a day over 3 protected days -> 2 * sqrt(3); z(0.95) = 1.6449.
    terms = SupplierTerms(lead_time_hours=30, batch_size=1)  # 30 h rounds up to 2 days
    independent = RestockPolicy(error_correlation=0.0, late_buffer_days=0)
    decision = decide_card_key_order(
        KeyStock(on_hand=500), flat(10, 2), terms, 0.95, policy=independent
    )
    assert decision.lead_days == 2
    assert decision.safety_stock == pytest.approx(1.6448536 * 2 * math.sqrt(3), rel=1e-6)
    assert decision.reorder_point == pytest.approx(30 + 1.6448536 * 2 * math.sqrt(3), rel=1e-6)
    assert decision.order_qty == 0  # 500 on hand is far above it
    assert decision.order_by_day == 50 - 2


def test_correlated_days_add_their_sigmas():
    # Fully correlated: sigma over 3 days = 2 + 2 + 2; half: sqrt(12 + 0.5 * 24).
    terms = SupplierTerms(lead_time_hours=48)
    full = decide_card_key_order(
        KeyStock(500),
        flat(10, 2),
        terms,
        0.95,
        policy=RestockPolicy(error_correlation=1.0, late_buffer_days=0),
    )
    half = decide_card_key_order(
        KeyStock(500),
        flat(10, 2),
        terms,
        0.95,
        policy=RestockPolicy(error_correlation=0.5, late_buffer_days=0),
    )
    assert full.safety_stock == pytest.approx(1.6448536 * 6, rel=1e-6)
    assert half.safety_stock == pytest.approx(1.6448536 * math.sqrt(24), rel=1e-6)


def test_late_buffer_holds_the_expected_demand_of_days_beyond_the_nominal_lead_time():
    # 10 a day, lead 2 days + 1 review day = 30, plus 2 late days of expected demand = 20 in
    # safety stock; the normal band stays over the 3 nominal days (independent: 2 * sqrt(3));
    # the deadline and the expiry cap keep the nominal lead of 2 days.
    terms = SupplierTerms(lead_time_hours=48, batch_size=10)
    policy = RestockPolicy(late_buffer_days=2, cycle_days=0, error_correlation=0.0)
    decision = decide_card_key_order(KeyStock(45), flat(10, 2), terms, 0.5, 20, policy=policy)
    assert decision.safety_stock == pytest.approx(20.0)  # z(0.5) = 0: the late cover alone
    assert decision.reorder_point == pytest.approx(50)
    assert decision.order_qty == 10  # 45 < 50: order up to 50 -> 1 batch
    assert decision.order_by_day == 4 - 2  # stock-out on day 4 (45 keys), minus the lead
    assert decision.expiry_cap == 10 * (2 + 20) - 45 - 5  # 175 floored to whole batches
    buffered = decide_card_key_order(KeyStock(500), flat(10, 2), terms, 0.95, policy=policy)
    assert buffered.safety_stock == pytest.approx(20 + 1.6448536 * 2 * math.sqrt(3), rel=1e-6)
    # Cycle stock comes on top of the late cover: up to 50 + 3 days x 10.
    cycled = dataclasses.replace(policy, cycle_days=3)
    assert decide_card_key_order(
        KeyStock(45), flat(10, 2), terms, 0.5, 20, policy=cycled
    ).order_up_to == pytest.approx(80)
    on_time = decide_card_key_order(KeyStock(45), flat(10, 2), terms, 0.5, 20, policy=ON_TIME)
    assert on_time.reorder_point == pytest.approx(30) and on_time.order_qty == 0


def test_largest_recent_day_is_a_floor_under_safety_stock():
    # One buyer took 50 keys on a day expected to sell 10: hold 40 beyond the expected demand.
    terms = SupplierTerms(lead_time_hours=24)
    decision = decide_card_key_order(
        KeyStock(0), flat(10, 1), terms, 0.9, largest_recent_day=50, policy=ON_TIME
    )
    assert decision.safety_stock == pytest.approx(40)
    assert decision.reorder_point == pytest.approx(20 + 40)
    calm = decide_card_key_order(
        KeyStock(0), flat(10, 1), terms, 0.9, largest_recent_day=11, policy=ON_TIME
    )
    # z sigma over the 2 independent days is larger than the floor of 1
    assert calm.safety_stock == pytest.approx(1.2815516 * math.sqrt(2), rel=1e-6)


def test_higher_service_level_holds_more_safety_stock():
    terms = SupplierTerms(lead_time_hours=24)
    low = decide_card_key_order(KeyStock(0), flat(10, 3), terms, 0.90)
    high = decide_card_key_order(KeyStock(0), flat(10, 3), terms, 0.98)
    assert high.safety_stock > low.safety_stock > 0
    assert high.order_qty > low.order_qty


def test_small_need_is_raised_to_moq_in_whole_batches():
    terms = SupplierTerms(lead_time_hours=24, min_order_qty=50, batch_size=20)
    decision = decide_card_key_order(
        KeyStock(on_hand=1), flat(1), terms, 0.9, policy=RestockPolicy(cycle_days=1)
    )
    assert decision.order_qty == 60  # 2 needed, MOQ 50 -> 3 batches of 20
    assert decision.raised_to_moq


def test_order_never_exceeds_what_sells_before_expiry():
    # New keys arrive on day 2 and live 5 days: demand over days 0..6 is 70, 25 held -> 45,
    # whole batches of 20 -> at most 40, although 80 would be ordered.
    terms = SupplierTerms(lead_time_hours=48, min_order_qty=30, batch_size=20)
    decision = decide_card_key_order(KeyStock(25), flat(10), terms, 0.95, shelf_life_days=5)
    assert decision.expiry_cap == 40
    assert decision.order_qty == 40
    assert decision.capped_by_expiry and not decision.blocked_by_expiry


def test_moq_above_the_expiry_cap_means_no_order():
    terms = SupplierTerms(lead_time_hours=48, min_order_qty=50, batch_size=20)
    decision = decide_card_key_order(KeyStock(25), flat(10), terms, 0.95, shelf_life_days=5)
    assert decision.order_qty == 0
    assert decision.blocked_by_expiry


def test_keys_expiring_unsold_do_not_count_as_stock():
    # 90 of 100 keys expire within 7 days; 7 days sell 70 of them, 20 are wasted.
    decision = decide_card_key_order(
        KeyStock(on_hand=100, expiring_7d=90), flat(10), SupplierTerms(), 0.9
    )
    assert decision.wasted_expiring == 20
    assert decision.position == 80


def test_inactive_sku_never_orders():
    decision = decide_card_key_order(KeyStock(0), flat(10), SupplierTerms(), 0.98, active=False)
    assert decision.order_qty == 0


def test_abc_classes_by_cumulative_margin():
    margin = pd.Series({"a": 50.0, "b": 30.0, "c": 15.0, "d": 5.0, "e": 0.0, "f": -3.0})
    classes = abc_classes(margin)
    assert classes.to_dict() == {"a": "A", "b": "A", "c": "B", "d": "C", "e": "C", "f": "C"}


def test_reason_says_one_day_not_one_days():
    from forecasting.restock.reasons import card_key_reason

    terms = SupplierTerms(lead_time_hours=24, batch_size=10)
    one_day_late = RestockPolicy(late_buffer_days=1)
    decision = decide_card_key_order(KeyStock(10), flat(10), terms, 0.5, policy=one_day_late)
    en, zh = card_key_reason(decision, AS_OF)
    assert en.startswith("covers 1 day; lead time 1 day; order ")
    assert "holds 10 keys (about 1 day) more in case a delivery is late" in en
    assert zh.startswith("现有库存可售 1 天；供货周期 1 天；") and "另备 10 张（约 1 天的量）" in zh
    on_time = decide_card_key_order(KeyStock(10), flat(10), terms, 0.5, policy=ON_TIME)
    assert "late" not in card_key_reason(on_time, AS_OF)[0]


# --- deliveries read from the inventory snapshots -------------------------------------


def snapshots(sku_id: str, on_order: list[int], supplier_id: str = "P1") -> pd.DataFrame:
    days = pd.date_range("2026-10-01", periods=len(on_order), freq="D")
    return pd.DataFrame(
        {"sku_id": sku_id, "supplier_id": supplier_id, "inventory_date": days, "on_order": on_order}
    )


def test_batches_are_read_from_on_order_first_in_first_out():
    # Oct 2: 100 ordered; Oct 3: 50 more; Oct 5: 100 arrive (the first batch, 3 days);
    # Oct 7: 20 of the second arrive, Oct 8 the other 30 (5 days); Oct 9: 40 ordered, never
    # arrive (still open at the end: not counted).
    frame = snapshots("K", [0, 100, 150, 150, 50, 50, 30, 0, 40])
    batches = observed_batches(frame)
    assert batches["keys"].tolist() == [100, 50]
    assert batches["lead_days"].tolist() == [3, 5]
    assert batches["ordered_on"].dt.day.tolist() == [2, 3]
    assert (batches["supplier_id"] == "P1").all()
    assert observed_batches(snapshots("K", [0, 0, 0])).empty


def test_supplier_delays_learn_the_delay_distribution_once_enough_batches_are_seen():
    # Nominal 2 days: 15 batches on time, 4 one day late, 1 four days late.
    leads = [2] * 15 + [3] * 4 + [6]
    batches = pd.DataFrame({"supplier_id": "P1", "lead_days": leads})
    few = batches.assign(supplier_id="P2").head(5)
    delays = supplier_delays(
        pd.concat([batches, few]), pd.Series({"P1": 2, "P2": 2}), min_batches=20
    ).set_index("supplier_id")
    assert delays.loc["P1", "batches"] == 20
    assert delays.loc["P1", "late_share"] == pytest.approx(0.25)
    assert delays.loc["P1", "delay_pmf"] == pytest.approx((0.75, 0.2, 0.0, 0.0, 0.05))
    assert delays.loc["P2", "delay_pmf"] is None  # 5 batches: too few to learn from
    early = pd.DataFrame({"supplier_id": "P1", "lead_days": [1] * 20})  # early is not late
    assert supplier_delays(early, pd.Series({"P1": 2})).loc[0, "delay_pmf"] == (1.0,)
    assert delay_pmf(np.array([0, 0.5, 2])) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_overdue_cover_on_hand_computed_cases():
    """With a steady 1 key a day the cover is in days of demand."""

    def cover(pmf, cycle, in_stock):
        return overdue_cover_keys(pmf, cycle, in_stock, daily=1.0)

    # Every batch exactly 2 days late, reordered daily: today's and yesterday's batches are
    # always missing -> 2 days of demand, whatever the in-stock target.
    assert cover((0.0, 0.0, 1.0), 1, 0.5) == pytest.approx(2)
    assert cover((0.0, 0.0, 1.0), 1, 0.999) == pytest.approx(2)
    # Half the batches a day late, daily: one missing batch on half the days.
    assert cover((0.5, 0.5), 1, 0.9) == pytest.approx(1)
    assert cover((0.5, 0.5), 1, 0.4) == 0
    # One batch per 10 days, always 3 days late: on days 1, 2, 3 of the cycle the shelf is
    # 1, 2, 3 days short of what a cover must hold -> short on 3 / 10 days with no cover,
    # 2 / 10 with 1 day, 1 / 10 with 2 days, never with 3.
    assert missing_days((0.0, 0.0, 0.0, 1.0), 10) == [(0.1, 1), (0.1, 2), (0.1, 3)]
    assert cover((0.0, 0.0, 0.0, 1.0), 10, 0.75) == pytest.approx(1)
    assert cover((0.0, 0.0, 0.0, 1.0), 10, 0.85) == pytest.approx(2)
    assert cover((0.0, 0.0, 0.0, 1.0), 10, 0.95) == pytest.approx(3)
    assert cover((1.0,), 1, 0.999) == 0  # never late: no cover
    assert overdue_cover_keys((0.0, 1.0), 1, 0.9, daily=0.0) == 0  # nothing sells


@pytest.mark.parametrize("cycle", [1, 3])
def test_overdue_cover_matches_a_simulation_of_late_batches(cycle):
    """The simulated platform's delays (a quarter late, by 1-6 days): batches due every
    ``cycle`` days for 200k days, 1 key a day; the share of days short at the cover chosen
    is within the target, one day less is not."""
    pmf = (0.75,) + (0.25 / 6,) * 6
    rng = np.random.default_rng(3)
    due = np.arange(0, 200_000, cycle)
    arrives = due + rng.choice(7, size=due.size, p=pmf)
    days = np.arange(200_000 - 20)
    # Batches missing on each day: due by then, not yet arrived.
    missing = np.searchsorted(due, days, side="right") - np.searchsorted(
        np.sort(arrives), days, side="right"
    )
    left = cycle - 1 - days % cycle  # days left of the latest batch's own cycle
    shortfall = cycle * missing - left
    for in_stock in (0.9, 0.98, 0.995):
        cover = overdue_cover_keys(pmf, cycle, in_stock, daily=1.0)
        assert (shortfall > cover).mean() <= 1 - in_stock + 0.001
        assert (shortfall > cover - 1).mean() > 1 - in_stock - 0.001


def test_overdue_cover_grows_with_lumpy_demand_as_a_simulation_says():
    """Daily reorders of a SKU selling 10 a day with a spread of 6: each batch replaces one
    day's sales, so the keys missing are the sum of the days whose batches are late."""
    pmf = (0.75,) + (0.25 / 6,) * 6
    steady = overdue_cover_keys(pmf, 1, 0.99, daily=10.0)
    lumpy = overdue_cover_keys(pmf, 1, 0.99, daily=10.0, daily_sigma=6.0)
    assert steady == pytest.approx(30)  # 3 days, as with 1 key a day
    assert lumpy > steady
    rng = np.random.default_rng(5)
    n = 400_000
    delays = rng.choice(7, size=n, p=pmf)
    sizes = rng.normal(10.0, 6.0, size=n)
    # Day t misses the batches due on days t - k (k = 0..5) that are late by more than k.
    short = np.zeros(n - 6)
    for k in range(6):
        late = delays[6 - k : n - k] > k
        short += np.where(late, sizes[6 - k : n - k], 0.0)
    assert (short > lumpy).mean() == pytest.approx(0.01, abs=0.0015)


def test_a_daily_reorder_holds_less_late_cover_than_a_monthly_one():
    # The simulated delays: a quarter of the batches late, by 1-6 days.
    pmf = (0.75,) + (0.25 / 6,) * 6
    policy = RestockPolicy(late_delay_pmf=pmf, late_in_stock=0.995, error_correlation=0.0)
    terms = SupplierTerms(lead_time_hours=24, min_order_qty=50, batch_size=10)
    fast = decide_card_key_order(KeyStock(0), flat(100, 0), terms, 0.5, policy=policy)
    slow = decide_card_key_order(KeyStock(0), flat(2, 0), terms, 0.5, policy=policy)
    # 100 a day orders every day: at most 3 batches overdue together 99.5% of days.
    assert fast.late_cover_days == 3
    assert fast.safety_stock == pytest.approx(3 * 100)
    # 2 a day orders 50 every 25 days: one batch in flight; with 4 days held the shelf runs
    # short only while a batch is 5 or 6 days late: (2/24 + 1/24) / 25 days = 0.5% of days.
    assert slow.late_cover_days == 4
    assert slow.safety_stock == pytest.approx(4 * 2)
    # Without learnt delays: the fixed late_buffer_days of expected demand.
    fixed = decide_card_key_order(KeyStock(0), flat(100, 0), terms, 0.5, policy=ON_TIME)
    assert fixed.late_cover_days == 0 and fixed.safety_stock == 0


# --- properties ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    daily=st.lists(st.floats(0, 200), min_size=1, max_size=40),
    spread=st.floats(0, 3),
    on_hand=st.integers(-5, 2000),
    on_order=st.integers(0, 500),
    expiring=st.integers(0, 500),
    lead_hours=st.one_of(st.none(), st.floats(0, 24 * 14)),
    moq=st.one_of(st.none(), st.integers(0, 1000)),
    batch=st.one_of(st.none(), st.integers(0, 200)),
    shelf_life=st.one_of(st.none(), st.integers(1, 400)),
    service_level=st.sampled_from([0.90, 0.95, 0.98]),
    active=st.booleans(),
    largest_day=st.one_of(st.none(), st.floats(0, 500)),
)
def test_order_quantities_are_whole_batches_never_negative_never_inactive(
    daily, spread, on_hand, on_order, expiring, lead_hours, moq, batch, shelf_life,
    service_level, active, largest_day,
):  # fmt: skip
    mean = np.array(daily)
    demand = DemandPath(AS_OF, mean, mean * spread / 4)
    terms = SupplierTerms(lead_hours, moq, batch)
    decision = decide_card_key_order(
        KeyStock(on_hand, on_order, expiring),
        demand,
        terms,
        service_level,
        shelf_life,
        active,
        largest_recent_day=largest_day,
    )
    assert decision.order_qty >= 0
    assert decision.order_qty % terms.batch == 0
    assert decision.order_qty == 0 or decision.order_qty >= terms.moq
    if not active:
        assert decision.order_qty == 0
    if shelf_life is not None:
        sellable = demand.total(0, terms.lead_days + shelf_life) - decision.position
        assert decision.order_qty <= max(0.0, sellable) + 1e-6
    assert decision.safety_stock >= 0
    assert decision.days_of_cover is None or decision.days_of_cover >= 0


# --- alert state machine ---------------------------------------------------------------


def run_alerts(observations):
    state, events = None, []
    for position, reorder_point in observations:
        state, event = step_alert(state, position, reorder_point)
        events.append(event)
    return state, events


def test_alert_fires_once_per_crossing_and_rearms_after_restock():
    positions = [100, 40, 30, 20, 120, 110, 50, 45]
    state, events = run_alerts([(p, 60) for p in positions])
    assert events == [None, FIRED, None, None, REARMED, None, FIRED, None]
    assert state.state == FIRED


def test_a_wobbling_reorder_point_does_not_rearm_or_refire():
    # Fired at 40 < 60; the threshold then drops below the (still falling) position and rises
    # again: no restock happened, so no re-arm and no second alert.
    _, events = run_alerts([(40, 60), (38, 35), (36, 60), (30, 25)])
    assert events == [FIRED, None, None, None]


def test_partial_restock_below_reorder_point_stays_fired_silently():
    state, events = run_alerts([(40, 60), (55, 60), (50, 60)])
    assert events == [FIRED, None, None]
    assert state.state == FIRED


def test_first_sighting_already_low_fires():
    _, events = run_alerts([(5, 10)])
    assert events == [FIRED]


def test_advance_alerts_skips_inactive_and_unplanned_skus():
    plan = pd.DataFrame(
        {
            "sku_id": ["a", "b", "c"],
            "usable_position": [5.0, 5.0, np.nan],
            "reorder_point": [10.0, 10.0, 10.0],
            "is_active": [True, False, True],
            "has_forecast": [True, True, True],
        }
    )
    previous = pd.DataFrame(
        [("a", AS_OF, ARMED, 50.0, 10.0, None)],
        columns=["sku_id", "as_of", "state", "position", "reorder_point", "event"],
    )
    state = advance_alerts(previous, plan, AS_OF)
    assert state[["sku_id", "state", "event"]].values.tolist() == [["a", FIRED, FIRED]]


# --- the plan, purchase orders and exports --------------------------------------------


@pytest.fixture
def catalogue():
    skus = pd.DataFrame(
        [
            ("K1", "Q币 100 元", "game_card", "QQ", "card_key", "P1", 30, True),
            ("K2", "Steam 50", "game_card", "Steam", "card_key", "P1", None, True),
            ("K3", "旧卡", "game_card", "Old", "card_key", "P2", None, False),
            ("K4", "New card", "game_card", "New", "card_key", "P2", None, True),
            ("T1", "移动话费 100", "mobile_topup", "CMCC", "direct_topup", "P3", None, True),
            ("T2", "联通话费 50", "mobile_topup", "CU", "direct_topup", "P3", None, True),
        ],
        columns=["sku_id", "name", "category", "brand", "delivery_type", "supplier_id",
                 "shelf_life_days", "active"],
    )  # fmt: skip
    suppliers = pd.DataFrame(
        [("P1", "卡商一", 48.0, 50, 10), ("P2", "Supplier two", 24.0, 1, 1),
         ("P3", "Topup Co", 1.0, 1, 1)],
        columns=["supplier_id", "name", "lead_time_hours", "min_order_qty", "batch_size"],
    )  # fmt: skip
    inventory = pd.DataFrame(
        [("K1", "P1", 20, 0, 0), ("K2", "P1", 1000, 0, 0), ("K3", "P2", 0, 0, 0)],
        columns=["sku_id", "supplier_id", "on_hand", "on_order", "expiring_7d"],
    ).assign(inventory_date=AS_OF - dt.timedelta(days=1))
    days = pd.date_range(AS_OF, periods=28)
    forecast = pd.concat(
        pd.DataFrame({"sku_id": sku, "region_code": "ALL", "ds": days, "yhat": mean,
                      "yhat_lower": mean * 0.8, "yhat_upper": mean * 1.2, "interval_level": 0.8})
        for sku, mean in [("K1", 10.0), ("K2", 5.0), ("K3", 8.0), ("T1", 100.0), ("T2", 50.0)]
    )  # fmt: skip
    events = pd.DataFrame(
        [("Double 11", dt.date(2026, 11, 11), dt.date(2026, 11, 11), "all")],
        columns=["name", "start_date", "end_date", "scope"],
    )
    costs = pd.Series({"K1": 9.5, "K2": 48.0, "T1": 99.0, "T2": 49.5})
    return skus, suppliers, inventory, forecast, events, costs


def test_plan_has_a_line_per_card_key_sku_with_its_reason(catalogue):
    skus, suppliers, inventory, forecast, events, costs = catalogue
    margin = pd.Series({"K1": 900.0, "K2": 100.0})
    plan = plan_card_keys(
        skus, suppliers, inventory, forecast, AS_OF, 28, margin, costs, events
    ).set_index("sku_id")
    assert list(plan.index) == ["K1", "K2", "K3", "K4"]  # no top-ups, nothing dropped
    k1 = plan.loc["K1"]
    assert k1["abc_class"] == "A" and k1["service_level"] == 0.98
    assert k1["order_qty"] > 0 and k1["order_qty"] % 10 == 0
    assert k1["order_cost"] == pytest.approx(k1["order_qty"] * 9.5)
    assert k1["stockout_date"] == AS_OF + dt.timedelta(days=2)
    assert k1["reason_en"].startswith("covers 2 days; lead time 2 days; order ")
    assert "Double 11 starts in 5 days" in k1["reason_en"]
    assert "双11 5 天后开始" not in k1["reason_zh"]  # the platform named it; zh keeps its name
    assert "Double 11 5 天后开始" in k1["reason_zh"]
    assert plan.loc["K2", "order_qty"] == 0 and "no order" in plan.loc["K2", "reason_en"]
    assert plan.loc["K3", "order_qty"] == 0 and plan.loc["K3", "reason_zh"] == "已下架，不补货"
    assert plan.loc["K3", "order_by"] is None and plan.loc["K3", "stockout_date"] == AS_OF
    assert plan.loc["K4", "order_qty"] == 0 and "no inventory snapshot" in plan.loc["K4", "reason"]


def test_purchase_orders_group_lines_per_supplier_and_export(catalogue):
    skus, suppliers, inventory, forecast, events, costs = catalogue
    inventory = inventory.assign(on_hand=[20, 0, 0])  # K2 now needs keys too
    plan = plan_card_keys(skus, suppliers, inventory, forecast, AS_OF, 28, None, costs, events)
    lines = purchase_order_lines(plan, suppliers, skus)
    assert set(lines["sku_id"]) == {"K1", "K2"}  # K3 inactive, K4 without stock
    assert set(lines["po_id"]) == {"PO-20261106-P1"}
    assert lines["moq_met"].all() and (lines["order_qty"] % 10 == 0).all()
    assert lines["po_total_cost"].iloc[0] == pytest.approx(lines["line_cost"].sum())
    assert (lines["batches"] * 10 == lines["order_qty"]).all()

    text = export_purchase_orders(lines, "csv").decode("utf-8-sig")
    assert text.splitlines()[0].startswith("PO / 采购单号,")
    assert "Q币 100 元" in text

    book = openpyxl.load_workbook(io.BytesIO(export_purchase_orders(lines, "xlsx")))
    assert book.sheetnames == ["Summary", "PO-20261106-P1"]
    sheet = book["PO-20261106-P1"]
    header = [cell.value for cell in sheet[1]]
    quantities = [
        row[header.index("Quantity / 数量")] for row in sheet.iter_rows(2, values_only=True)
    ]
    assert sorted(quantities) == sorted(lines["order_qty"].tolist())
    with pytest.raises(ValueError, match="csv or xlsx"):
        export_purchase_orders(lines, "pdf")


def test_upcoming_events_include_china_festivals_and_match_scope():
    events = upcoming_events(dt.date(2026, 9, 20), 20)
    names = [event.name_en for event in events]
    assert "National Day" in names and "Mid-Autumn Festival" in names
    national = next(e for e in events if e.name_en == "National Day")
    assert national.name_zh == "国庆节" and national.start_date == dt.date(2026, 10, 1)
    scoped = upcoming_events(
        AS_OF, 10,
        pd.DataFrame([("Steam sale", AS_OF, AS_OF, "brand:Steam")],
                     columns=["name", "start_date", "end_date", "scope"]),
    )  # fmt: skip
    steam = next(e for e in scoped if e.name_en == "Steam sale")
    assert steam.applies_to({"brand": "Steam"}) and not steam.applies_to({"brand": "QQ"})


# --- funding -----------------------------------------------------------------------------


def test_topup_hand_computed():
    # 1,000 a day, no uncertainty: 10,000 lasts 10 days, so money must arrive by day 10, and
    # pay days 10..16: 17,000 spent by then - 10,000 held = 7,000.
    decision = decide_topup(10_000, flat(1000), 28, FundingPolicy(cycle_days=7))
    assert decision.days_of_cover == pytest.approx(10.0)
    assert decision.topup_day == 10
    assert decision.topup_amount == 7000
    assert decide_topup(1e9, flat(1000), 28).topup_day is None


def test_topup_keeps_a_safety_buffer_and_rounds_up():
    decision = decide_topup(10_000, flat(1000, 300), 28, FundingPolicy(0.95, 7, 500))
    buffer = 1.6448536 * 300 * math.sqrt(7)
    assert decision.safety_buffer == pytest.approx(buffer, rel=1e-6)
    assert decision.topup_day == 8  # 10,000 - 9,000 = 1,000 < buffer (1,305.6)
    # It pays days 8..14: 15,000 spent by then + the buffer - 10,000 held, up to 500s.
    assert decision.topup_amount == 6_500


def test_funding_plan_per_supplier(catalogue):
    skus, _, _, forecast, events, costs = catalogue
    balances = pd.DataFrame(
        [("P3", 20_000.0, AS_OF - dt.timedelta(days=1))],
        columns=["supplier_id", "balance", "balance_date"],
    )
    plan = plan_funding(skus, balances, forecast, costs, AS_OF, 28, events)
    row = plan.set_index("supplier_id").loc["P3"]
    assert row["daily_cost"] == pytest.approx(100 * 99 + 50 * 49.5)
    assert row["days_of_cover"] == pytest.approx(20_000 / 12_375, abs=0.005)
    assert row["topup_by"] == AS_OF + dt.timedelta(days=1)
    assert row["topup_amount"] > 0 and row["topup_amount"] % 100 == 0
    assert row["reason_en"].startswith("balance ¥20,000 covers 1.6 days at ¥12,375/day; top up")
    assert "请在 2026-11-07 前到账充值" in row["reason_zh"]


def test_funding_plan_counts_skus_without_cost_and_missing_balance(catalogue):
    skus, _, _, forecast, events, costs = catalogue
    plan = plan_funding(skus, pd.DataFrame(), forecast, costs.drop("T2"), AS_OF, 28, events)
    row = plan.set_index("supplier_id").loc["P3"]
    assert row["skus_without_cost"] == 1
    assert row["daily_cost"] == pytest.approx(9900)
    assert "no balance snapshot" in row["reason"]


def test_stock_risk_is_rated_once_in_the_plan():
    from forecasting.restock.plan import stock_risk

    plan = pd.DataFrame(
        {
            "on_hand": [0, 30, 500, 12, None],
            "days_of_cover": [0.0, 1.5, 50.0, 2.0, None],
            "lead_time_days": [2, 2, 5, 2, 3],
        }
    )
    # Out now; 1.5 d of cover < 2 d lead time; plenty; cover == lead time is in time; no stock
    # snapshot (nothing to rate).
    assert stock_risk(plan).tolist() == ["out_now", "before_arrival", "fine", "fine", "fine"]
