"""Card-key restock maths: safety stock, reorder point, order quantity, cover and deadlines.

A periodic review policy, reviewed every day: an order placed today arrives after the lead
time, and the next chance to order is tomorrow, so today's stock (on hand + on order) must
protect ``lead days + 1`` days. Its parts, for one SKU:

- ``safety_stock = z(service level) * sigma`` of demand over the protection days, with the
  daily sigma read from the forecast interval (see ``demand_paths.py``), plus the late cover: the
  keys that batches overdue at once take away, sized from the supplier's learnt delays and
  how often the SKU is reordered (``late_cover``), else the expected demand of
  ``late_buffer_days`` more days;
- ``reorder_point = expected demand over the protection days + safety_stock``;
- when the position falls below the reorder point, order up to the reorder point plus
  ``cycle_days`` of expected demand; round up to whole batches and at least the MOQ;
- never more than the forecast can sell before the new keys expire (``shelf_life_days`` from
  arrival, after the stock already held is sold first); if that cap is below the MOQ, order
  nothing and say so.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from cardpulse.settings import DEFAULT_RESTOCK
from forecasting.restock.deliveries import overdue_cover_keys
from forecasting.restock.demand_paths import DemandPath

DEFAULT_SERVICE_LEVELS = DEFAULT_RESTOCK.service_levels  # [restock] in cardpulse.toml
# How far ahead cover and stock-out dates are looked for; beyond it "covers more than a year".
MAX_COVER_DAYS = 366
# A supplier with no lead time on file is taken to deliver within a day.
DEFAULT_LEAD_TIME_HOURS = 24.0


@dataclass(frozen=True)
class RestockPolicy:
    """The knobs of the card-key policy; every one has a business meaning."""

    service_levels: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SERVICE_LEVELS))
    # ABC by gross margin: A holds the SKUs making the first 80% of margin, B the next 15%.
    abc_cutoffs: tuple[float, float] = (0.80, 0.95)
    margin_lookback_days: int = DEFAULT_RESTOCK.margin_lookback_days
    review_days: int = 1
    # Days of demand an order adds on top of the reorder point: fewer means less stock, more
    # POs. 0 orders what the reorder point needs, in whole batches, nearly every day for a fast
    # seller: small frequent batches also mean one late batch leaves a small hole.
    cycle_days: int = DEFAULT_RESTOCK.cycle_days
    expiring_window_days: int = 7
    # Forecast errors of neighbouring days may move together (a level the model misjudged, a
    # promotion it missed): 1.0 makes sigma over P days the sum of the daily sigmas, 0 treats
    # days as independent. With the late cover below, 0 held the least stock for its fill.
    error_correlation: float = 0.0
    # Suppliers deliver late now and then (the simulated platform: a quarter of the orders, by
    # 1-6 days; 5 days is its 95th percentile), and a late batch is lost sales that no
    # forecast can prevent. The reorder point holds the expected demand of this many days
    # beyond the nominal lead time; the order deadline and the expiry cap still use the
    # nominal lead time (the day a batch arrives when on time). The plan learns it per
    # supplier from the deliveries seen (``deliveries.py``); this is the fallback, tuned on
    # the replay's seed 11 with cycle_days and error_correlation (docs/restock.md).
    late_buffer_days: int = DEFAULT_RESTOCK.late_buffer_days
    # The supplier's delays as learnt (share of batches late by 0, 1, 2, ... days; see
    # ``deliveries.delay_pmf``). When known, the late cover is the keys that the batches
    # overdue at once can take away, at ``late_in_stock`` (at most 1 - late_in_stock of days
    # left short of keys by late batches): a SKU reordered daily holds for the few batches
    # overdue together, one reordered monthly for its one batch's delay
    # (``deliveries.overdue_cover_keys``). 0.998: the least that filled as well as the naive
    # rule on both the replay's seeds 11 and 7 (docs/restock.md).
    late_delay_pmf: tuple[float, ...] | None = None
    late_in_stock: float = DEFAULT_RESTOCK.late_in_stock

    def service_level(self, abc_class: str) -> float:
        return float(self.service_levels.get(abc_class, min(self.service_levels.values())))


@dataclass(frozen=True)
class SupplierTerms:
    """What a supplier allows: lead time, minimum order quantity (per SKU line), batch size."""

    lead_time_hours: float | None = None
    min_order_qty: int | None = None
    batch_size: int | None = None

    @property
    def lead_days(self) -> int:
        hours = self.lead_time_hours
        if hours is None or (isinstance(hours, float) and math.isnan(hours)):
            hours = DEFAULT_LEAD_TIME_HOURS
        return max(0, math.ceil(float(hours) / 24.0))

    @property
    def batch(self) -> int:
        return _positive_int(self.batch_size)

    @property
    def moq(self) -> int:
        return _positive_int(self.min_order_qty)

    @property
    def smallest_order(self) -> int:
        """The MOQ rounded up to whole batches: the least one can actually order."""
        return math.ceil(self.moq / self.batch) * self.batch


def _positive_int(value) -> int:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return 1
    return max(1, int(value))


@dataclass(frozen=True)
class KeyStock:
    """Keys held for one SKU at the start of the planning day."""

    on_hand: int
    on_order: int = 0
    expiring_7d: int = 0


@dataclass(frozen=True)
class CardKeyDecision:
    """Everything the plan says about one SKU, before it is put into words."""

    lead_days: int
    service_level: float
    wasted_expiring: int
    position: float
    daily_demand: float
    days_of_cover: float | None
    stockout_day: int | None
    order_by_day: int | None
    safety_stock: float
    reorder_point: float
    order_up_to: float
    order_qty: int
    expiry_cap: int | None
    capped_by_expiry: bool
    blocked_by_expiry: bool
    raised_to_moq: bool
    late_cover_days: int = 0
    late_cover_keys: float = 0.0

    @property
    def stockout_before_delivery(self) -> bool:
        return self.stockout_day is not None and self.stockout_day < self.lead_days


def z_score(service_level: float) -> float:
    """The one-sided normal quantile of a service level (0.95 -> 1.645)."""
    return NormalDist().inv_cdf(min(max(service_level, 0.5), 0.9999))


def cover(position: float, demand: DemandPath) -> tuple[float | None, int | None]:
    """1. Walk the expected demand day by day, 2. the fractional days ``position`` lasts and
    the day (0 = today) on which it runs out; ``(None, None)`` if it lasts past a year."""
    if position <= 0:
        return 0.0, 0
    mean = demand.extended(MAX_COVER_DAYS).mean
    cumulative = np.cumsum(mean)
    day = int(np.searchsorted(cumulative, position, side="right"))
    if day >= len(mean):
        return None, None
    before = float(cumulative[day - 1]) if day > 0 else 0.0
    return day + (position - before) / float(mean[day]), day


def decide_card_key_order(
    stock: KeyStock,
    demand: DemandPath,
    terms: SupplierTerms,
    service_level: float,
    shelf_life_days: int | None = None,
    active: bool = True,
    policy: RestockPolicy | None = None,
    largest_recent_day: float | None = None,
) -> CardKeyDecision:
    """One SKU's restock decision.

    1. Keys expiring within 7 days that the forecast cannot sell first are not counted;
    2. position = usable on hand + on order; cover and stock-out day from expected demand;
    3. safety stock over lead + review days, plus the late cover; reorder point;
    4. below the reorder point: order up to reorder point + cycle demand, whole batches, MOQ;
    5. cap at what sells before expiry; below the MOQ after the cap means no order;
    6. inactive SKUs never order.
    """
    policy = policy or RestockPolicy()
    lead = terms.lead_days
    protection = lead + policy.review_days
    late_keys, late_days = late_cover(policy, terms, demand, protection)
    wasted = max(
        0, int(stock.expiring_7d) - math.floor(demand.total(0, policy.expiring_window_days))
    )
    wasted = min(wasted, max(0, int(stock.on_hand)))
    position = float(max(0, int(stock.on_hand) - wasted) + max(0, int(stock.on_order)))

    days_of_cover, stockout_day = cover(position, demand)
    order_by_day = None if stockout_day is None else max(0, stockout_day - lead)

    sigma = demand.sigma_over(0, protection, policy.error_correlation)
    safety_stock = z_score(service_level) * sigma
    if largest_recent_day is not None and not pd.isna(largest_recent_day):
        # Card keys sell in lumps (one buyer takes 50): hold at least enough to live through
        # a day like the largest of the last weeks, which a normal error band understates.
        safety_stock = max(safety_stock, float(largest_recent_day) - demand.total(0, 1))
    # Late batches: the days after they were due run on what is held.
    safety_stock += late_keys
    reorder_point = demand.total(0, protection) + safety_stock
    order_up_to = reorder_point + demand.total(
        protection + late_days, protection + late_days + policy.cycle_days
    )

    quantity = 0
    raised_to_moq = False
    if active and position < reorder_point:
        batches = math.ceil(max(0.0, order_up_to - position) / terms.batch - 1e-9)
        quantity = batches * terms.batch
        if quantity < terms.smallest_order:
            quantity, raised_to_moq = terms.smallest_order, True

    expiry_cap = None
    capped = blocked = False
    if shelf_life_days is not None and not pd.isna(shelf_life_days) and int(shelf_life_days) > 0:
        # New keys arrive on day ``lead`` and sell until they expire; what is held sells first.
        sellable = demand.total(0, lead + int(shelf_life_days)) - position
        expiry_cap = math.floor(max(0.0, sellable) / terms.batch) * terms.batch
        if quantity > expiry_cap:
            capped = True
            if expiry_cap < terms.smallest_order:
                quantity, blocked, raised_to_moq = 0, True, False
            else:
                quantity = expiry_cap
                raised_to_moq = False

    return CardKeyDecision(
        lead_days=lead,
        service_level=service_level,
        wasted_expiring=wasted,
        position=position,
        daily_demand=demand.total(0, 7) / 7.0,
        days_of_cover=days_of_cover,
        stockout_day=stockout_day,
        order_by_day=order_by_day,
        safety_stock=safety_stock,
        reorder_point=reorder_point,
        order_up_to=order_up_to,
        order_qty=int(quantity),
        expiry_cap=expiry_cap,
        capped_by_expiry=capped,
        blocked_by_expiry=blocked,
        raised_to_moq=raised_to_moq,
        late_cover_days=late_days,
        late_cover_keys=late_keys,
    )


def late_cover(
    policy: RestockPolicy, terms: SupplierTerms, demand: DemandPath, protection: int
) -> tuple[float, int]:
    """Keys held for late batches on top of the normal band, and about how many days of
    demand they are.

    With the supplier's learnt delays: ``deliveries.overdue_cover_keys`` for how often this
    SKU is reordered (its smallest order in days of demand, at least one day and
    ``cycle_days``) and the mean and spread of a day's demand over the protection days.
    Else the expected demand of the policy's fixed ``late_buffer_days`` after them.
    """
    fixed = max(0, int(policy.late_buffer_days))
    days = max(1, protection)
    daily = demand.total(0, days) / days
    if daily <= 0:  # nothing sells: nothing to hold (an inactive SKU, no forecast)
        return 0.0, 0
    if policy.late_delay_pmf is None:
        return demand.total(protection, protection + fixed), fixed
    cycle = min(MAX_COVER_DAYS, max(1, policy.cycle_days, round(terms.smallest_order / daily)))
    spread = float(np.sqrt(np.mean(np.square(demand.extended(days).sigma[:days]))))
    # Rounded so that the cache in overdue_cover_keys serves the days of a replay.
    keys = overdue_cover_keys(
        tuple(policy.late_delay_pmf), cycle, policy.late_in_stock, round(daily, 2),
        round(spread, 2),
    )  # fmt: skip
    return keys, round(keys / daily)


def abc_classes(gross_margin: pd.Series, cutoffs: tuple[float, float] = (0.80, 0.95)) -> pd.Series:
    """ABC class per SKU from its gross margin (index = sku_id).

    1. Rank by margin, largest first; 2. a SKU is A while the margin ranked before it is under
    the first cutoff of the total, B under the second, else C; 3. no positive margin is C.
    """
    margin = gross_margin.astype(float).fillna(0.0).clip(lower=0.0)
    classes = pd.Series("C", index=gross_margin.index, dtype=object)
    total = margin.sum()
    if total <= 0:
        return classes
    ranked = margin.sort_values(ascending=False, kind="mergesort")
    share_before = (ranked.cumsum() - ranked) / total
    positive = ranked > 0
    classes.loc[ranked.index[positive & (share_before < cutoffs[1])]] = "B"
    classes.loc[ranked.index[positive & (share_before < cutoffs[0])]] = "A"
    return classes


def plan_day(as_of: dt.date, day: int | None) -> dt.date | None:
    return None if day is None else as_of + dt.timedelta(days=int(day))
