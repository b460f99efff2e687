"""The replay the restock bench measures with (``forecasting.restock.replay``), on a small
world made here."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from forecasting.restock import SupplierTerms, replay


@pytest.fixture(scope="module")
def bench():
    """The replay module (``forecasting.restock.replay``) and the bench's delay draw."""
    path = Path(__file__).resolve().parent.parent / "bench" / "restock.py"
    spec = importlib.util.spec_from_file_location("restock_bench", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["restock_bench"] = module
    spec.loader.exec_module(module)
    return SimpleNamespace(**vars(replay), draw_delays=module.draw_delays)


def make_world(bench, demand_per_day=20, shelf_life=(None, 30), days=28, lead_hours=48):
    n = len(shelf_life)
    rng = np.random.default_rng(3)
    history = rng.poisson(demand_per_day, (n, 120))
    return bench.World(
        start=dt.date(2026, 9, 1), days=days, sku_id=[f"S{i}" for i in range(n)],
        supplier_id=["P1"] * n, category=["game_card"] * n, brand=["b"] * n,
        terms=[SupplierTerms(lead_hours, 50, 10)] * n, shelf_life=list(shelf_life),
        service_level=np.full(n, 0.95),
        demand=rng.poisson(demand_per_day, (n, days + bench.LOOKAHEAD_DAYS)),
        history=history, history_stockout=np.zeros(history.shape, dtype=bool),
        history_start=dt.date(2026, 5, 4), on_hand=np.full(n, 100),
        on_order=np.zeros(n, dtype=np.int64), expiring_7d=np.zeros(n, dtype=np.int64),
    )  # fmt: skip


def test_oracle_serves_everything_once_its_first_order_can_arrive(bench):
    world = make_world(bench)
    outcome = bench.replay(world, bench.Oracle(world))
    # 100 keys cover the two days before the first order arrives (20 a day): nothing lost.
    assert outcome.fill_rate == 1.0
    assert outcome.demand == world.demand[:, : world.days].sum()
    assert outcome.expired == 0


def test_naive_holds_about_two_weeks_and_cardpulse_less(bench):
    world = make_world(bench)
    naive = bench.replay(world, bench.Naive(world))
    ours = bench.replay(world, bench.CardPulse(world, bench.standin_paths))
    assert 8 < naive.on_hand_days < 14
    assert ours.on_hand_days < 0.8 * naive.on_hand_days
    assert ours.fill_rate > 0.95


def test_stock_runs_out_and_keys_expire_when_nothing_is_ordered(bench):
    class NeverOrders:
        name = "never"

        def order(self, day, stock, sales, stockout):
            return np.zeros(len(stock), dtype=np.int64)

    world = make_world(bench, demand_per_day=1, shelf_life=(None, 10), days=20)
    outcome = bench.replay(world, NeverOrders())
    # The 10-day SKU's opening keys expire halfway through their shelf life (day 5).
    assert outcome.expired == 100 - world.demand[1, :5].sum()  # sold on days 0..4
    assert outcome.bought == 0 and outcome.order_lines == 0


def test_a_late_batch_arrives_after_its_delay_and_its_lost_days_are_marked(bench):
    class OrdersOnDayZero:
        name = "once"

        def order(self, day, stock, sales, stockout):
            return np.full(len(stock), 200 if day == 0 else 0, dtype=np.int64)

    world = make_world(bench, demand_per_day=20, shelf_life=(None, None), days=10)
    world.demand[:, :10] = 20
    world.delay[1, 0] = 3  # SKU 1's batch is due on day 2 but arrives on day 5
    outcome = bench.replay(world, OrdersOnDayZero())
    # 100 opening keys last 5 days for both; SKU 0's batch came in time, SKU 1's did not
    # matter either (it arrived on day 5, the day stock ran out): nothing lost.
    assert outcome.fill_rate == 1.0
    world.delay[1, 0] = 5  # now due on day 2, arrives on day 7: days 5 and 6 are lost
    late = bench.replay(world, OrdersOnDayZero())
    assert late.lost == {(1, 5): 20, (1, 6): 20}
    assert late.late == {(1, 5), (1, 6)}


def test_draw_delays_makes_a_quarter_late_by_one_to_six_days(bench):
    delays = bench.draw_delays((50, 400), np.random.default_rng(1))
    late = delays[delays > 0]
    assert 0.22 < late.size / delays.size < 0.28
    assert late.min() == 1 and late.max() == 6
