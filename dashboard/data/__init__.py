"""Every query the dashboard runs, against the published snapshot opened read-only.

One module per concern; a page imports the modules it uses:

- ``access``: roles, ``Scope`` (whose numbers a query may return) and the SQL that applies it,
  merchant lookups for binding users.
- ``snapshot``: the read-only connection to the published snapshot (a handle per file
  version) and the helpers every query uses on it (``read_frame``, ``has_tables``, ...).
- ``queries``: the named queries of every page and ``load``, which runs one through
  ``st.cache_data`` keyed by the snapshot version, the scope and the arguments.
- one query module per page: ``overview``, ``operations``, ``pricing``, ``health``, ``profit``,
  ``risk``.
- ``exports``: CSV and XLSX downloads.

Rules these modules keep so that pages cannot get them wrong:

- The merchant scope comes from the signed-in user (``Scope``), never from a widget, and is
  applied inside the SQL through ``dim_merchant_hierarchy``; widget filters can only narrow it.
- Every value is a bound parameter. The only text put into SQL is table and column names from
  fixed lists.
- Platform-wide tables (restock, funding, pricing, data health, risk) refuse a merchant scope.
- A missing snapshot or a table that is not built yet gives an empty frame, never an error.

The names below are re-exported so ``from dashboard import data`` keeps offering the whole
public surface (the CLI, the benches and the tests use it that way).
"""

from dashboard.data.access import (
    APPROVER_ROLES,
    PLATFORM_ROLES,
    ROLES,
    PlatformOnly,
    Scope,
    first_merchant,
    merchant_exists,
    scope_for,
)
from dashboard.data.exports import XLSX_DECIMAL, XLSX_INTEGER, XLSX_MONEY, to_csv, to_xlsx
from dashboard.data.health import (
    FRESHNESS_COLUMNS,
    backtest_accuracy,
    build_info,
    built_tables,
    dbt_results,
    freshness,
    inferred_members,
    notify_messages,
    notify_summary,
    quarantine_rows,
    quarantine_summary,
)
from dashboard.data.operations import (
    funding,
    low_stock_alerts,
    purchase_orders,
    restock,
    supplier_performance,
)
from dashboard.data.overview import (
    Filters,
    channels,
    daily_sales,
    events,
    filter_options,
    forecast,
    kpis,
    provinces,
    shown_sales,
    top_skus,
)
from dashboard.data.pricing import (
    HORIZON_DAYS,
    WHAT_IF_FIGURES,
    PriceLimits,
    baseline_units,
    price_limits,
    recommendations,
    what_if,
)
from dashboard.data.queries import QUERIES, QUERY_TTL_SECONDS, load
from dashboard.data.snapshot import TRAILING_DAYS, SnapshotRef, connect, snapshot_ref, tables

__all__ = [
    "APPROVER_ROLES",
    "FRESHNESS_COLUMNS",
    "HORIZON_DAYS",
    "PLATFORM_ROLES",
    "QUERIES",
    "QUERY_TTL_SECONDS",
    "ROLES",
    "TRAILING_DAYS",
    "WHAT_IF_FIGURES",
    "XLSX_DECIMAL",
    "XLSX_INTEGER",
    "XLSX_MONEY",
    "Filters",
    "PlatformOnly",
    "PriceLimits",
    "Scope",
    "SnapshotRef",
    "backtest_accuracy",
    "baseline_units",
    "build_info",
    "built_tables",
    "channels",
    "connect",
    "daily_sales",
    "dbt_results",
    "events",
    "filter_options",
    "first_merchant",
    "forecast",
    "freshness",
    "funding",
    "inferred_members",
    "kpis",
    "load",
    "low_stock_alerts",
    "merchant_exists",
    "notify_messages",
    "notify_summary",
    "price_limits",
    "provinces",
    "purchase_orders",
    "quarantine_rows",
    "quarantine_summary",
    "recommendations",
    "restock",
    "scope_for",
    "shown_sales",
    "snapshot_ref",
    "supplier_performance",
    "tables",
    "to_csv",
    "to_xlsx",
    "top_skus",
    "what_if",
]
