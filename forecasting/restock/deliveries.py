"""How late each supplier really delivers, read from the daily inventory snapshots.

The contract's inventory snapshots carry ``on_order`` per SKU and day but no purchase orders,
so batches are read from its movements: a rise is a batch ordered that day, a fall is keys
arriving, matched first in, first out. ``lead_days`` = arrival day - order day; the delay is
that minus the supplier's nominal lead time (``ceil(lead_time_hours / 24)``), floored at 0.
An order and an arrival of the same SKU on the same day net out and are not seen; a batch
still open at the end is not counted.

The late cover of the restock policy is a quantile of those delays (95 % by default): stock
for the delay that only one batch in twenty exceeds. A supplier with too few batches seen
gets ``None``, and the policy's default applies.
"""

from __future__ import annotations

import math
from collections import deque

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
    quantile: float = 0.95,
    min_batches: int = 20,
) -> pd.DataFrame:
    """Per supplier: batches seen, share late, the delay at ``quantile`` and the late cover.

    ``nominal_lead_days`` maps supplier_id to its nominal lead time in days. The late cover is
    the delay quantile rounded up to whole days, or None below ``min_batches`` batches.
    """
    columns = ["supplier_id", "batches", "late_share", "delay_quantile", "late_cover_days"]
    if batches.empty:
        return pd.DataFrame(columns=columns)
    nominal = batches["supplier_id"].map(nominal_lead_days)
    known = batches.assign(delay=(batches["lead_days"] - nominal).clip(lower=0))
    known = known[nominal.notna()]
    out = []
    for supplier_id, rows in known.groupby("supplier_id", sort=True):
        delay = rows["delay"].to_numpy(dtype=float)
        at_quantile = float(np.quantile(delay, quantile, method="inverted_cdf"))
        enough = len(delay) >= min_batches
        out.append(
            {
                "supplier_id": supplier_id,
                "batches": len(delay),
                "late_share": float((delay > 0).mean()),
                "delay_quantile": at_quantile,
                "late_cover_days": math.ceil(at_quantile) if enough else None,
            }
        )
    return pd.DataFrame(out, columns=columns)
