"""Low-stock alerts that fire once and re-arm after a restock.

The complaint about 发卡 systems: an alert per sale once stock is low, or one fixed threshold
for every SKU. Here each SKU has two states and its own threshold (its reorder point):

    armed --(position < reorder point)--> fired      emits one "fired" alert
    fired --(position rose and >= reorder point)--> armed   emits "rearmed"

"Position rose" is what tells a restock (keys received or ordered) apart from the reorder point
merely drifting down as the forecast changes, so a wobbling threshold cannot re-fire alerts.
A SKU seen for the first time starts armed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from forecasting.restock.output_schema import ALERT_STATE_SCHEMA

ARMED = "armed"
FIRED = "fired"
REARMED = "rearmed"

STATE_COLUMNS = list(ALERT_STATE_SCHEMA)


@dataclass(frozen=True)
class AlertState:
    state: str
    position: float
    reorder_point: float


def step_alert(
    previous: AlertState | None, position: float, reorder_point: float
) -> tuple[AlertState, str | None]:
    """One SKU, one build: 1. armed and below the reorder point -> fire; 2. fired, restocked
    (position up since last build) and back at or above it -> re-arm; 3. else stay."""
    state = ARMED if previous is None else previous.state
    if state == ARMED:
        if position < reorder_point:
            return AlertState(FIRED, position, reorder_point), FIRED
        return AlertState(ARMED, position, reorder_point), None
    restocked = previous is not None and position > previous.position
    if restocked and position >= reorder_point:
        return AlertState(ARMED, position, reorder_point), REARMED
    return AlertState(FIRED, position, reorder_point), None


def advance_alerts(previous: pd.DataFrame, plan: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Every watched SKU's state after this build, with the event it emitted (or None).

    ``previous``: the last state per SKU (``STATE_COLUMNS``); ``plan``: the restock plan.
    Only active SKUs with stock and a forecast are watched; the others keep their last state
    untouched (an inactive SKU never alerts, and a SKU that comes back resumes where it was).
    """
    last = {
        row.sku_id: AlertState(row.state, float(row.position), float(row.reorder_point))
        for row in previous.itertuples(index=False)
    }
    watched = plan[
        plan["is_active"].astype(bool)
        & plan["has_forecast"].astype(bool)
        & plan["usable_position"].notna()
    ]
    rows = []
    for row in watched.itertuples(index=False):
        state, event = step_alert(
            last.get(row.sku_id), float(row.usable_position), float(row.reorder_point)
        )
        rows.append((row.sku_id, as_of, state.state, state.position, state.reorder_point, event))
    return pd.DataFrame(rows, columns=STATE_COLUMNS)
