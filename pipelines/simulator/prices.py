"""List prices, supplier costs, regional price differences and promotions over time.

Prices move for reasons unrelated to demand, so that the true elasticity can be recovered
from the data: list prices and costs change every few months, some provinces sit a few
percent above or below the national price, and promotions (most not on festivals) cut the
price for a few days, nationally or in a handful of provinces. Top-ups never list above
face value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.simulator.catalogue import HEAVY_SELLER, Catalogue
from pipelines.simulator.provinces import PROVINCES
from pipelines.simulator.simulated_calendar import Calendar

TOPUP_CATEGORIES = ("mobile_topup", "data_topup")
FESTIVAL_MONTH_DAYS = ((6, 18), (11, 11), (12, 12))


@dataclass(frozen=True)
class Promotion:
    sku_index: int
    start: int  # day index, inclusive
    end: int  # day index, inclusive
    discount: float  # fraction off the list price
    regions: tuple[int, ...]  # empty = national


@dataclass(frozen=True)
class PriceBook:
    list_cents: np.ndarray  # [sku, region, day] regular price
    unit_cents: np.ndarray  # [sku, region, day] price charged (after promotions)
    cost_cents: np.ndarray  # [sku, day] supplier cost
    reference_price: np.ndarray  # [sku] national list price at launch, in CNY
    promotions: tuple[Promotion, ...]
    # price_changes rows: sku index, region index (-1 = every region), day, list, cost
    change_sku: np.ndarray
    change_region: np.ndarray
    change_day: np.ndarray
    change_list_cents: np.ndarray
    change_cost_cents: np.ndarray


def _change_days(rng, first: int, last: int, gap: tuple[int, int]) -> list[int]:
    days, day = [], first + int(rng.integers(*gap))
    while day < last:
        days.append(day)
        day += int(rng.integers(*gap))
    return days


def _national_paths(cat: Catalogue, cal: Calendar, rng) -> tuple[np.ndarray, np.ndarray, list]:
    """1. Start at face x launch ratio; 2. step the list price every 2-7 months by ~3.5%
    and the cost every 1.5-6 months by ~1.5%; 3. keep top-ups at or under face value."""
    n_sku, hist = len(cat), cal.history_days
    list_cents = np.zeros((n_sku, cal.n_days), dtype=np.int64)
    cost_cents = np.zeros((n_sku, cal.n_days), dtype=np.int64)
    change_days = []
    for s in range(n_sku):
        face_cents = round(cat.face_value[s] * 100)
        list_price = cat.face_value[s] * cat.price_ratio[s]
        cost = list_price * cat.cost_ratio[s]
        first = int(cat.launch_day[s])
        last = min(int(cat.end_day[s]), hist)
        list_days = _change_days(rng, first, last, (60, 200))
        cost_days = _change_days(rng, first, last, (45, 180))
        days = sorted({first, *list_days, *cost_days})
        is_topup = cat.category[s] in TOPUP_CATEGORIES
        face = float(cat.face_value[s])
        for day in days:
            if day in list_days:
                list_price *= float(np.exp(rng.normal(0.0, 0.01 if is_topup else 0.035)))
            if day in cost_days:
                cost *= float(np.exp(rng.normal(0.0, 0.006 if is_topup else 0.015)))
            if is_topup:
                # Phone credit lists at 97-100% of face and costs 95.5-98%.
                list_price = min(max(list_price, 0.97 * face), face)
                cost = min(max(cost, 0.955 * face), 0.98 * face)
            # The list price never drops under cost (promotions may: they are subsidised).
            list_price = max(list_price, cost * 1.01)
            lc = min(round(list_price * 100), face_cents) if is_topup else round(list_price * 100)
            cc = round(cost * 100)
            list_cents[s, day:] = lc
            cost_cents[s, day:] = cc
        # Before launch the row is never used; fill it so prices stay positive everywhere.
        list_cents[s, :first] = list_cents[s, first]
        cost_cents[s, :first] = cost_cents[s, first]
        change_days.append(days)
    # The future keeps the last known regular prices.
    list_cents[:, hist:] = list_cents[:, hist - 1 : hist]
    cost_cents[:, hist:] = cost_cents[:, hist - 1 : hist]
    return list_cents, cost_cents, change_days


def _regional_multipliers(cat: Catalogue, rng) -> np.ndarray:
    """About 40% of SKUs are priced 1-4% off the national price in 3-8 provinces."""
    mult = np.ones((len(cat), len(PROVINCES)))
    for s in range(len(cat)):
        if rng.random() < 0.4:
            provinces = rng.choice(len(PROVINCES), size=int(rng.integers(3, 9)), replace=False)
            steps = rng.choice([-4, -3, -2, -1, 1, 2, 3, 4], size=len(provinces))
            mult[s, provinces] = 1.0 + steps / 100.0
    return mult


def _promotions(cat: Catalogue, cal: Calendar, rng) -> list[Promotion]:
    """About one promotion per SKU every six weeks (every 25 days for the heavy seller, the
    platform's traffic driver), 3-10 days long: top-ups 3-8% off ("话费95折", subsidised),
    everything else 5-15% off; 30% placed on a festival, 40% regional."""
    hist = cal.history_days
    festival_days = [
        i
        for i in range(hist)
        if (int(str(cal.days[i])[5:7]), int(cal.day_of_month[i])) in FESTIVAL_MONTH_DAYS
    ]
    promos = []
    for s in range(len(cat)):
        first, last = int(cat.launch_day[s]), min(int(cat.end_day[s]), hist) - 1
        if last - first < 20:
            continue
        every = 25 if cat.sku_id[s] == HEAVY_SELLER else 45
        for _ in range(int(rng.poisson((last - first) / every))):
            length = int(rng.integers(3, 11))
            if rng.random() < 0.3 and festival_days:
                start = int(rng.choice(festival_days)) - int(rng.integers(0, length))
            else:
                start = int(rng.integers(first, last))
            start, end = max(start, first), min(start + length - 1, last)
            if end < start:  # a festival after the SKU's last day on sale
                continue
            if cat.category[s] in TOPUP_CATEGORIES:
                discount = round(float(rng.uniform(0.03, 0.08)) * 200) / 200
            else:
                discount = round(float(rng.uniform(0.05, 0.15)), 2)
            regions = ()
            if rng.random() < 0.4:
                regions = tuple(
                    sorted(
                        int(r)
                        for r in rng.choice(
                            len(PROVINCES), size=int(rng.integers(2, 7)), replace=False
                        )
                    )
                )
            promos.append(Promotion(s, start, end, discount, regions))
    return promos


def build_price_book(cat: Catalogue, cal: Calendar, rng) -> PriceBook:
    """1. National list and cost paths; 2. regional multipliers; 3. promotions; 4. the price
    charged per SKU x province x day; 5. the price_changes rows an export would carry."""
    nat_list, cost_cents, change_days = _national_paths(cat, cal, rng)
    mult = _regional_multipliers(cat, rng)
    list_cents = np.rint(nat_list[:, None, :] * mult[:, :, None]).astype(np.int64)
    face_cents = np.rint(cat.face_value * 100).astype(np.int64)
    is_topup = np.isin(cat.category, TOPUP_CATEGORIES)
    list_cents[is_topup] = np.minimum(list_cents[is_topup], face_cents[is_topup, None, None])

    promos = _promotions(cat, cal, rng)
    discount = np.zeros(list_cents.shape, dtype=np.float64)
    for p in promos:
        window = slice(p.start, p.end + 1)
        regions = list(p.regions) if p.regions else slice(None)
        discount[p.sku_index, regions, window] = np.maximum(
            discount[p.sku_index, regions, window], p.discount
        )
    unit_cents = np.rint(list_cents * (1.0 - discount)).astype(np.int64)

    rows_sku, rows_region, rows_day, rows_list, rows_cost = [], [], [], [], []
    regional = [np.flatnonzero(mult[s] != 1.0) for s in range(len(cat))]
    for s, days in enumerate(change_days):
        for day in days:
            for region in (-1, *regional[s]):
                rows_sku.append(s)
                rows_region.append(region)
                rows_day.append(day)
                price_row = nat_list[s, day] if region < 0 else list_cents[s, region, day]
                rows_list.append(price_row)
                rows_cost.append(cost_cents[s, day])
    first = cat.launch_day
    reference = nat_list[np.arange(len(cat)), first] / 100.0
    return PriceBook(
        list_cents=list_cents,
        unit_cents=unit_cents,
        cost_cents=cost_cents,
        reference_price=reference,
        promotions=tuple(promos),
        change_sku=np.array(rows_sku, dtype=np.int64),
        change_region=np.array(rows_region, dtype=np.int64),
        change_day=np.array(rows_day, dtype=np.int64),
        change_list_cents=np.array(rows_list, dtype=np.int64),
        change_cost_cents=np.array(rows_cost, dtype=np.int64),
    )
