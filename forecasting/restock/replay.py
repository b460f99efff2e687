"""Restock replay: a card-key policy run day by day against known demand, for the bench.

``bench/restock.py`` builds a ``World`` from a simulated platform (CardPulse's warehouse for
what was known, the simulator's truth for the demand that came) and compares policies with
``replay``; the tests build small worlds by hand. Plain Python over arrays: no framework.

1. ``World``: active card-key SKUs (parallel arrays), the demand per SKU and day, the sales
   history known before the replay, the opening stock and the delivery delays.
2. Forecasters (what CardPulse's policy sees): ``cardpulse_paths`` runs the forecasting
   stage (``forecasting.demand.forecast_demand``), ``standin_paths`` a weekday-adjusted mean.
3. Policies with ``order(day, stock, sales, stockout) -> quantities``: ``CardPulse``
   (``decide_card_key_order`` on a forecast refit weekly), ``Naive`` (keep N days of the
   trailing average), ``Oracle`` (the true future demand, no safety stock).
4. ``replay``: every morning the policy orders on yesterday's closing stock; arrivals; sales
   earliest expiry first, unmet demand lost; keys past their shelf life expire.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cardpulse.settings import DEFAULT_FORECAST, DEFAULT_RESTOCK
from forecasting.restock.card_keys import (
    KeyStock,
    RestockPolicy,
    SupplierTerms,
    decide_card_key_order,
)
from forecasting.restock.demand_paths import DemandPath, demand_paths

HORIZON = DEFAULT_FORECAST.horizon_days
NAIVE_COVER_DAYS = 14
NAIVE_WINDOW_DAYS = 28
# The plan's safety stock covers at least the largest day of this window (as the build).
PEAK_WINDOW_DAYS = DEFAULT_RESTOCK.peak_window_days
# Demand is drawn this far past the replay so the oracle can see a batch's whole shelf life.
LOOKAHEAD_DAYS = 120


@dataclass
class World:
    """Active card-key SKUs (parallel arrays) and the days of the replay."""

    start: dt.date
    days: int
    sku_id: list[str]
    supplier_id: list[str]
    category: list[str]
    brand: list[str]
    terms: list[SupplierTerms]
    shelf_life: list[int | None]
    service_level: np.ndarray
    demand: np.ndarray  # [sku, day] from the replay's first day, LOOKAHEAD_DAYS further
    history: np.ndarray  # [sku, day] demand units sold before the replay (censored)
    history_stockout: np.ndarray  # [sku, day] out of stock that day
    history_start: dt.date
    on_hand: np.ndarray
    on_order: np.ndarray
    expiring_7d: np.ndarray
    events: pd.DataFrame = field(default_factory=pd.DataFrame)
    # [sku, day] days an order placed that day arrives after its lead time (None: never late)
    delay: np.ndarray | None = None
    # Per SKU, its supplier's delay distribution learnt from the inventory before the replay
    # (None: too few batches seen, the policy's fixed late cover applies).
    late_delays: list[tuple[float, ...] | None] = field(default_factory=list)

    def __post_init__(self):
        if self.delay is None:
            self.delay = np.zeros((len(self.sku_id), self.days), dtype=np.int64)


# --- forecasters (what CardPulse's policy sees) ------------------------------------------


def standin_paths(world: World, sales: np.ndarray, stockout: np.ndarray, as_of: dt.date):
    """Weekday-adjusted mean of the last 28 in-stock days; sigma from its residuals."""
    paths = {}
    recent, recent_out = sales[:, -56:].astype(float), stockout[:, -56:]
    weekday0 = (as_of - dt.timedelta(days=56)).weekday()
    weekdays = (np.arange(56) + weekday0) % 7
    for row, sku_id in enumerate(world.sku_id):
        in_stock = ~recent_out[row]
        values = np.where(in_stock, recent[row], np.nan)
        level = np.nanmean(values[-28:]) if np.isfinite(values[-28:]).any() else 0.0
        level = 0.0 if np.isnan(level) else level
        factors = np.ones(7)
        if level > 0:
            for day in range(7):
                picked = values[weekdays == day]
                if np.isfinite(picked).any():
                    factors[day] = np.nanmean(picked) / max(np.nanmean(values), 1e-9)
        residual = values[-28:] - level * factors[weekdays[-28:]]
        sigma = float(np.nanstd(residual)) if np.isfinite(residual).any() else 0.0
        future = (np.arange(HORIZON) + as_of.weekday()) % 7
        paths[sku_id] = DemandPath(as_of, level * factors[future], np.full(HORIZON, sigma))
    return paths


def cardpulse_paths(world: World, sales: np.ndarray, stockout: np.ndarray, as_of: dt.date):
    """``forecasting.demand.forecast_demand`` on the sales known by ``as_of``."""
    from forecasting.demand.inputs import DemandInputs
    from forecasting.demand.pipeline import forecast_demand

    first = as_of - dt.timedelta(days=sales.shape[1])
    dates = pd.date_range(first, periods=sales.shape[1])
    rows, cols = np.nonzero(sales)
    sku_sales = pd.DataFrame({
        "sku_id": np.array(world.sku_id)[rows], "region_code": "CN-BJ",
        "ds": dates[cols], "units": sales[rows, cols],
    })  # fmt: skip
    out_rows, out_cols = np.nonzero(stockout)
    stockouts = pd.DataFrame({"sku_id": np.array(world.sku_id)[out_rows], "ds": dates[out_cols]})
    skus = pd.DataFrame({
        "sku_id": world.sku_id, "category": world.category, "brand": world.brand,
        "delivery_type": "card_key", "active": True,
    })  # fmt: skip
    inputs = DemandInputs(
        sku_sales=sku_sales,
        skus=skus,
        stockouts=stockouts,
        events=world.events,
        merchant_sales=pd.DataFrame(columns=["merchant_id", "sku_id", "ds", "units"]),
    )
    tables = forecast_demand(inputs, as_of, DEFAULT_FORECAST.engine_settings())
    return demand_paths(tables.forecast, as_of, HORIZON)


# --- policies ------------------------------------------------------------------------------


class CardPulse:
    name = "CardPulse"

    def __init__(
        self, world: World, forecaster, refit_days: int = 7, policy=None, learn: bool = True
    ):
        self.world, self.forecaster, self.refit_days = world, forecaster, refit_days
        self.policy = policy or RestockPolicy()
        # Per SKU: the policy with its supplier's learnt delays, as the build applies it.
        self.policies = [
            dataclasses.replace(self.policy, late_delay_pmf=pmf)
            if learn and pmf is not None
            else self.policy
            for pmf in (world.late_delays or [None] * len(world.sku_id))
        ]
        self.decisions: dict = {}  # (sku row, day) -> the decision that morning
        self.paths: dict[str, DemandPath] = {}
        self.fitted_on = -refit_days
        self.forecast_seconds = 0.0

    def order(self, day: int, stock: list[KeyStock], sales, stockout) -> np.ndarray:
        world = self.world
        today = world.start + dt.timedelta(days=day)
        if day - self.fitted_on >= self.refit_days:
            began = time.perf_counter()
            self.paths = self.forecaster(world, sales, stockout, today)
            seconds = time.perf_counter() - began
            self.forecast_seconds += seconds
            self.fitted_on = day
            print(f"  forecast as of {today}: {len(self.paths)} SKUs in {seconds:.1f}s",
                  file=sys.stderr, flush=True)  # fmt: skip
        age = day - self.fitted_on
        quantities = np.zeros(len(world.sku_id), dtype=np.int64)
        largest_day = sales[:, -PEAK_WINDOW_DAYS:].max(axis=1)
        for row, sku_id in enumerate(world.sku_id):
            path = self.paths.get(sku_id)
            if path is None:
                continue
            shifted = path.extended(HORIZON)
            path = DemandPath(today, shifted.mean[age:], shifted.sigma[age:])
            decision = decide_card_key_order(
                stock[row], path, world.terms[row], float(world.service_level[row]),
                world.shelf_life[row], largest_recent_day=float(largest_day[row]),
                policy=self.policies[row],
            )  # fmt: skip
            quantities[row] = decision.order_qty
            self.decisions[(row, day)] = decision
        return quantities


class Oracle:
    name = "oracle"

    def __init__(self, world: World):
        self.world = world

    def order(self, day: int, stock: list[KeyStock], sales, stockout) -> np.ndarray:
        world = self.world
        today = world.start + dt.timedelta(days=day)
        quantities = np.zeros(len(world.sku_id), dtype=np.int64)
        for row, terms in enumerate(world.terms):
            future = world.demand[row, day:].astype(float)
            path = DemandPath(today, future, np.zeros(len(future)))
            # It also knows when today's order will really arrive (late or not).
            arrives_in = terms.lead_days + int(world.delay[row, day])
            known = dataclasses.replace(terms, lead_time_hours=24.0 * arrives_in)
            quantities[row] = decide_card_key_order(
                stock[row], path, known, 0.5, world.shelf_life[row]
            ).order_qty
        return quantities


class Naive:
    def __init__(self, world: World, cover_days: int = NAIVE_COVER_DAYS):
        self.world, self.cover_days = world, cover_days
        self.name = f"naive {cover_days} days"

    def order(self, day: int, stock: list[KeyStock], sales, stockout) -> np.ndarray:
        world = self.world
        average = sales[:, -NAIVE_WINDOW_DAYS:].mean(axis=1)
        quantities = np.zeros(len(world.sku_id), dtype=np.int64)
        for row, terms in enumerate(world.terms):
            target = self.cover_days * average[row]
            position = stock[row].on_hand + stock[row].on_order
            if position < target:
                batches = math.ceil((target - position) / terms.batch)
                quantities[row] = max(batches * terms.batch, terms.smallest_order)
        return quantities


# --- the replay ----------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    demand: int = 0
    served: int = 0
    on_hand_days: float = 0.0
    bought: int = 0
    expired: int = 0
    expired_bought: int = 0
    order_lines: int = 0
    purchase_orders: int = 0
    seconds: float = 0.0
    lost: dict = field(default_factory=dict)  # (sku row, day) -> units not served
    late: set = field(default_factory=set)  # (sku row, day): a batch due by then was late

    @property
    def fill_rate(self) -> float:
        return self.served / self.demand if self.demand else 1.0


def replay(world: World, policy) -> Outcome:
    """Day by day: 1. the policy orders on yesterday's closing stock; 2. arrivals; 3. sell
    earliest expiry first, unmet demand lost; 4. keys past their shelf life expire."""
    began = time.perf_counter()
    n, days = len(world.sku_id), world.days
    # Lots per SKU: [expiry_day (exclusive: gone before that day's sales), keys, bought?].
    lots: list[list[list]] = []
    for row in range(n):
        shelf = world.shelf_life[row]
        expiring = int(min(world.expiring_7d[row], world.on_hand[row]))
        rest = int(world.on_hand[row]) - expiring
        never = 10**9
        lots.append([
            [3 if shelf else never, expiring, False],
            [max(4, shelf // 2) if shelf else never, rest, False],
        ])  # fmt: skip
    arrivals: dict[int, list[tuple[int, int, bool]]] = {1: [
        (row, int(world.on_order[row]), False) for row in range(n) if world.on_order[row] > 0
    ]}  # fmt: skip
    overdue: list[tuple[int, int, int]] = []  # (sku row, due day, arrival day) of late batches
    on_order = world.on_order.astype(np.int64).copy()
    sales = np.concatenate([world.history, np.zeros((n, days), dtype=np.int64)], axis=1)
    stockout = np.concatenate([world.history_stockout, np.zeros((n, days), dtype=bool)], axis=1)
    known = world.history.shape[1]
    outcome = Outcome(policy.name)
    mean_demand = world.demand[:, :days].sum() / days
    for day in range(days):
        stock = []
        for row in range(n):
            held = sum(lot[1] for lot in lots[row])
            soon = sum(lot[1] for lot in lots[row] if lot[0] <= day + 7)
            stock.append(KeyStock(held, int(on_order[row]), soon))
        quantities = policy.order(day, stock, sales[:, : known + day], stockout[:, : known + day])
        suppliers_today = set()
        for row in np.flatnonzero(quantities > 0):
            quantity = int(quantities[row])
            due = day + world.terms[row].lead_days
            arrives = due + int(world.delay[row, day])
            if arrives > due:
                overdue.append((row, due, arrives))
            arrivals.setdefault(arrives, []).append((row, quantity, True))
            on_order[row] += quantity
            outcome.bought += quantity
            outcome.order_lines += 1
            suppliers_today.add(world.supplier_id[row])
        outcome.purchase_orders += len(suppliers_today)
        for row, quantity, bought in arrivals.pop(day, []):
            shelf = world.shelf_life[row]
            lots[row].append([day + shelf if shelf else 10**9, quantity, bought])
            on_order[row] -= quantity
        closing = 0
        for row in range(n):
            wanted = int(world.demand[row, day])
            lots[row].sort(key=lambda lot: lot[0])
            left = wanted
            for lot in lots[row]:
                take = min(left, lot[1])
                lot[1] -= take
                left -= take
                if left == 0:
                    break
            served = wanted - left
            if left:
                outcome.lost[(row, day)] = left
                if any(r == row and due <= day < arrives for r, due, arrives in overdue):
                    outcome.late.add((row, day))
            outcome.demand += wanted
            outcome.served += served
            sales[row, known + day] = served
            for lot in lots[row]:
                if lot[0] <= day + 1 and lot[1] > 0:  # expires before tomorrow's sales
                    outcome.expired += lot[1]
                    outcome.expired_bought += lot[1] if lot[2] else 0
                    lot[1] = 0
            lots[row] = [lot for lot in lots[row] if lot[1] > 0]
            held = sum(lot[1] for lot in lots[row])
            stockout[row, known + day] = held == 0
            closing += held
        outcome.on_hand_days += closing / max(mean_demand, 1e-9) / days
    outcome.seconds = time.perf_counter() - began
    return outcome
