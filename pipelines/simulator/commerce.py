"""The whole order (issue #18): agents, coupons, payment channels and card-key batches.

Drawn after the orders (vectorised, no loop per order), each with its truth:

1. agents: each site merchant has 0-4 resellers (sub-sites) with a commission rule, a share
   of the merchant's orders that grows or shrinks over time, some under another agent;
2. coupons: a 7-day coupon for a merchant is used by a share of the orders that would have
   happened anyway (cannibalisation) and brings extra orders (real uplift: Poisson on the
   merchant's own orders those days, copies of its orders with new buyers and times);
3. payment channels from the payment method, each with its fee rate and failure rate: failed
   attempts before the successful one, and a few failed attempts on never-paid orders;
4. card-key batches from the stock simulation's receipts; a delivered order's keys come
   from the oldest batch of its SKU still holding enough unexpired keys (batch_of_orders);
5. buyer contacts (e-mail / phone / QQ) and IPs, stable per buyer: ingest keys them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.simulator.orders import DAY_SECONDS, DELIVERED, NEVER, PAYMENT_METHODS, Orders
from pipelines.simulator.stock import MAX_SHELF_BUCKETS

PAYMENT_CHANNELS = ("alipay", "wxpay", "qqpay", "unionpay", "usdt", "balance")
# Gateway fee (share of the amount) and failure probability of one payment attempt.
FEE_RATE = {
    "alipay": 0.006,
    "wxpay": 0.006,
    "qqpay": 0.01,
    "unionpay": 0.0055,
    "usdt": 0.003,
    "balance": 0.0,
}
FAILURE_RATE = {
    "alipay": 0.02,
    "wxpay": 0.03,
    "qqpay": 0.06,
    "unionpay": 0.08,
    "usdt": 0.12,
    "balance": 0.005,
}
USDT_SHARE_OF_UNIONPAY = 0.4  # card payers that pay in USDT instead
COMMISSION_PCTS = (3.0, 5.0, 8.0, 10.0, 12.0, 15.0)
COUPON_COUNT = {"small": 20, "medium": 40, "large": 80}
COUPON_DAYS = 7
COUPON_GAP_DAYS = 60  # between two coupons of one merchant (room for comparable days)
UPLIFT_RANGE = (0.1, 0.6)  # extra orders / the merchant's own orders on coupon days
CANNIBALISATION_RANGE = (0.2, 0.6)  # share of the merchant's own orders that use the coupon
DISCOUNT_PCTS = (5, 8, 10, 12, 15)


@dataclass(frozen=True)
class Agents:
    agent_id: np.ndarray
    merchant: np.ndarray  # merchant index
    parent: np.ndarray  # agent index, -1 = top level
    commission_pct: np.ndarray
    share: np.ndarray  # share of the merchant's orders at the middle of the history
    growth: np.ndarray  # log-growth of that share per year
    joined_day: np.ndarray

    def __len__(self) -> int:
        return len(self.agent_id)


@dataclass(frozen=True)
class Coupons:
    code: np.ndarray
    merchant: np.ndarray
    start: np.ndarray  # day index
    discount_pct: np.ndarray
    uplift: np.ndarray
    cannibalisation: np.ndarray
    incremental: np.ndarray  # orders added (filled by add_coupon_orders)

    def __len__(self) -> int:
        return len(self.code)


@dataclass
class OrderExtras:
    """Per order (parallel to Orders): the issue #18 facts, money in cents."""

    coupon: np.ndarray  # coupon index, -1 = none
    agent: np.ndarray  # agent index, -1 = none
    channel: np.ndarray  # index into PAYMENT_CHANNELS
    gross_cents: np.ndarray  # quantity x unit price before the coupon
    discount_cents: np.ndarray
    fee_cents: np.ndarray
    commission_cents: np.ndarray
    batch: np.ndarray  # index into the batches table, -1 = none

    @property
    def paid_cents(self) -> np.ndarray:
        return self.gross_cents - self.discount_cents


def build_agents(merchants, history_days: int, rng) -> Agents:
    """0-4 agents per site merchant (more for larger sites), a third under another agent."""
    sites = np.flatnonzero(merchants.tier == "site")
    counts = np.minimum(rng.poisson(1.5 + np.log1p(merchants.size[sites])), 4)
    merchant = np.repeat(sites, counts)
    n = len(merchant)
    parent = np.full(n, -1, dtype=np.int64)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    first_of_site = np.repeat(starts, counts)
    under = (np.arange(n) > first_of_site) & (rng.random(n) < 0.35)
    parent[under] = first_of_site[under]
    share = rng.uniform(0.04, 0.15, n)
    joined = np.where(rng.random(n) < 0.3, rng.integers(60, history_days - 120, n), -30)
    return Agents(
        agent_id=np.array([f"AG{i + 1:04d}" for i in range(n)]),
        merchant=merchant,
        parent=parent,
        commission_pct=rng.choice(COMMISSION_PCTS, n),
        share=share,
        growth=rng.normal(0.0, 0.5, n),
        joined_day=joined,
    )


