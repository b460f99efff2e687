"""Fire once, re-arm: today's signals against the state the last build left.

A signal (kind x subject) found today and open yesterday stays open with its first_seen;
found today and not open yesterday fires (is_new, first_seen = today); open yesterday and
not found today is listed once as resolved, and fires again if it comes back.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from pipelines.risk.signals import SIGNAL_SCHEMA

# ops.risk_state: each signal with its state, declared once with its SQL types.
STATE_SCHEMA = {
    **SIGNAL_SCHEMA, "first_seen": "DATE", "status": "VARCHAR", "is_new": "BOOLEAN",
    "as_of": "DATE",
}  # fmt: skip
STATE_COLUMNS = list(STATE_SCHEMA)


def advance_signals(
    previous: pd.DataFrame, found: pd.DataFrame, as_of: dt.date, budget: int
) -> pd.DataFrame:
    """1. Keep the ``budget`` highest-scoring signals found; 2. carry first_seen for those
    open before, fire the rest; 3. add the ones open before and gone now as resolved."""
    kept = found.sort_values(["score", "signal_id"], ascending=[False, True]).head(budget).copy()
    was_open = previous[previous["status"] == "open"].set_index("signal_id")["first_seen"]
    carried = kept["signal_id"].map(was_open)
    kept["is_new"] = carried.isna()
    kept["first_seen"] = [as_of if pd.isna(v) else pd.Timestamp(v).date() for v in carried]
    kept["status"] = "open"
    gone = previous[(previous["status"] == "open") & ~previous["signal_id"].isin(kept["signal_id"])]
    gone = gone.assign(status="resolved", is_new=False)
    parts = [f for f in (kept, gone[kept.columns.intersection(gone.columns)]) if not f.empty]
    out = pd.concat(parts, ignore_index=True) if parts else kept
    out["as_of"] = as_of
    return out.reindex(columns=STATE_COLUMNS)
