"""How late each supplier really delivers, read from the daily inventory snapshots.

The contract's inventory snapshots carry ``on_order`` per SKU and day but no purchase orders,
so batches are read from its movements: a rise is a batch ordered that day, a fall is keys
arriving, matched first in, first out. ``lead_days`` = arrival day - order day; the delay is
that minus the supplier's nominal lead time (``ceil(lead_time_hours / 24)``), floored at 0.
An order and an arrival of the same SKU on the same day net out and are not seen; a batch
still open at the end is not counted.

Per supplier, the delays give ``delay_pmf`` (the share of batches late by 0, 1, 2, ...
days), from which the restock policy sizes each SKU's late cover (``overdue_cover_keys``). A
supplier with too few batches seen gets ``None``, and the policy's fixed default applies.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from statistics import NormalDist

import numpy as np
import pandas as pd

BATCH_COLUMNS = ["sku_id", "supplier_id", "ordered_on", "arrived_on", "keys", "lead_days"]


def observed_batches(inventory: pd.DataFrame) -> pd.DataFrame:
    """Batches seen in daily snapshots (sku_id, supplier_id, inventory_date, on_order).

    1. Per SKU in date order: the change of ``on_order`` from the previous snapshot;
    2. a rise opens a batch; a fall closes open batches oldest first (a partial fall leaves
       the rest open); 3. a closed batch gives its lead time in days.
    """
    rows = []
    frame = inventory.dropna(subset=["on_order"]).sort_values(["sku_id", "inventory_date"])
    for sku_id, snapshots in frame.groupby("sku_id", sort=True):
        open_batches: deque[list] = deque()  # [ordered_on, supplier_id, keys, keys left]
        previous = 0
        for day, supplier_id, on_order in snapshots[
            ["inventory_date", "supplier_id", "on_order"]
        ].itertuples(index=False):
            day = pd.Timestamp(day)
            change = int(on_order) - previous
            previous = int(on_order)
            if change > 0:
                open_batches.append([day, supplier_id, change, change])
            arrived = -change
            while arrived > 0 and open_batches:
                batch = open_batches[0]
                taken = min(arrived, batch[3])
                batch[3] -= taken
                arrived -= taken
                if batch[3] == 0:
                    open_batches.popleft()
                    rows.append((sku_id, batch[1], batch[0], day, batch[2], (day - batch[0]).days))
    return pd.DataFrame(rows, columns=BATCH_COLUMNS)


def supplier_delays(
    batches: pd.DataFrame,
    nominal_lead_days: pd.Series,
    min_batches: int = 20,
) -> pd.DataFrame:
    """Per supplier: batches seen, share late and the delay distribution (``delay_pmf``).

    ``nominal_lead_days`` maps supplier_id to its nominal lead time in days. Below
    ``min_batches`` batches, ``delay_pmf`` is None.
    """
    columns = ["supplier_id", "batches", "late_share", "delay_pmf"]
    if batches.empty:
        return pd.DataFrame(columns=columns)
    nominal = batches["supplier_id"].map(nominal_lead_days)
    known = batches.assign(delay=(batches["lead_days"] - nominal).clip(lower=0))
    known = known[nominal.notna()]
    out = []
    for supplier_id, rows in known.groupby("supplier_id", sort=True):
        delay = rows["delay"].to_numpy(dtype=float)
        out.append(
            {
                "supplier_id": supplier_id,
                "batches": len(delay),
                "late_share": float((delay > 0).mean()),
                "delay_pmf": delay_pmf(delay) if len(delay) >= min_batches else None,
            }
        )
    return pd.DataFrame(out, columns=columns)


def delay_pmf(delays: np.ndarray) -> tuple[float, ...]:
    """The share of batches late by 0, 1, 2, ... whole days."""
    days = np.clip(np.ceil(np.asarray(delays, dtype=float)), 0, None).astype(int)
    if days.size == 0:
        return (1.0,)
    return tuple(float(v) for v in np.bincount(days) / days.size)


def missing_days(pmf: tuple[float, ...], cycle_days: int) -> list[tuple[float, int]]:
    """How short of keys late batches leave the shelf, as ``(probability, days of demand)``.

    Batches are due every ``cycle_days`` days, each late independently by a delay with
    distribution ``pmf``. On day ``j`` of a cycle, the batch due ``k`` cycles ago is still
    missing with probability ``P(delay > k * cycle + j)``; ``n`` missing batches are
    ``n * cycle`` days of demand, of which what is left of the latest batch's own cycle
    (``cycle - 1 - j`` days) is absorbed. Days of the cycle are equally likely; only the
    cases that leave the shelf short are listed.
    """
    cycle = max(1, int(cycle_days))
    late = np.clip(1.0 - np.cumsum(np.asarray(pmf, dtype=float)), 0.0, 1.0)[:-1]
    cases = []
    for j in range(cycle):
        count = np.array([1.0])  # distribution of the number of batches missing on day j
        for p in late[j::cycle]:
            count = np.convolve(count, [1.0 - p, p])
        for n in range(1, len(count)):
            days = n * cycle - (cycle - 1 - j)
            if days > 0 and count[n] > 0:
                cases.append((float(count[n]) / cycle, days))
    return cases


@functools.lru_cache(maxsize=65536)
def overdue_cover_keys(
    pmf: tuple[float, ...],
    cycle_days: int,
    in_stock: float,
    daily: float,
    daily_sigma: float = 0.0,
) -> float:
    """Keys to hold for late batches, so that late batches leave a day short of keys with
    probability at most ``1 - in_stock``.

    ``missing_days`` gives how many days of demand are missing and how often; a day's demand
    has mean ``daily`` and standard deviation ``daily_sigma`` (the batch that replaced a busy
    day is bigger than the one that replaced a quiet one), so ``d`` days missing are normal
    with mean ``d * daily`` and variance ``d * daily_sigma^2``. The cover is the smallest with
    ``sum P(case) * P(missing keys > cover) <= 1 - in_stock`` (bisection). A daily reorder
    holds for the few batches overdue at once, not the longest delay; a SKU ordered every
    few weeks holds for the delay of its one batch in flight.
    """
    cases = missing_days(pmf, cycle_days)
    if daily <= 0 or not cases:
        return 0.0
    normal = NormalDist()
    budget = 1.0 - in_stock + 1e-12  # a target met exactly is met

    def short(cover: float) -> float:
        total = 0.0
        for probability, days in cases:
            spread = daily_sigma * math.sqrt(days)
            if spread > 0:
                total += probability * (1.0 - normal.cdf((cover - days * daily) / spread))
            elif cover < days * daily:
                total += probability
        return total

    if short(0.0) <= budget:
        return 0.0
    longest = max(days for _, days in cases)
    low, high = 0.0, longest * daily + 8.0 * daily_sigma * math.sqrt(longest)
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (low, middle) if short(middle) <= budget else (middle, high)
    return high