def assign_agents(orders: Orders, agents: Agents, n_merchants: int, history_days: int, rng):
    """Per order: the agent that sold it (-1: the merchant's own shop)."""
    agent = np.full(len(orders), -1, dtype=np.int32)
    if not len(agents):
        return agent
    u = rng.random(len(orders))
    years = (orders.day - history_days / 2) / 365.0
    cumulative = np.zeros(len(orders))
    by_merchant = [np.flatnonzero(agents.merchant == m) for m in range(n_merchants)]
    has_agents = np.array([len(a) > 0 for a in by_merchant])
    candidates = np.flatnonzero(has_agents[orders.merchant])
    for m in np.flatnonzero(has_agents):
        mine = candidates[orders.merchant[candidates] == m]
        for a in by_merchant[m]:
            share = agents.share[a] * np.exp(agents.growth[a] * years[mine])
            share = np.where(orders.day[mine] >= agents.joined_day[a], np.minimum(share, 0.3), 0)
            low = cumulative[mine]
            cumulative[mine] = low + share
            hit = (u[mine] >= low) & (u[mine] < low + share)
            agent[mine[hit]] = a
    return agent


def plan_coupons(merchants, daily_orders: np.ndarray, history_days: int, scale: str, rng):
    """Coupons on merchants with enough orders, 7 days each, away from the history's edges and
    from days when a merchant's sub-agent joins (its orders move, which is not the coupon)."""
    wanted = COUPON_COUNT[scale]
    volume = daily_orders.mean(axis=1)
    eligible = np.flatnonzero(volume >= 3.0)
    if not len(eligible):
        eligible = np.argsort(volume)[::-1][:3]
    children = {m: np.flatnonzero(merchants.parent_index == m) for m in eligible}
    merchant, start = [], []
    taken: dict[int, list[int]] = {}
    tries = 0
    while len(merchant) < wanted and tries < wanted * 50:
        tries += 1
        m = int(rng.choice(eligible))
        s = int(rng.integers(60, history_days - 60 - COUPON_DAYS))
        kin = children[m]
        kin = np.r_[kin, np.flatnonzero(np.isin(merchants.parent_index, kin))]
        if np.any(np.abs(merchants.joined_day[kin] - s) < 45):
            continue
        if any(abs(s - other) < COUPON_GAP_DAYS for other in taken.get(m, [])):
            continue
        taken.setdefault(m, []).append(s)
        merchant.append(m)
        start.append(s)
    n = len(merchant)
    order = np.lexsort((np.array(merchant), np.array(start))) if n else np.zeros(0, int)
    return Coupons(
        code=np.array([f"CP{i + 1:03d}" for i in range(n)]),
        merchant=np.array(merchant, dtype=np.int64)[order],
        start=np.array(start, dtype=np.int64)[order],
        discount_pct=rng.choice(DISCOUNT_PCTS, n),
        uplift=rng.uniform(*UPLIFT_RANGE, n),
        cannibalisation=rng.uniform(*CANNIBALISATION_RANGE, n),
        incremental=np.zeros(n, dtype=np.int64),
    )


