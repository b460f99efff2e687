"""The overview's first draw for someone who has just signed in, queried side by side.

The overview runs its queries one after another, each waiting for the last. Right after a
password is accepted (issue #15: sign-in to the drawn overview <= 2 s) the same queries, with
the overview's default filters and the new session's own scope, start in background threads:
DuckDB runs them in parallel and releases the GIL meanwhile, so by the time the overview's
script asks for each one (through ``queries.load``, the same ``st.cache_data`` keys) it is
cached or being computed (Streamlit makes the page wait for a computation in progress rather
than start a second one).

The scope is the one the page itself will use (``access.scope_for`` on the session), so a
prefetch can only fill cache entries the signed-in person may read anyway. It starts only
after the password was verified: a wrong password or an unknown name costs no query, and its
timing does not depend on the name. A failure here is only logged: the page runs the query
again and reports it as it always does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date

import pandas as pd

from dashboard import periods
from dashboard.data.access import Scope
from dashboard.data.overview import Filters
from dashboard.data.queries import load
from dashboard.data.snapshot import SnapshotRef

log = logging.getLogger("cardpulse.prefetch")
# The overview's comparison when nobody has picked one (its segmented control's default).
DEFAULT_COMPARE = "previous"


def default_filters(first_day: date, last_day: date) -> Filters:
    """The overview's filters before anyone touches a widget: the last 30 days, nothing else."""
    start, end = periods.preset_range(periods.DEFAULT_PRESET, first_day, last_day) or (
        first_day,
        last_day,
    )
    return Filters(start, end)


def overview(snapshot: SnapshotRef, scope: Scope) -> list[threading.Thread]:
    """Start the overview's queries for ``scope`` in background threads; returns them.

    1. ``build_info`` and ``filter_options`` at once, 2. once the dates are known, the
    headline numbers, daily sales, top SKUs, provinces and channels side by side, and the
    forecast followed by the events up to its horizon (the trend needs both).
    """
    if snapshot.version is None or scope.agent_id:  # an agent's users have no overview
        return []
    return [
        _start(lambda: load("build_info", snapshot, scope)),
        _start(lambda: _after_options(snapshot, scope)),
    ]


def _after_options(snapshot: SnapshotRef, scope: Scope) -> None:
    options = load("filter_options", snapshot, scope)
    if options.get("min_date") is None:
        return
    filters = default_filters(options["min_date"], options["max_date"])
    threads = [
        _start(lambda name=name: load(name, snapshot, scope, filters))
        for name in ("daily_sales", "top_skus", "provinces", "channels")
    ]
    threads.append(_start(lambda: load("kpis", snapshot, scope, filters, DEFAULT_COMPARE)))
    predicted = load("forecast", snapshot, scope, filters)
    horizon_end = pd.Timestamp(predicted["ds"].max()).date() if not predicted.empty else filters.end
    load("events", snapshot, scope, filters.start, horizon_end, (), ())
    for thread in threads:
        thread.join()


def _start(query: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=_quietly, args=(query,), name="cardpulse-prefetch")
    thread.daemon = True
    thread.start()
    return thread


def _quietly(query: Callable[[], object]) -> None:
    try:
        query()
    except Exception as error:  # noqa: BLE001 - the page runs it again and says what failed
        log.info("overview prefetch failed: %s", (str(error) or repr(error)).splitlines()[0])
