"""Orders drawn from the expected demand, and the rows a daily incremental export carries.

One pass, vectorised over orders (no Python loop per order):
1. counts per SKU x province x day ~ Poisson(expected orders x gamma day shock x gamma
   cell shock): over-dispersed; quantities mostly 1, agents sometimes buy in bulk;
2. times of day from an intraday profile; card-key orders beyond the keys available that
   day never happen (the last buyer takes what is left);
3. merchants (heavy-tailed, biased to their home province), channel, payment, buyer;
4. statuses: supplier outages fail top-ups, ~1-2% are refunded later, some orders are never
   paid (cancelled, or still pending at the export's end);
5. rows: one per order per business day on which it changed, so a refund or a top-up that
   completes after midnight arrives as a later row with the same order_id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.simulator.catalogue import Catalogue, Merchants, SupplierSpec

STATUSES = ("pending_payment", "paid", "delivered", "failed", "refunded", "cancelled")
PENDING, PAID, DELIVERED, FAILED, REFUNDED, CANCELLED = range(6)
CHANNELS = ("web", "api", "mini_program", "douyin", "other")
PAYMENT_METHODS = ("alipay", "wechat_pay", "qq_wallet", "unionpay", "balance")
NEVER = np.iinfo(np.int64).max // 4
DAY_SECONDS = 86_400

QUANTITY_VALUES = np.array([1, 2, 3, 5, 10, 20, 50])
QUANTITY_PROBS = {
    "game_card": (0.82, 0.08, 0.03, 0.03, 0.025, 0.01, 0.005),
    "mobile_topup": (0.96, 0.02, 0.01, 0.005, 0.004, 0.001, 0.0),
    "data_topup": (0.95, 0.03, 0.01, 0.005, 0.004, 0.001, 0.0),
    "video_vip": (0.88, 0.06, 0.02, 0.02, 0.012, 0.006, 0.002),
    "software_license": (0.90, 0.04, 0.02, 0.02, 0.012, 0.006, 0.002),
    "gift_card": (0.86, 0.06, 0.03, 0.025, 0.015, 0.007, 0.003),
}
# Orders by hour of day: quiet before dawn, lunch bump, evening peak.
HOURLY = np.array(
    [
        2.0,
        1.2,
        0.6,
        0.35,
        0.25,
        0.3,
        0.6,
        1.5,
        2.8,
        3.8,
        4.5,
        4.8,
        5.2,
        5.0,
        4.6,
        4.5,
        4.6,
        4.8,
        5.0,
        5.6,
        6.5,
        7.0,
        6.5,
        4.2,
    ]
)
DAY_SHOCK_SHAPE = 50.0  # gamma shape of the SKU x day shock (sd ~ 14%)
CELL_SHOCK_SHAPE = 5.0  # gamma shape of the SKU x province x day shock
UNPAID_SHARE = 0.08  # orders created but never paid
REFUND_PROBABILITY = {"card_key": 0.015, "direct_topup": 0.01}
BACKGROUND_FAILURE = 0.004  # top-ups failing outside outages (wrong number, carrier reject)
UNPAID_TIMEOUT_SECONDS = 900
# Median delivery seconds by direct top-up supplier; card keys are delivered in seconds.
TOPUP_LATENCY_MEDIAN = {"SUP-11": 90, "SUP-12": 60, "SUP-13": 20, "SUP-14": 45, "SUP-15": 8 * 3600}


def quantity_mean(category: str) -> float:
    probs = np.array(QUANTITY_PROBS[category])
    return float((QUANTITY_VALUES * probs / probs.sum()).sum())


@dataclass
class Orders:
    """One entry per order (parallel arrays), sorted by SKU, day and time of day."""

    sku: np.ndarray
    region: np.ndarray
    day: np.ndarray
    created: np.ndarray  # local wall-clock seconds since 1970-01-01
    quantity: np.ndarray
    is_unpaid: np.ndarray | None = None
    merchant: np.ndarray | None = None
    channel: np.ndarray | None = None
    payment: np.ndarray | None = None
    buyer: np.ndarray | None = None
    paid: np.ndarray | None = None
    terminal: np.ndarray | None = None  # delivered / failed / cancelled time
    terminal_status: np.ndarray | None = None
    refund: np.ndarray | None = None
    rank: np.ndarray | None = None  # order by created_at: the order number

    def __len__(self) -> int:
        return len(self.sku)


def draw_demand(expected_units: np.ndarray, cat: Catalogue, day0_seconds: int, rng) -> Orders:
    """Step 1-2a: draw orders and quantities for every history cell, with times of day."""
    n_sku, n_region, n_days = expected_units.shape
    mean_q = np.array([quantity_mean(c) for c in cat.category])
    day_shock = rng.gamma(DAY_SHOCK_SHAPE, 1.0 / DAY_SHOCK_SHAPE, (n_sku, 1, n_days))
    cell_shock = rng.gamma(CELL_SHOCK_SHAPE, 1.0 / CELL_SHOCK_SHAPE, expected_units.shape)
    rate = expected_units / mean_q[:, None, None] * day_shock * cell_shock
    counts = rng.poisson(rate).ravel()
    cell = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    sku, rest = np.divmod(cell, n_region * n_days)
    region, day = np.divmod(rest, n_days)
    del cell, rest
    quantity = np.ones(len(sku), dtype=np.int32)
    for c in np.unique(cat.category):
        in_category = np.isin(sku, np.flatnonzero(cat.category == c))
        probs = np.array(QUANTITY_PROBS[c]) / sum(QUANTITY_PROBS[c])
        quantity[in_category] = rng.choice(QUANTITY_VALUES, size=in_category.sum(), p=probs)
    hour = rng.choice(24, size=len(sku), p=HOURLY / HOURLY.sum())
    time_of_day = hour * 3600 + rng.integers(0, 3600, len(sku))
    created = day0_seconds + day * DAY_SECONDS + time_of_day
    order = np.lexsort((created, sku))  # by SKU, then time
    return Orders(
        sku=sku[order].astype(np.int32),
        region=region[order].astype(np.int16),
        day=day[order].astype(np.int32),
        created=created[order],
        quantity=quantity[order],
    )


def ration_stock(orders: Orders, available: np.ndarray) -> Orders:
    """Step 2b: in each SKU-day, orders are served in time order while keys last; the order
    that meets the last keys gets what is left, later ones never happen. `available`
    is [sku, day] (a huge number for direct top-ups)."""
    n_days = available.shape[1]
    group = orders.sku.astype(np.int64) * n_days + orders.day
    cum = np.cumsum(orders.quantity, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, len(group)])
    before_group = np.repeat(cum[starts] - orders.quantity[starts], sizes)
    taken_before = cum - orders.quantity - before_group
    left = available.ravel()[group] - taken_before
    keep = left > 0
    quantity = np.minimum(orders.quantity, np.maximum(left, 0)).astype(np.int32)
    return Orders(
        sku=orders.sku[keep],
        region=orders.region[keep],
        day=orders.day[keep],
        created=orders.created[keep],
        quantity=quantity[keep],
    )


def add_unpaid(orders: Orders, day0_seconds: int, rng) -> Orders:
    """Step 4a: ~8% more orders on the same SKU, province and day are created and never paid."""
    pick = np.flatnonzero(rng.random(len(orders)) < UNPAID_SHARE)
    day = orders.day[pick]
    created = (
        day0_seconds + day.astype(np.int64) * DAY_SECONDS + rng.integers(0, DAY_SECONDS, len(pick))
    )
    n = len(orders)
    return Orders(
        sku=np.concatenate([orders.sku, orders.sku[pick]]),
        region=np.concatenate([orders.region, orders.region[pick]]),
        day=np.concatenate([orders.day, day]),
        created=np.concatenate([orders.created, created]),
        quantity=np.concatenate([orders.quantity, orders.quantity[pick]]),
        is_unpaid=np.r_[np.zeros(n, dtype=bool), np.ones(len(pick), dtype=bool)],
    )


def assign_merchants(orders: Orders, merchants: Merchants, rng) -> None:
    """Step 3a: P(merchant | province) ~ size x (7 if it is the merchant's home province);
    a merchant that had not joined yet hands the order to its parent."""
    n_regions = int(orders.region.max()) + 1 if len(orders) else 1
    merchant = np.empty(len(orders), dtype=np.int32)
    u = rng.random(len(orders))
    for region in range(n_regions):
        weight = merchants.size * np.where(merchants.home_region == region, 7.0, 1.0)
        cdf = np.cumsum(weight) / weight.sum()
        here = orders.region == region
        merchant[here] = np.minimum(np.searchsorted(cdf, u[here]), len(cdf) - 1)
    for _ in range(3):  # sub-agent -> agent -> site
        early = orders.day < merchants.joined_day[merchant]
        parent = merchants.parent_index[merchant]
        merchant = np.where(early & (parent >= 0), parent, merchant).astype(np.int32)
    orders.merchant = merchant


def assign_channels(orders: Orders, merchants: Merchants, cat: Catalogue, rng) -> None:
    """Step 3b: bulk orders and some agent traffic come through the API and pay from the
    agent's prepaid balance; shoppers use the web shop, mini programs and Douyin."""
    n = len(orders)
    via_api = (orders.quantity >= 10) | (rng.random(n) < merchants.api_share[orders.merchant])
    retail = rng.choice([0, 2, 3, 4], size=n, p=[0.5, 0.3, 0.13, 0.07])
    video = np.isin(orders.sku, np.flatnonzero(cat.category == "video_vip"))
    retail = np.where(video & (rng.random(n) < 0.15), 3, retail)  # Douyin sells memberships
    orders.channel = np.where(via_api, 1, retail).astype(np.int8)
    pay = rng.choice(5, size=n, p=[0.47, 0.43, 0.04, 0.03, 0.03])
    orders.payment = np.where(via_api, 4, pay).astype(np.int8)
    # Repeat buyers: a few buy often, most once or twice.
    pool = max(1000, n // 3)
    orders.buyer = (rng.random(n) ** 2 * pool).astype(np.int64)


def outage_windows(topup_suppliers: list[str], day0: int, n_days: int, rng) -> dict:
    """Supplier API outages: ~1.5 a month per direct top-up supplier, median 40 minutes."""
    windows = {}
    for supplier in topup_suppliers:
        count = rng.poisson(n_days / 20)
        start = np.sort(day0 + rng.integers(0, n_days * DAY_SECONDS, count))
        length = np.minimum(rng.lognormal(np.log(2400), 0.9, count), 8 * 3600).astype(np.int64)
        windows[supplier] = (start, start + length)
    return windows


def settle(orders: Orders, cat: Catalogue, windows: dict, rng) -> None:
    """Step 4b: paid time, delivery or failure time and status, refund time."""
    n = len(orders)
    unpaid = orders.is_unpaid
    pay_delay = 3 + rng.lognormal(np.log(20), 0.8, n).astype(np.int64)
    orders.paid = np.where(unpaid, NEVER, orders.created + pay_delay)

    supplier = cat.supplier_id[orders.sku]
    is_key = cat.delivery_type[orders.sku] == "card_key"
    latency = rng.lognormal(np.log(2.5), 0.6, n)
    manual = rng.random(n) < 0.005  # keys that needed a human
    latency = np.where(manual, latency + rng.uniform(60, 3600, n), latency)
    topup_median = np.ones(n)
    for sup, median in TOPUP_LATENCY_MEDIAN.items():
        topup_median[supplier == sup] = median
    topup_latency = rng.lognormal(0, 1.0, n) * topup_median
    slow_tail = rng.random(n) < 0.02
    topup_latency = np.where(
        slow_tail, topup_latency + rng.uniform(600, 4 * 3600, n), topup_latency
    )
    topup_latency = np.minimum(topup_latency, 72 * 3600)
    latency = np.where(is_key, latency, topup_latency).astype(np.int64) + 1

    failed = ~is_key & (rng.random(n) < BACKGROUND_FAILURE)
    for sup, (start, end) in windows.items():
        mine = np.flatnonzero(supplier == sup)
        if len(start) == 0 or len(mine) == 0:
            continue
        t = orders.created[mine]
        k = np.searchsorted(start, t, side="right") - 1
        inside = (k >= 0) & (t < end[np.maximum(k, 0)])
        failed[mine[inside]] = True
    failed &= ~unpaid
    fail_after = rng.integers(30, 900, n)
    orders.terminal = np.where(
        unpaid,
        orders.created + UNPAID_TIMEOUT_SECONDS,
        np.where(failed, orders.paid + fail_after, orders.paid + latency),
    )
    orders.terminal_status = np.where(
        unpaid, CANCELLED, np.where(failed, FAILED, DELIVERED)
    ).astype(np.int8)
    refund_p = np.where(is_key, REFUND_PROBABILITY["card_key"], REFUND_PROBABILITY["direct_topup"])
    refunded = (orders.terminal_status == DELIVERED) & (rng.random(n) < refund_p)
    refund_delay = np.minimum(rng.lognormal(np.log(8 * 3600), 1.3, n), 14 * DAY_SECONDS)
    orders.refund = np.where(refunded, orders.terminal + refund_delay.astype(np.int64) + 60, NEVER)
    orders.rank = np.empty(n, dtype=np.int64)
    orders.rank[np.lexsort((orders.sku, orders.created))] = np.arange(n)


@dataclass
class OrderRows:
    """One export row per order per business day on which it changed."""

    order: np.ndarray  # index into Orders
    status: np.ndarray
    updated: np.ndarray
    paid: np.ndarray  # NEVER = null
    delivered: np.ndarray  # NEVER = null

    def __len__(self) -> int:
        return len(self.order)


def _end_of_day(t: np.ndarray) -> np.ndarray:
    return (t // DAY_SECONDS + 1) * DAY_SECONDS - 1


def export_rows(orders: Orders, export_end: int) -> OrderRows:
    """Step 5: the state of each order at the end of its creation day, then again at the end
    of each later day on which it changed (completion, refund); nothing after the export."""
    first = np.minimum(_end_of_day(orders.created), export_end)
    second = np.minimum(_end_of_day(orders.terminal), export_end)
    has_second = (orders.terminal > first) & (orders.terminal <= export_end)
    last_seen = np.where(has_second, second, first)
    third = np.minimum(_end_of_day(orders.refund), export_end)
    has_third = (orders.refund <= export_end) & (orders.refund > last_seen)
    index = np.arange(len(orders))
    row_order = np.concatenate([index, index[has_second], index[has_third]])
    snapshot = np.concatenate([first, second[has_second], third[has_third]])

    paid_t = orders.paid[row_order]
    terminal_t = orders.terminal[row_order]
    refund_t = orders.refund[row_order]
    terminal_status = orders.terminal_status[row_order]
    is_refunded = refund_t <= snapshot
    is_terminal = terminal_t <= snapshot
    is_paid = paid_t <= snapshot
    status = np.select(
        [is_refunded, is_terminal, is_paid], [REFUNDED, terminal_status, PAID], PENDING
    ).astype(np.int8)
    updated = np.select(
        [is_refunded, is_terminal, is_paid],
        [refund_t, terminal_t, paid_t],
        orders.created[row_order],
    )
    was_delivered = (terminal_status == DELIVERED) & is_terminal
    return OrderRows(
        order=row_order,
        status=status,
        updated=updated,
        paid=np.where(is_paid, paid_t, NEVER),
        delivered=np.where(was_delivered, terminal_t, NEVER),
    )


def topup_cost_by_day(
    orders: Orders,
    cat: Catalogue,
    cost_cents: np.ndarray,
    suppliers: list[SupplierSpec],
    day0: int,
    n_days: int,
) -> np.ndarray:
    """[supplier, day] CNY cents drawn from each direct top-up supplier's balance by the
    top-ups it completed that day."""
    completed = orders.terminal_status == DELIVERED
    is_topup = cat.delivery_type[orders.sku] == "direct_topup"
    pick = np.flatnonzero(completed & is_topup & (orders.terminal < day0 + n_days * DAY_SECONDS))
    supplier_index = {s.supplier_id: i for i, s in enumerate(suppliers)}
    sku_supplier = np.array([supplier_index.get(s, 0) for s in cat.supplier_id])
    day = (orders.terminal[pick] - day0) // DAY_SECONDS
    sku = orders.sku[pick]
    # The cost the order carries (its creation day's), drawn on the day it completed: an order
    # placed before midnight and done after costs what it said, so balances reconcile (#19).
    cost = cost_cents[sku, orders.day[pick]] * orders.quantity[pick]
    flat = sku_supplier[sku] * n_days + day
    return np.bincount(flat, weights=cost, minlength=len(suppliers) * n_days).reshape(
        len(suppliers), n_days
    )