def add_coupon_orders(
    orders: Orders, coupons: Coupons, day0: int, rng
) -> tuple[Orders, np.ndarray]:
    """Cannibalised and incremental coupon orders; returns (orders with the extra ones
    appended, coupon index per order). Extra orders copy a random paid order of the merchant
    that day (SKU, province, quantity, channel, payment) with a new time and buyer."""
    n = len(orders)
    coupon = np.full(n, -1, dtype=np.int32)
    paid = ~orders.is_unpaid
    extra_rows, extra_coupon, extra_created = [], [], []
    for c in range(len(coupons)):
        m, s = coupons.merchant[c], coupons.start[c]
        for d in range(s, s + COUPON_DAYS):
            own = np.flatnonzero(paid & (orders.merchant == m) & (orders.day == d))
            used = own[rng.random(len(own)) < coupons.cannibalisation[c]]
            coupon[used] = c
            added = rng.poisson(coupons.uplift[c] * len(own)) if len(own) else 0
            if added:
                extra_rows.append(rng.choice(own, added))
                extra_coupon.append(np.full(added, c, dtype=np.int32))
                extra_created.append(day0 + d * DAY_SECONDS + rng.integers(0, DAY_SECONDS, added))
                coupons.incremental[c] += added
    if not extra_rows:
        return orders, coupon
    rows = np.concatenate(extra_rows)
    created = np.concatenate(extra_created)
    pool = int(orders.buyer.max()) + 1
    grown = Orders(
        sku=np.r_[orders.sku, orders.sku[rows]],
        region=np.r_[orders.region, orders.region[rows]],
        day=np.r_[orders.day, orders.day[rows]],
        created=np.r_[orders.created, created],
        quantity=np.r_[orders.quantity, orders.quantity[rows]],
        is_unpaid=np.r_[orders.is_unpaid, np.zeros(len(rows), dtype=bool)],
        merchant=np.r_[orders.merchant, orders.merchant[rows]],
        channel=np.r_[orders.channel, orders.channel[rows]],
        payment=np.r_[orders.payment, orders.payment[rows]],
        buyer=np.r_[orders.buyer, pool + rng.integers(0, max(pool, 1000), len(rows))],
    )
    return grown, np.r_[coupon, np.concatenate(extra_coupon)]


def payment_channels(orders: Orders, rng) -> np.ndarray:
    """Payment method -> gateway channel (some card payers pay in USDT)."""
    by_method = {
        "alipay": "alipay",
        "wechat_pay": "wxpay",
        "qq_wallet": "qqpay",
        "unionpay": "unionpay",
        "balance": "balance",
    }
    lookup = np.array([PAYMENT_CHANNELS.index(by_method[m]) for m in PAYMENT_METHODS])
    channel = lookup[orders.payment]
    usdt = (channel == PAYMENT_CHANNELS.index("unionpay")) & (
        rng.random(len(orders)) < USDT_SHARE_OF_UNIONPAY
    )
    return np.where(usdt, PAYMENT_CHANNELS.index("usdt"), channel).astype(np.int8)


def _round_share(cents: np.ndarray, share: np.ndarray) -> np.ndarray:
    """cents x share rounded half up to whole cents, exactly as integers."""
    return np.floor(cents * share + 0.5 + 1e-9).astype(np.int64)


def order_money(orders: Orders, extras_in: dict, unit_cents: np.ndarray, coupons: Coupons,
                agents: Agents) -> OrderExtras:  # fmt: skip
    """Discount, paid amount, fee and commission per order, in cents."""
    gross = unit_cents.astype(np.int64) * orders.quantity
    coupon, agent, channel = extras_in["coupon"], extras_in["agent"], extras_in["channel"]
    pct = np.where(coupon >= 0, coupons.discount_pct[np.maximum(coupon, 0)], 0) / 100.0
    discount = _round_share(gross, pct) if len(coupons) else np.zeros(len(orders), np.int64)
    paid = gross - discount
    fee_rate = np.array([FEE_RATE[c] for c in PAYMENT_CHANNELS])[channel]
    fee = np.where(orders.is_unpaid, 0, _round_share(paid, fee_rate))
    commission_pct = (
        np.where(agent >= 0, agents.commission_pct[np.maximum(agent, 0)], 0.0) / 100.0
        if len(agents)
        else np.zeros(len(orders))
    )
    commission = _round_share(paid, commission_pct)
    return OrderExtras(
        coupon=coupon,
        agent=agent,
        channel=channel,
        gross_cents=gross,
        discount_cents=discount,
        fee_cents=fee,
        commission_cents=commission,
        batch=extras_in["batch"],
    )


@dataclass(frozen=True)
class Batches:
    sku: np.ndarray  # catalogue index
    day: np.ndarray
    keys: np.ndarray

    def __len__(self) -> int:
        return len(self.sku)


def card_batches(stock_received: np.ndarray, key_skus: np.ndarray) -> Batches:
    """One batch per card-key SKU per day keys were received, by SKU then day."""
    k, d = np.nonzero(stock_received)
    return Batches(sku=key_skus[k], day=d, keys=stock_received[k, d])


