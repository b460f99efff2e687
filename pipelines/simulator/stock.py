"""Card-key stock run the way a real platform runs it: imperfectly.

Each day, per card-key SKU (vectorised across SKUs): batches ordered earlier arrive (some
late), buyers take keys earliest-expiry first until none are left, keys past their shelf
life expire, and the platform's reorder rule looks at its recent in-stock sales and orders
whole batches from the supplier. Demand the stock cannot serve is lost: those orders never
exist in the export (censored demand).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_SHELF_BUCKETS = 366  # shelf lives beyond a year are treated as "does not expire"
LATE_DELIVERY_PROBABILITY = 0.25


@dataclass(frozen=True)
class StockPolicy:
    lead_days: np.ndarray  # [sku] whole days from order to arrival
    min_order_qty: np.ndarray
    batch_size: np.ndarray
    shelf_life_days: np.ndarray  # 0 = no expiry
    launch_day: np.ndarray
    end_day: np.ndarray


@dataclass(frozen=True)
class StockHistory:
    """[sku, day] arrays over the history (card-key SKUs only)."""

    available: np.ndarray  # keys on hand at the start of the day, after arrivals
    sold: np.ndarray
    on_hand: np.ndarray  # end of day
    on_order: np.ndarray  # end of day
    expiring_7d: np.ndarray  # end of day: keys expiring within the next 7 days
    expired: np.ndarray
    received: np.ndarray

    @property
    def is_stockout(self) -> np.ndarray:
        return self.available == 0


def simulate_stock(
    demand_units: np.ndarray, prior_daily: np.ndarray, policy: StockPolicy, rng
) -> StockHistory:
    """1. Seed each SKU with 10-25 days of stock (or its first batch at launch); 2. for every
    day: receive arrivals, sell min(demand, available) earliest-expiry first, expire, record
    the end-of-day snapshot; 3. reorder when stock on hand and on order falls under
    recent in-stock sales x (lead time + 1 day) x a safety factor, in whole batches, at
    least the minimum order, capped by what the shelf life can sell."""
    n_sku, n_days = demand_units.shape
    lots = np.zeros((n_sku, MAX_SHELF_BUCKETS), dtype=np.int64)
    no_expiry = np.zeros(n_sku, dtype=np.int64)
    expires = (policy.shelf_life_days > 0) & (policy.shelf_life_days < MAX_SHELF_BUCKETS)
    shelf_bucket = np.where(expires, policy.shelf_life_days - 1, 0)
    arrivals = np.zeros((n_sku, n_days + 64), dtype=np.int64)
    on_order = np.zeros(n_sku, dtype=np.int64)
    safety = rng.uniform(0.6, 1.2, n_sku)
    cover_days = rng.uniform(7.0, 14.0, n_sku)
    rows = np.arange(n_sku)

    def receive(qty: np.ndarray) -> None:
        lots[rows[expires], shelf_bucket[expires]] += qty[expires]
        no_expiry[~expires] += qty[~expires]

    # Opening stock: SKUs on sale from day 0 start with 10-25 days of stock; later launches
    # get their first batch on launch day.
    opening = np.ceil(prior_daily * rng.uniform(10, 25, n_sku) / policy.batch_size)
    opening = np.maximum(opening * policy.batch_size, policy.min_order_qty).astype(np.int64)
    starts_now = policy.launch_day == 0
    receive(np.where(starts_now, opening, 0))
    later = ~starts_now & (policy.launch_day < n_days)
    arrivals[rows[later], policy.launch_day[later]] += opening[later]
    on_order[later] += opening[later]

    out = {
        name: np.zeros((n_sku, n_days), dtype=np.int64)
        for name in (
            "available",
            "sold",
            "on_hand",
            "on_order",
            "expiring_7d",
            "expired",
            "received",
        )
    }
    in_stock = np.zeros((n_sku, n_days), dtype=bool)
    for day in range(n_days):
        arriving = arrivals[:, day]
        receive(arriving)
        on_order -= arriving
        available = lots.sum(axis=1) + no_expiry
        sold = np.minimum(demand_units[:, day], available)

        # Earliest-expiry first, then the keys that never expire.
        before = np.cumsum(lots, axis=1) - lots
        take = np.clip(sold[:, None] - before, 0, lots)
        lots -= take
        no_expiry -= sold - take.sum(axis=1)

        expired = lots[:, 0].copy()
        lots[:, :-1] = lots[:, 1:]
        lots[:, -1] = 0

        out["available"][:, day] = available
        out["sold"][:, day] = sold
        out["expired"][:, day] = expired
        out["received"][:, day] = arriving
        on_hand = lots.sum(axis=1) + no_expiry
        out["on_hand"][:, day] = on_hand
        out["expiring_7d"][:, day] = lots[:, :7].sum(axis=1)
        in_stock[:, day] = available > 0

        # The platform's reorder rule, from what it can see: in-stock sales of the last 14 days.
        lo = max(0, day - 13)
        seen_days = in_stock[:, lo : day + 1].sum(axis=1)
        recent = out["sold"][:, lo : day + 1].sum(axis=1) / np.maximum(seen_days, 1)
        daily = np.where(day < 14, np.maximum(recent, prior_daily), recent)
        daily = np.where(seen_days == 0, prior_daily, daily)
        position = on_hand + on_order
        reorder_point = daily * (policy.lead_days + 1) * safety
        selling = (day >= policy.launch_day) & (day < policy.end_day - 30)
        needs = selling & (position < reorder_point) & (daily > 0)
        wanted = daily * (cover_days + policy.lead_days * safety) - position
        shelf_cap = np.where(expires, daily * policy.shelf_life_days * 0.6, np.inf)
        wanted = np.minimum(wanted, shelf_cap)
        qty = np.ceil(np.maximum(wanted, 1) / policy.batch_size) * policy.batch_size
        qty = np.where(needs, np.maximum(qty, policy.min_order_qty), 0).astype(np.int64)
        delay = np.where(
            rng.random(n_sku) < LATE_DELIVERY_PROBABILITY, rng.integers(1, 7, n_sku), 0
        )
        arrive_on = day + policy.lead_days + delay
        placed = qty > 0
        np.add.at(arrivals, (rows[placed], arrive_on[placed]), qty[placed])
        on_order += qty
        out["on_order"][:, day] = on_order
    return StockHistory(**out)