def batch_of_orders(
    orders: Orders,
    batches: Batches,
    opening: np.ndarray,
    shelf_life_days: np.ndarray,
    export_end: int,
) -> np.ndarray:
    """Per order: the batch its keys were delivered from (-1: none), oldest keys first.

    Per SKU, the delivered orders in delivery order draw from the opening stock (no batch),
    then the batches in arrival order. A lot is skipped once expired (the stock simulation
    sells a lot through the end of day received + shelf life - 1) or when it holds fewer keys
    than the order needs (one order, one batch: the few keys left are never sold), and never
    drawn before the day it arrives. So a batch never delivers more keys than it holds, and a
    batch is drawn only after every earlier one. ``opening`` is per catalogue SKU."""
    out = np.full(len(orders), -1, dtype=np.int64)
    delivered = (orders.terminal_status == DELIVERED) & (orders.terminal <= export_end)
    if not len(batches):
        return out
    by_sku = np.lexsort((batches.day, batches.sku))
    candidates = np.flatnonzero(delivered & np.isin(orders.sku, batches.sku))
    candidates = candidates[np.lexsort((orders.terminal[candidates], orders.sku[candidates]))]
    starts = np.searchsorted(orders.sku[candidates], np.unique(batches.sku))
    for first, sku in zip(starts, np.unique(batches.sku), strict=True):
        shelf = int(shelf_life_days[sku])
        shelf = shelf if 0 < shelf < MAX_SHELF_BUCKETS else 0
        mine = by_sku[batches.sku[by_sku] == sku]
        # (batch index or -1, first day usable, last day usable, keys)
        lots = [(-1, 0, shelf - 1 if shelf > 0 else 1 << 40, int(opening[sku]))]
        lots += [
            (int(b), int(batches.day[b]), int(batches.day[b]) + shelf - 1 if shelf > 0
             else 1 << 40, int(batches.keys[b]))
            for b in mine
        ]  # fmt: skip
        current, left = 0, lots[0][3]
        for i in candidates[first:]:
            if orders.sku[i] != sku:
                break
            day, need = int(orders.day[i]), int(orders.quantity[i])
            while (
                current < len(lots)
                and lots[current][1] <= day
                and (lots[current][2] < day or left < need)
            ):
                current += 1
                left = lots[current][3] if current < len(lots) else 0
            if current >= len(lots) or lots[current][1] > day:
                continue
            left -= need
            out[i] = lots[current][0]
    return out


def payment_attempts(orders: Orders, extras: OrderExtras, export_end: int, rng):
    """Payment attempts: (order index, attempt number, status, created, callback).

    status: 0 success, 1 failed, 2 refunded. A paid order has geometric failed attempts
    before its successful one; 40% of never-paid orders have one failed attempt."""
    failure = np.array([FAILURE_RATE[c] for c in PAYMENT_CHANNELS])[extras.channel]
    paid = (orders.paid != NEVER) & (orders.paid <= export_end)
    failures = np.where(paid, rng.geometric(1 - failure) - 1, 0)
    failures = np.where(~paid & orders.is_unpaid & (rng.random(len(orders)) < 0.4), 1, failures)
    failures = np.minimum(failures, 5)
    attempts = failures + paid
    index = np.repeat(np.arange(len(orders)), attempts)
    first = np.repeat(np.cumsum(attempts) - attempts, attempts)
    number = np.arange(len(index)) - first
    is_success = paid[index] & (number == attempts[index] - 1)
    refunded = orders.refund[index] <= export_end
    status = np.where(is_success, np.where(refunded, 2, 0), 1).astype(np.int8)
    anchor = np.where(paid[index], orders.paid[index], orders.created[index] + 60)
    before = attempts[index] - 1 - number  # 0 for the last attempt
    created = anchor - 3 - before * 90
    callback = np.where(
        is_success, anchor, np.where(rng.random(len(index)) < 0.7, created + 5, NEVER)
    )
    callback = np.minimum(callback, np.where(callback == NEVER, NEVER, export_end))
    return index, number, status, created, callback


def contacts(buyer: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """A buyer's contact (QQ mail, phone or QQ number) and IP, the same every time."""
    mixed = (buyer.astype(np.int64) * 2_654_435_761 + 12_345) % 4_294_967_291
    kind = mixed % 3
    qq = pa.array((10_000_000 + mixed % 900_000_000).astype(np.int64)).cast(pa.string())
    phone = pa.array((13_000_000_000 + mixed % 999_999_999).astype(np.int64)).cast(pa.string())
    mail = pc.binary_join_element_wise(qq, "@qq.com", "")
    contact = pc.if_else(pa.array(kind == 0), mail, pc.if_else(pa.array(kind == 1), phone, qq))
    parts = [
        pa.array(((mixed >> shift) % 223 + 1).astype(np.int64)).cast(pa.string())
        for shift in (0, 8, 16, 24)
    ]
    ip = pc.binary_join_element_wise(*parts, ".")
    return contact, ip
